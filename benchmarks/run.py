"""cencori-core benchmarks: one command, one run, medians with spread, ratios side by side.

    python benchmarks/run.py            # everything (about 10 minutes on 2 shared cores)
    python benchmarks/run.py --quick    # fewer rounds
    python benchmarks/run.py --only openai peers memory   # some sections

Prints a table and writes ``benchmarks/RESULTS.md``. Sections:

1. **import**: fresh-process wall time and peak memory of ``import cencori_core``, ``Router()``,
   the first call to each provider (when its SDK is imported), against ``import openai`` /
   ``anthropic`` and the peers' imports;
2. **summary**: router/raw-SDK ratios (chat, stream per chunk, async throughput) for OpenAI and
   Anthropic next to the peers' ratios against the same raw SDK on the same transport;
3. per-provider tables (``bench_openai``, ``bench_anthropic``, ``bench_google``), the echo
   pipeline (the core alone), policies, accounting;
4. **memory**: RSS before and after 10,000 calls, and the ledger's count of usage records.

The peers (``benchmarks/requirements.txt``) pin SDK versions that conflict with ours, so they
live in their own virtualenv: ``$CENCORI_BENCH_PEERS_PYTHON``, else ``/work/bench-venv``; without
one their rows are left out. Timing method: :mod:`_harness`.
"""

from __future__ import annotations

import argparse
import gc
import http.server
import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _canned import COMPLETION  # noqa: E402
from _harness import Stat, alternate, fresh, machine, stat, versions  # noqa: E402

SDKS = ["openai", "anthropic", "google.genai", "mistralai", "cohere"]
MSG = [{"role": "user", "content": "Hello, how are you today?"}]
PEERS_PYTHON = os.environ.get("CENCORI_BENCH_PEERS_PYTHON", "/work/bench-venv/bin/python")
OUR_DISTS = ("cencori-core", "pluggy", "openai", "anthropic", "google-genai", "mistralai",
             "cohere", "httpx", "httpx2", "pydantic", "genai-prices")


def _fmt(s: Stat, digits: int = 1) -> str:
    return f"{s.median:.{digits}f} ({s.spread(digits)})"


# ------------------------------------------------------------------ 1. import


class _Loopback:
    """A 127.0.0.1 server answering OpenAI chat completions and Anthropic messages with canned
    bodies, for first calls made in fresh processes (which must import nothing beforehand)."""

    def __init__(self) -> None:
        from bench_anthropic import MESSAGE as ANTHROPIC_MESSAGE

        bodies = {"/v1/chat/completions": COMPLETION, "/v1/messages": ANTHROPIC_MESSAGE}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("content-length") or 0))
                body = bodies.get(self.path.split("?")[0], b"{}")
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# VmHWM, not ru_maxrss: the latter keeps the high-water mark of the forked copy of this
# (large) process from before exec.
_PEAK = ("_peak = [int(x.split()[1]) / 1024 for x in open('/proc/self/status') "
         "if x.startswith('VmHWM')][0]\n")
_T0 = "import time as _t; _t0 = _t.perf_counter()\n"
_ROUTER = ("from cencori_core import Router\n"
           "r = Router(providers={{{providers}}})\n")


def _import_cases(url: str) -> list[tuple[str, str]]:
    def first(name: str, what: str, call: str) -> str:
        providers = {
            "openai": f"'openai': {{'api_key': 'sk-bench-0000', 'base_url': '{url}/v1'}}",
            "anthropic": f"'anthropic': {{'api_key': 'sk-ant-bench', 'base_url': '{url}'}}",
            "google": "'google': {'api_key': 'AIza-bench'}",
            "mistral": "'mistral': {'api_key': 'bench'}",
            "cohere": "'cohere': {'api_key': 'bench'}",
        }[name]
        return (_ROUTER.format(providers=providers) + "_t1 = _t.perf_counter()\n" + call
                + f"\n_ms = (_t.perf_counter() - _t1) * 1000  # {what}\n")

    return [
        ("`python -c pass` (the interpreter alone)", "_ms = 0.0\n"),
        ("`import cencori_core`", "import cencori_core\n_ms = (_t.perf_counter() - _t0) * 1000\n"),
        ("`import cencori_core` + `Router()` (entry points scanned)",
         "from cencori_core import Router\nr = Router()\n"
         "_ms = (_t.perf_counter() - _t0) * 1000\n"
         "import sys\nassert not set(sys.modules) & set(" + repr(SDKS) + "), 'SDK imported'\n"),
        ("first `router.chat` to openai (imports the SDK; loopback server)",
         first("openai", "first call", "r.chat(model='gpt-4o-mini', messages=" + repr(MSG)
               + ")")),
        ("first `router.chat` to anthropic (imports the SDK; loopback server)",
         first("anthropic", "first call", "r.chat(model='claude-haiku-4-5', max_tokens=64, "
               "messages=" + repr(MSG) + ")")),
        ("first use of google (provider built, its SDK imported)",
         first("google", "build", "r.provider('google')")),
        ("first use of mistral (provider built, its SDK imported)",
         first("mistral", "build", "r.provider('mistral')")),
        ("first use of cohere (provider built, its SDK imported)",
         first("cohere", "build", "r.provider('cohere')")),
        ("`import openai`", "import openai\n_ms = (_t.perf_counter() - _t0) * 1000\n"),
        ("`import anthropic`", "import anthropic\n_ms = (_t.perf_counter() - _t0) * 1000\n"),
    ]


