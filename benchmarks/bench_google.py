"""Router overhead over the raw ``google-genai`` SDK on the same in-memory transport.

Both sides get their own ``httpx`` clients over one ``httpx.MockTransport`` that answers a fixed
``generateContent`` response (or a fixed ``streamGenerateContent`` SSE stream), so the
difference is what the router adds: validation, resolution, the attempt loop, our conversion to
and from the SDK's types, usage, cost and the record. The raw side is the call a user of the SDK
would write (``contents`` as a string, retries off). Raw and router batches alternate so machine
noise hits both alike; times are CPU time of this process (the work is all in memory); each
figure is the median of the batches, each ratio the median of per-round ratios.

    .venv/bin/python benchmarks/bench_google.py [--quick]

Measured: non-streaming chat (µs per call), streaming chat (µs per chunk, a 200-chunk stream;
also against the raw SDK given the same config the router sends for streams) and async chat at
concurrency 100 (calls per CPU-second over 2,000 calls). Targets: ratios under
1.05 for chat and per chunk, async throughput at least 0.95 of the raw SDK's.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from google import genai
from google.genai import types

from cencori_core import Router

MODEL = "gemini-2.5-flash"
TEXT = "Hello, how are you today?"
MESSAGES = [{"role": "user", "content": TEXT}]
KEY = "AIzaSy-bench-00000000000000000000"
BASE = "http://bench.invalid"
STREAM_CHUNKS = 200

_USAGE = {"promptTokenCount": 8, "candidatesTokenCount": 7, "totalTokenCount": 15,
          "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}]}

_RESPONSE = json.dumps({
    "candidates": [{"content": {"role": "model", "parts": [{"text": "I am fine, thank you!"}]},
                    "finishReason": "STOP", "index": 0}],
    "usageMetadata": _USAGE, "modelVersion": MODEL, "responseId": "bench-response",
}).encode()


def _sse() -> bytes:
    def ev(text: str, last: bool = False) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]},
                                "index": 0}
        if last:
            cand["finishReason"] = "STOP"
        return {"candidates": [cand], "usageMetadata": {"promptTokenCount": 8,
                                                        "totalTokenCount": 8},
                "modelVersion": MODEL, "responseId": "bench-stream"}

    events = [ev(f"tok{i} ") for i in range(STREAM_CHUNKS - 1)]
    events.append(dict(ev("end", last=True), usageMetadata={
        "promptTokenCount": 8, "candidatesTokenCount": STREAM_CHUNKS,
        "totalTokenCount": 8 + STREAM_CHUNKS}))
    return b"".join(f"data: {json.dumps(e)}\r\n\r\n".encode() for e in events)


_STREAM = _sse()
_JSON_HEADERS = {"content-type": "application/json"}
_SSE_HEADERS = {"content-type": "text/event-stream"}


def _handler(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith(":streamGenerateContent"):
        return httpx.Response(200, content=_STREAM, headers=_SSE_HEADERS)
    return httpx.Response(200, content=_RESPONSE, headers=_JSON_HEADERS)


def _transport() -> httpx.MockTransport:
    return httpx.MockTransport(_handler)


def make_raw() -> genai.Client:
    t = _transport()
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(
        base_url=BASE, retry_options=types.HttpRetryOptions(attempts=1),
        httpx_client=httpx.Client(transport=t), httpx_async_client=httpx.AsyncClient(transport=t)))


def make_router() -> Router:
    t = _transport()
    return Router(providers={"google": {"api_key": KEY, "base_url": BASE,
                                        "http_client": httpx.Client(transport=t),
                                        "async_http_client": httpx.AsyncClient(transport=t)}},
                  plugins=["google"])


# CPU time of this process: the transport is in memory, so a call is pure CPU work, and other
# processes on a shared machine inflate it far less than they inflate wall-clock time.
_clock = time.process_time


def _paired(a: Callable[[], None], b: Callable[[], None], n: int,
            rounds: int) -> tuple[list[float], list[float], list[float]]:
    """Per-call µs of ``a`` and ``b`` in batches of ``n`` calls, and the ratio b/a of each round;
    the side that goes first swaps every round."""
    sa: list[float] = []
    sb: list[float] = []
    for i in range(rounds):
        order = [(a, sa), (b, sb)] if i % 2 == 0 else [(b, sb), (a, sa)]
        for fn, out in order:
            t = _clock()
            for _ in range(n):
                fn()
            out.append((_clock() - t) / n * 1e6)
    return sa, sb, [y / x for x, y in zip(sa, sb, strict=True)]


def _summary(sa: list[float], sb: list[float], ratios: list[float]) -> dict[str, float]:
    a, b = statistics.median(sa), statistics.median(sb)
    return {"raw": a, "router": b, "ratio": statistics.median(ratios), "overhead": b - a}


def bench_chat(raw: genai.Client, router: Router, n: int, rounds: int) -> dict[str, float]:
    generate = raw.models.generate_content

    def raw_call() -> None:
        generate(model=MODEL, contents=TEXT)

    def router_call() -> None:
        router.chat(model=MODEL, messages=MESSAGES)

    for _ in range(100):  # warm both (lazy clients, pydantic schemas, price lookup)
        raw_call()
        router_call()
    return _summary(*_paired(raw_call, router_call, n, rounds))


def bench_stream(raw: genai.Client, router: Router, n: int, rounds: int,
                 config: types.GenerateContentConfig | None = None) -> dict[str, float]:
    generate = raw.models.generate_content_stream

    def raw_call() -> None:
        for _ in generate(model=MODEL, contents=TEXT, config=config):
            pass

    def router_call() -> None:
        with router.chat_stream(model=MODEL, messages=MESSAGES) as s:
            for _ in s:
                pass

    for _ in range(5):
        raw_call()
        router_call()
    sa, sb, ratios = _paired(raw_call, router_call, n, rounds)
    return _summary([x / STREAM_CHUNKS for x in sa], [x / STREAM_CHUNKS for x in sb], ratios)


def bench_async(raw: genai.Client, router: Router, calls: int, concurrency: int,
                rounds: int) -> dict[str, float]:
    generate = raw.aio.models.generate_content

    async def raw_call() -> None:
        await generate(model=MODEL, contents=TEXT)

    async def router_call() -> None:
        await router.achat(model=MODEL, messages=MESSAGES)

    async def drive(call: Callable[[], Any]) -> float:
        per_worker = calls // concurrency

        async def worker() -> None:
            for _ in range(per_worker):
                await call()

        t = _clock()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return per_worker * concurrency / (_clock() - t)

    async def main() -> tuple[list[float], list[float]]:
        for _ in range(50):
            await raw_call()
            await router_call()
        ra: list[float] = []
        rb: list[float] = []
        for i in range(rounds):
            if i % 2 == 0:
                ra.append(await drive(raw_call))
                rb.append(await drive(router_call))
            else:
                rb.append(await drive(router_call))
                ra.append(await drive(raw_call))
        return ra, rb

    ra, rb = asyncio.run(main())
    ratios = [y / x for x, y in zip(ra, rb, strict=True)]
    return {"raw": statistics.median(ra), "router": statistics.median(rb),
            "ratio": statistics.median(ratios)}


def run(quick: bool = False) -> dict[str, Any]:
    """Run the three measurements; numbers plus a ``markdown`` table."""
    raw = make_raw()
    router = make_router()
    n, rounds = (100, 9) if quick else (200, 31)
    chat = bench_chat(raw, router, n, rounds)
    stream = bench_stream(raw, router, 3 if quick else 5, rounds)
    # The router turns the SDK's automatic continuation off for streams; any config costs the
    # SDK per chunk, so this pair separates that from what the router itself adds.
    stream_cfg = bench_stream(raw, router, 3 if quick else 5, rounds,
                              config=types.GenerateContentConfig(automatic_continuation=False))
    conc = bench_async(raw, router, 2_000, 100, 3 if quick else 7)
    router.close()
    raw.close()
    table = "\n".join([
        "| measurement | raw google-genai SDK | through the router | ratio | target |",
        "|---|---|---|---|---|",
        f"| chat, median µs per call | {chat['raw']:.1f} | {chat['router']:.1f} | "
        f"{chat['ratio']:.3f} | < 1.05 |",
        f"| streaming, median µs per chunk ({STREAM_CHUNKS}-chunk stream) | "
        f"{stream['raw']:.2f} | {stream['router']:.2f} | {stream['ratio']:.3f} | < 1.05 |",
        f"| streaming, raw SDK given the router's stream config (automatic continuation off) | "
        f"{stream_cfg['raw']:.2f} | {stream_cfg['router']:.2f} | {stream_cfg['ratio']:.3f} | "
        "- |",
        f"| async chat at concurrency 100, calls per CPU-second (2,000 calls) | "
        f"{conc['raw']:.0f} | {conc['router']:.0f} | {conc['ratio']:.3f} | ≥ 0.95 |",
    ])
    return {"chat": chat, "stream": stream, "stream_same_config": stream_cfg, "async": conc,
            "ratios": {"chat": chat["ratio"], "stream": stream["ratio"],
                       "async": conc["ratio"]},
            "markdown": table}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
