"""cencori-core benchmarks: one command, one run, medians with spread.

    python benchmarks/run.py            # everything
    python benchmarks/run.py --quick    # fewer iterations

Prints a table and writes benchmarks/RESULTS.md. Sections:
1. import time of ``cencori_core`` (fresh processes) and proof that no provider SDK is loaded;
2. pipeline overhead per call on the offline ``echo`` provider, sync and async, with 0 and 5
   no-op policies (median microseconds per call);
3. per-provider benchmarks against the raw SDKs on the same in-memory transport, for every
   ``bench_*.py`` module in this folder that exposes ``run(quick) -> dict``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SDKS = ["openai", "anthropic", "google.genai", "mistralai", "cohere"]
MSG = [{"role": "user", "content": "Hello, how are you today?"}]


def machine() -> str:
    import importlib.metadata as md

    def ver(d: str) -> str:
        try:
            return md.version(d)
        except md.PackageNotFoundError:
            return "-"

    pkgs = ", ".join(f"{d} {ver(d)}" for d in ("cencori-core", "pluggy", "openai", "anthropic",
                                                 "google-genai", "httpx"))
    return (f"{platform.platform()} · Python {platform.python_version()} · "
            f"{os.cpu_count()} cores · {pkgs}")


def spread(samples: list[float]) -> str:
    qs = statistics.quantiles(samples, n=10) if len(samples) >= 10 else [min(samples),
                                                                         max(samples)]
    return f"p10 {qs[0]:.1f} · p90 {qs[-1]:.1f}"


# ------------------------------------------------------------------ 1. import


def bench_import(runs: int) -> dict[str, Any]:
    code = ("import time, sys; t = time.perf_counter(); import cencori_core; "
            "a = time.perf_counter() - t; from cencori_core import Router; "
            "b = time.perf_counter() - t; r = Router(); c = time.perf_counter() - t; "
            f"bad = sorted(set({SDKS!r}) & set(sys.modules)); "
            "print(a * 1000, b * 1000, c * 1000, ','.join(bad) or '-')")
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        rows.append(out)
    imp = [float(r[0]) for r in rows]
    full = [float(r[1]) for r in rows]
    router = [float(r[2]) for r in rows]
    sdks = {r[3] for r in rows}
    return {"import_ms": statistics.median(imp), "import_spread": spread(imp),
            "import_router_ms": statistics.median(full), "router_spread": spread(full),
            "build_router_ms": statistics.median(router),
            "build_spread": spread(router),
            "sdks_loaded": ",".join(sorted(sdks))}


# ------------------------------------------------------------------ 2. pipeline overhead


def _noop_policies(n: int) -> list[Any]:
    from cencori_core import hookimpl

    class NoOp:
        @hookimpl
        def cencori_pre_request(self, context: Any) -> None:
            return None

        @hookimpl
        def cencori_post_response(self, context: Any) -> None:
            return None

    return [NoOp() for _ in range(n)]


def _median_us(fn: Any, n: int, repeat: int) -> tuple[float, list[float]]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(samples), samples


def bench_pipeline(quick: bool) -> dict[str, Any]:
    from cencori_core import Router

    n, repeat = (500, 15) if quick else (2000, 31)
    out: dict[str, Any] = {}
    for policies in (0, 5):
        router = Router(load_entrypoints=False, policies=_noop_policies(policies))
        for _ in range(200):
            router.chat(model="echo", messages=MSG)
        med, s = _median_us(lambda: router.chat(model="echo", messages=MSG), n, repeat)
        out[f"sync_{policies}"] = (med, spread(s))

        async def many(router: Any = router) -> None:
            for _ in range(n):
                await router.achat(model="echo", messages=MSG)

        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            asyncio.run(many())
            samples.append((time.perf_counter() - t) / n * 1e6)
        out[f"async_{policies}"] = (statistics.median(samples), spread(samples))

        def stream_one(router: Any = router) -> None:
            with router.chat_stream(model="echo", messages=MSG) as s:
                for _ in s:
                    pass

        med, s = _median_us(stream_one, n // 2, repeat)
        out[f"stream_{policies}"] = (med, spread(s))
    return out


# ------------------------------------------------------------------ 3. providers


def provider_benches(quick: bool, only: list[str] | None) -> dict[str, Any]:
    results = {}
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem[len("bench_"):]
        if only and name not in only:
            continue
        mod = importlib.import_module(path.stem)
        run = getattr(mod, "run", None)
        if run is None:
            continue
        try:
            results[name] = run(quick=quick)
        except Exception as exc:  # noqa: BLE001 - one broken bench must not hide the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", help="provider bench names (openai, anthropic, ...)")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args()

    lines = ["# cencori-core benchmark results", "", f"Machine: {machine()}", "",
             f"Run: `python benchmarks/run.py{' --quick' if args.quick else ''}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    imp = bench_import(5 if args.quick else 15)
    lines += ["## Import (fresh process, median of runs)", "",
              "| what | median ms | spread |", "|---|---|---|",
              f"| `import cencori_core` | {imp['import_ms']:.1f} | {imp['import_spread']} |",
              f"| `+ from cencori_core import Router` | {imp['import_router_ms']:.1f} | "
              f"{imp['router_spread']} |",
              f"| `+ Router()` (entry points scanned) | {imp['build_router_ms']:.1f} | "
              f"{imp['build_spread']} |", "",
              f"Provider SDKs in sys.modules after `Router()`: {imp['sdks_loaded']}", ""]
    pipe = bench_pipeline(args.quick)
    lines += ["## Pipeline overhead on the echo provider (median µs per call)", "",
              "| path | 0 policies | 5 no-op policies |", "|---|---|---|"]
    for path in ("sync", "async", "stream"):
        a, b = pipe[f"{path}_0"], pipe[f"{path}_5"]
        label = {"sync": "router.chat", "async": "await router.achat",
                 "stream": "router.chat_stream (4 chunks, whole stream)"}[path]
        lines.append(f"| {label} | {a[0]:.1f} ({a[1]}) | {b[0]:.1f} ({b[1]}) |")
    lines.append("")
    provs = provider_benches(args.quick, args.only)
    for name, res in provs.items():
        lines += [f"## {name}", ""]
        table = res.get("markdown") if isinstance(res, dict) else None
        if table:
            lines += [table, ""]
        else:
            lines += ["```", json.dumps(res, indent=2, default=str), "```", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (HERE / "RESULTS.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