def bench_import(runs: int) -> list[str]:
    lb = _Loopback()
    rows = ["| what | wall ms, median (p10–p90) | peak RSS MB, median |", "|---|---|---|"]
    try:
        for label, body in _import_cases(lb.url):
            code = _T0 + body + _PEAK + "print(_ms, _peak)"
            samples = fresh(code, runs, env={"CENCORI_PLUGINS": ""} if "Router()" in label
                            else None)
            ms = stat([s[0] for s in samples])
            peak = stat([s[1] for s in samples])
            rows.append(f"| {label} | {_fmt(ms)} | {peak.median:.1f} |")
    finally:
        lb.close()
    return rows


# ------------------------------------------------------------------ the core alone


def bench_pipeline(quick: bool) -> list[str]:
    """µs per call on the offline ``echo`` provider: what the pipeline costs by itself."""
    import asyncio

    from cencori_core import Router

    rounds = 15 if quick else 41

    async def many(router: Any, n: int) -> None:
        for _ in range(n):
            await router.achat(model="echo", messages=MSG)

    def stream_one(router: Any) -> None:
        with router.chat_stream(model="echo", messages=MSG) as s:
            for _ in s:
                pass

    rows = ["| path | µs per call, best fifth | median (p10–p90) |", "|---|---|---|"]
    router = Router(load_entrypoints=False)
    res = alternate({
        "router.chat": lambda: router.chat(model="echo", messages=MSG),
        "await router.achat (one loop, sequential)": lambda: asyncio.run(many(router, 200)),
        "router.chat_stream (4 chunks, whole stream)": lambda: stream_one(router),
    }, 200, rounds, warmup=200)
    for label, samples in res.items():
        if label.startswith("await"):
            samples = [x / 200 for x in samples]
        s = stat(samples)
        rows.append(f"| {label} | {s.best:.1f} | {_fmt(s)} |")
    router.close()
    return rows


# ------------------------------------------------------------------ memory


def bench_memory(calls: int = 10_000) -> list[str]:
    """RSS before and after ``calls`` router calls on the OpenAI mock transport, and the
    ledger's count of usage records (exactly one per call)."""
    from bench_openai import make_router

    from cencori_core.policies import default_policies

    def rss_mb() -> float:
        gc.collect()
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    rows = ["| router | RSS after 1,000 warm-up calls, MB | after 10,000 more, MB | growth MB |"
            " usage records in the ledger |", "|---|---|---|---|---|"]
    for label, kw in (("default", {}), ("default policies", {"policies": default_policies()})):
        router = make_router(**kw)
        for _ in range(1000):
            router.chat(model="gpt-4o-mini", messages=MSG)
        before = rss_mb()
        for _ in range(calls):
            router.chat(model="gpt-4o-mini", messages=MSG)
        after = rss_mb()
        records = sum(row.calls for row in router.usage.summary(by="model"))
        rows.append(f"| {label} | {before:.1f} | {after:.1f} | {after - before:+.1f} | "
                    f"{records - 1000:,} of {calls:,} (plus the 1,000 warm-up) |")
        router.close()
    return rows


# ------------------------------------------------------------------ peers


def run_peers(quick: bool, imports: int) -> dict[str, Any] | None:
    if not os.path.exists(PEERS_PYTHON):
        return None
    cmd = [PEERS_PYTHON, str(HERE / "peers.py"), "--imports", str(imports)]
    if quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-1000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def peer_rows(peers: dict[str, Any] | None, imports: bool) -> tuple[list[str], list[str]]:
    """(import rows, ratio rows) for the peers."""
    if not peers or "error" in peers:
        why = (peers or {}).get("error", f"no peers interpreter at {PEERS_PYTHON}")
        return [], [f"| peers | not measured: {why[:200]} | | | |"]
    vers = peers.get("versions", {})
    imp_rows = []
    for mod, res in peers.get("import", {}).items():
        ms, peak = stat(res["ms"]), stat(res["peak_mb"])
        dist = {"any_llm": "any-llm-sdk"}.get(mod, mod)
        imp_rows.append(f"| `import {mod}` ({dist} {vers.get(dist, '?')}, peers' virtualenv) | "
                        f"{_fmt(ms)} | {peak.median:.1f} |")
    rows = []
    for name, res in peers.get("peers", {}).items():
        dist = {"any_llm": "any-llm-sdk"}.get(name, name)
        if "error" in res:
            rows.append(f"| {dist} | error: {res['error'][:150]} | | | |")
            continue
        cells = []
        for kind, unit in (("chat", "µs"), ("stream", "µs"), ("async", "calls/s")):
            r = res.get(kind)
            cells.append(f"{r['peer']['best'] / r['raw']['best']:.3f} ({r['peer']['best']:.1f} "
                         f"{unit} vs {r['raw']['best']:.1f})" if r else "-")
        rows.append(f"| {dist} {vers.get(dist, '')} (vs openai {vers.get('openai', '?')} in "
                    f"its virtualenv) | {cells[0]} | {cells[1]} | {cells[2]} | "
                    f"{'no: returns the SDK objects' if name == 'aisuite' else 'yes'} |")
    return imp_rows, rows


