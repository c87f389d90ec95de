"""Overhead of telemetry and logging per call, on the echo provider (no network, no SDK).

    .venv/bin/python benchmarks/bench_telemetry.py [--calls 3000] [--repeat 5]

Rows (best of ``--repeat`` interleaved rounds, CPU microseconds per call / per whole stream):

- ``off``: ``Router(telemetry=False)``; the baseline;
- ``default, no SDK``: ``Router()`` with OpenTelemetry installed but no provider configured by the
  application (the global no-op providers): what most users pay without asking;
- ``SDK``: a real ``TracerProvider`` (SimpleSpanProcessor, exporter that drops) and
  ``MeterProvider`` (in-memory reader) passed to the router: spans and metrics really recorded;
- ``SDK + content``: the same with message content captured;
- ``INFO log``: telemetry off, the ``cencori_core`` logger at INFO to a handler that drops.

Also measured in fresh interpreters: the OpenTelemetry import, ``Router()`` construction with
telemetry on (default) and off, and the first call (which imports OpenTelemetry when on).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from cencori_core import Router

MESSAGES = [{"role": "user", "content": "Tell me something about the weather today, please."}]


def _sdk() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    # Simple (synchronous) processor: the export call is paid inside the measured loop.
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(Drop()))
    return tp, MeterProvider(metric_readers=[InMemoryMetricReader()])


# CPU time of this process, not wall time: the echo provider does no I/O, and CPU time is not
# inflated when other processes share the cores.
_clock = time.process_time


def _time(fn: Callable[[], Any], calls: int) -> float:
    t0 = _clock()
    for _ in range(calls):
        fn()
    return (_clock() - t0) / calls * 1e6


def _drivers(router: Router, calls: int) -> dict[str, Callable[[], float]]:
    def chat() -> None:
        router.chat(model="echo/echo", messages=MESSAGES)

    def stream() -> None:
        with router.chat_stream(model="echo/echo", messages=MESSAGES) as s:
            for _ in s:
                pass

    async def achat_loop() -> float:
        t0 = _clock()
        for _ in range(calls):
            await router.achat(model="echo/echo", messages=MESSAGES)
        return (_clock() - t0) / calls * 1e6

    return {"chat": lambda: _time(chat, calls), "achat": lambda: asyncio.run(achat_loop()),
            "stream": lambda: _time(stream, calls // 2)}


def _rows(calls: int, repeat: int) -> list[tuple[str, dict[str, float]]]:
    """Best µs per call of each configuration; configurations interleaved in every round so a
    noisy neighbour slows them all alike."""
    logger = logging.getLogger("cencori_core")
    tp, mp = _sdk()
    configs: list[tuple[str, dict[str, Any], bool]] = [
        ("off", {"telemetry": False}, False),
        ("default, no SDK", {}, False),
        ("SDK", {"tracer_provider": tp, "meter_provider": mp}, False),
        ("SDK + content", {"tracer_provider": tp, "meter_provider": mp,
                           "telemetry_capture_content": True}, False),
        ("INFO log", {"telemetry": False}, True),
    ]
    drop = logging.NullHandler()
    routers = [Router(load_entrypoints=False, **kw) for _, kw, _ in configs]
    best: list[dict[str, float]] = [{} for _ in configs]
    for round_ in range(repeat + 1):  # round 0 warms up (pricing data, lazy imports)
        for i, (_, _, info) in enumerate(configs):
            if info:
                logger.addHandler(drop)
                logger.setLevel(logging.INFO)
            try:
                for kind, run in _drivers(routers[i], calls if round_ else 50).items():
                    us = run()
                    if round_:
                        best[i][kind] = min(best[i].get(kind, float("inf")), us)
            finally:
                if info:
                    logger.removeHandler(drop)
                    logger.setLevel(logging.NOTSET)
    for r in routers:
        r.close()
    tp.shutdown()
    mp.shutdown()
    return [(name, b) for (name, _, _), b in zip(configs, best, strict=True)]


_STARTUP = """
import time
t0 = time.perf_counter()
from cencori_core import Router
t1 = time.perf_counter()
r = Router(load_entrypoints=False{kw})
t2 = time.perf_counter()
r.chat(model="echo/echo", messages=[{{"role": "user", "content": "x"}}])
t3 = time.perf_counter()
r.chat(model="echo/echo", messages=[{{"role": "user", "content": "x"}}])
t4 = time.perf_counter()
print((t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3)
"""

_OTEL_IMPORT = """
import time
t0 = time.perf_counter()
import opentelemetry.trace, opentelemetry.metrics
print((time.perf_counter() - t0) * 1e3)
"""


def _fresh(code: str, runs: int) -> list[float]:
    """Median of each printed number over ``runs`` fresh interpreters (milliseconds)."""
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        samples.append([float(x) for x in out])
    return [sorted(col)[len(col) // 2] for col in zip(*samples, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fresh", type=int, default=5, help="fresh interpreters per startup row")
    args = parser.parse_args()

    rows = _rows(args.calls, args.repeat)
    base = rows[0][1]
    kinds = ("chat", "achat", "stream")
    print(f"{'configuration':<18}" + "".join(f"{k + ' µs':>11}" for k in kinds)
          + "".join(f"{'Δ ' + k:>11}" for k in kinds))
    for name, b in rows:
        print(f"{name:<18}" + "".join(f"{b[k]:>11.1f}" for k in kinds)
              + "".join(f"{b[k] - base[k]:>+11.1f}" for k in kinds))

    (otel_import,) = _fresh(_OTEL_IMPORT, args.fresh)
    print(f"\nimport opentelemetry.trace + .metrics: {otel_import:.1f} ms")
    print(f"{'startup (ms, median)':<22}{'Router()':>10}{'1st call':>10}{'2nd call':>10}")
    for name, kw in (("telemetry=False", ", telemetry=False"), ("telemetry=None", "")):
        build, first, second = _fresh(_STARTUP.format(kw=kw), args.fresh)
        print(f"{name:<22}{build:>10.2f}{first:>10.2f}{second:>10.2f}")


if __name__ == "__main__":
    main()
