"""Shared measuring tools of the benchmarks: CPU clock, alternating batches, robust summaries.

The machine is shared (2 cores, other processes running), so every comparison here:

- times **CPU time of this process** (``time.process_time``): the transports are in memory, a
  call is pure CPU work, and other processes inflate CPU time far less than wall time;
- runs the sides in **alternating batches** (the side that goes first rotates every round), so
  drift and a neighbour's load hit every side alike, and every ratio comes from one run;
- reports the **mean of the fastest fifth** of the batches (the least disturbed ones) next to the
  **median** and the **p10-p90 spread**. A raw-vs-raw (A/A) row in the OpenAI benchmark shows
  the noise floor of the method.

This module imports nothing heavy; benchmark modules import it as ``from _harness import ...``
(``benchmarks/`` is on ``sys.path`` when they run).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from time import process_time
from typing import Any

__all__ = ["clock", "Stat", "stat", "alternate", "alternate_async", "throughput", "fresh",
           "versions", "machine", "ratio_row"]

clock = process_time


@dataclass(frozen=True, slots=True)
class Stat:
    """Summary of batch samples (each the per-call figure of one batch)."""

    best: float
    """Mean of the fastest fifth of the batches (the highest fifth for throughputs)."""
    median: float
    p10: float
    p90: float
    n: int

    def spread(self, digits: int = 1) -> str:
        return f"{self.p10:.{digits}f}–{self.p90:.{digits}f}"


def stat(samples: Sequence[float], *, high: bool = False) -> Stat:
    """Summary of ``samples``; ``high=True`` when larger is better (throughput)."""
    ordered = sorted(samples, reverse=high)
    k = max(1, len(ordered) // 5)
    if len(samples) >= 10:
        q = statistics.quantiles(samples, n=10)
        p10, p90 = q[0], q[-1]
    else:
        p10, p90 = min(samples), max(samples)
    return Stat(best=statistics.fmean(ordered[:k]), median=statistics.median(samples), p10=p10,
                p90=p90, n=len(samples))


def alternate(sides: Mapping[str, Callable[[], Any]], n: int, rounds: int, *,
              per: float = 1.0, warmup: int = 0,
              timer: Callable[[], float] = clock) -> dict[str, list[float]]:
    """µs per call of each side, in batches of ``n`` calls, sides alternating in a rotating order
    (``per`` divides each figure further: chunks per stream). ``warmup`` calls of each side
    first (lazy clients, caches, price lookups). ``timer``: CPU time unless the work waits on
    another process (a Redis server), where wall time is the cost."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    out: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            fn = sides[name]
            t = timer()
            for _ in range(n):
                fn()
            out[name].append((timer() - t) / n / per * 1e6)
    return out


async def throughput(call: Callable[[], Awaitable[Any]], calls: int, concurrency: int) -> float:
    """Calls per CPU-second of ``calls`` calls made by ``concurrency`` workers."""
    per_worker = calls // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            await call()

    t = clock()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return per_worker * concurrency / (clock() - t)


def alternate_async(sides: Mapping[str, Callable[[], Awaitable[Any]]], calls: int,
                    concurrency: int, rounds: int, *, warmup: int = 50) -> dict[str, list[float]]:
    """Throughput samples (calls per CPU-second) of each side, alternating like
    :func:`alternate`; one event loop for the whole run."""
    names = list(sides)

    async def main() -> dict[str, list[float]]:
        for _ in range(warmup):
            for name in names:
                await sides[name]()
        out: dict[str, list[float]] = {name: [] for name in names}
        for i in range(rounds):
            k = i % len(names)
            for name in names[k:] + names[:k]:
                out[name].append(await throughput(sides[name], calls, concurrency))
        return out

    return asyncio.run(main())


def fresh(code: str, runs: int, *, python: str | None = None,
          env: Mapping[str, str] | None = None) -> list[list[float]]:
    """Run ``code`` in ``runs`` fresh interpreters; each run prints numbers on its last line.
    Returns one list of numbers per run."""
    out = []
    for _ in range(runs):
        proc = subprocess.run([python or sys.executable, "-c", code], capture_output=True,
                              text=True, env={**os.environ, **(env or {})})
        if proc.returncode != 0:
            raise RuntimeError(f"fresh process failed: {proc.stderr.strip()[-500:]}")
        out.append([float(x) for x in proc.stdout.strip().splitlines()[-1].split()])
    return out


def versions(dists: Sequence[str], python: str | None = None) -> dict[str, str]:
    """Installed versions of ``dists`` (in another interpreter when ``python`` is given)."""
    code = ("import importlib.metadata as m, json, sys\n"
            "def v(d):\n"
            "    try:\n        return m.version(d)\n"
            "    except m.PackageNotFoundError:\n        return None\n"
            f"print(json.dumps({{d: v(d) for d in {list(dists)!r}}}))")
    proc = subprocess.run([python or sys.executable, "-c", code], capture_output=True,
                          text=True, check=True)
    return {k: v for k, v in json.loads(proc.stdout).items() if v}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{platform.platform()} · {cpu} · {os.cpu_count()} cores (shared) · "
            f"Python {platform.python_version()}")


def ratio_row(label: str, base: Stat, other: Stat, target: str, digits: int = 1,
              *, high: bool = False) -> str:
    """A markdown row: base and other (best, median and spread) and their ratio."""
    r = other.best / base.best
    return (f"| {label} | {base.best:.{digits}f} (median {base.median:.{digits}f}, "
            f"{base.spread(digits)}) | {other.best:.{digits}f} (median {other.median:.{digits}f},"
            f" {other.spread(digits)}) | {r:.3f} | {target} |")