# ------------------------------------------------------------------ main


def provider_bench(name: str, quick: bool) -> dict[str, Any]:
    mod = importlib.import_module(f"bench_{name}")
    try:
        return mod.run(quick=quick)  # type: ignore[no-any-return]
    except Exception as exc:  # noqa: BLE001 - one broken bench must not hide the others
        return {"error": f"{type(exc).__name__}: {exc}"}


SECTIONS = ("import", "openai", "anthropic", "google", "peers", "pipeline", "policies",
            "accounting", "memory")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", choices=SECTIONS, help="sections to run")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args()
    only = set(args.only or SECTIONS)
    quick = args.quick
    started = time.time()

    ours = versions(OUR_DISTS)
    lines = ["# cencori-core benchmark results", "",
             f"Machine: {machine()}", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in ours.items()), "",
             f"Run: `python benchmarks/run.py{' --quick' if quick else ''}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Times are CPU time of the "
             "process unless marked wall; each figure is the mean of the fastest fifth of "
             "alternating batches, with the median and p10–p90 spread (see "
             "`benchmarks/_harness.py`).", ""]

    peers = run_peers(quick, 3 if quick else 7) if "peers" in only else None
    imp_peers, peer_ratio_rows = peer_rows(peers, "import" in only)
    if "import" in only:
        lines += ["## 1. Import and first use (fresh processes, wall time)", ""]
        lines += bench_import(5 if quick else 11) + imp_peers + [""]

    results: dict[str, dict[str, Any]] = {}
    for name in ("openai", "anthropic", "google"):
        if name in only:
            results[name] = provider_bench(name, quick)

    summary = ["| | chat per call | stream per chunk | async throughput | normalizes |",
               "|---|---|---|---|---|"]
    for name in ("openai", "anthropic", "google"):
        r = results.get(name, {}).get("ratios")
        if r:
            summary.append(f"| cencori-core router vs raw {name} SDK | {r['chat']:.3f} | "
                           f"{r['stream']:.3f} | {r['async']:.3f} | yes |")
            if name == "openai":
                res = results[name]
                summary[-1] = (
                    f"| cencori-core router vs raw openai SDK | {r['chat']:.3f} "
                    f"({res['chat']['router']:.1f} µs vs {res['chat']['raw']:.1f}) | "
                    f"{r['stream']:.3f} ({res['stream']['router']:.2f} µs vs "
                    f"{res['stream']['raw']:.2f}) | {r['async']:.3f} "
                    f"({res['async']['router']:.0f} calls/s vs {res['async']['raw']:.0f}) | yes |")
    if "peers" in only:
        summary += peer_ratio_rows
    lines += ["## 2. Ratios to the raw SDK (one run; lower is better, async: higher)", "",
              "Targets: chat < 1.05, stream per chunk < 1.05, async ≥ 0.95; the peers measured "
              "against a raw `openai` client of their own virtualenv, alternating in one "
              "process.", ""] + summary + [""]

    for name in ("openai", "anthropic", "google"):
        if name in results:
            res = results[name]
            lines += [f"## 3. {name}: router vs raw SDK", "",
                      res.get("markdown") or f"error: {res.get('error')}", ""]
    if "pipeline" in only:
        lines += ["## 4. The pipeline alone (echo provider, no SDK)", ""]
        lines += bench_pipeline(quick) + [""]
    for name, title in (("policies", "5. Policies"), ("accounting", "6. Accounting")):
        if name in only:
            res = provider_bench(name, quick)
            lines += [f"## {title}", "", res.get("markdown") or f"error: {res.get('error')}", ""]
    if "memory" in only:
        lines += ["## 7. Memory over 10,000 calls (OpenAI mock transport)", ""]
        lines += bench_memory() + [""]
    lines += [f"Total run time: {time.time() - started:.0f} s.", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        history = _history()
        (HERE / "RESULTS.md").write_text(text + history)


def _history() -> str:
    """The hand-written history of speed changes kept below the generated part."""
    path = HERE / "RESULTS.md"
    if not path.exists():
        return ""
    old = path.read_text()
    marker = "\n## History of speed changes"
    i = old.find(marker)
    return old[i:] if i >= 0 else ""


if __name__ == "__main__":
    main()
