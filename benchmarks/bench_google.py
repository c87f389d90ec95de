"""Router overhead over the raw ``google-genai`` SDK on the same in-memory transport.

Both sides get their own ``httpx`` clients over one ``httpx.MockTransport`` that answers a fixed
``generateContent`` response (or a fixed ``streamGenerateContent`` SSE stream), so the
difference is what the router adds: validation, resolution, the attempt loop, our conversion to
and from the SDK's types, usage, cost and the record. The raw side is the call a user of the SDK
would write (``contents`` as a string, retries off). Raw and router batches alternate so machine
noise hits both alike; measured with :mod:`_harness` (CPU time, fastest fifth and median).

    .venv/bin/python benchmarks/bench_google.py [--quick]

Measured: non-streaming chat (µs per call), streaming chat (µs per chunk, a 200-chunk stream;
also against the raw SDK given the same config the router sends for streams) and async chat at
concurrency 100 (calls per CPU-second over 2,000 calls). Targets: ratios under
1.05 for chat and per chunk, async throughput at least 0.95 of the raw SDK's.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
from _harness import alternate, alternate_async, ratio_row, stat
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


def run(quick: bool = False) -> dict[str, Any]:
    """Run the measurements; numbers plus a ``markdown`` table."""
    raw = make_raw()
    router = make_router()
    rounds = 31 if quick else 101
    generate, stream_raw = raw.models.generate_content, raw.models.generate_content_stream
    agenerate = raw.aio.models.generate_content
    # The router turns the SDK's automatic continuation off for streams; any config costs the
    # SDK per chunk, so a raw side given that config separates it from what the router adds.
    cfg = types.GenerateContentConfig(automatic_continuation=False)

    def raw_stream() -> None:
        for _ in stream_raw(model=MODEL, contents=TEXT):
            pass

    def raw_stream_cfg() -> None:
        for _ in stream_raw(model=MODEL, contents=TEXT, config=cfg):
            pass

    def router_stream() -> None:
        with router.chat_stream(model=MODEL, messages=MESSAGES) as s:
            for _ in s:
                pass

    async def raw_call() -> None:
        await agenerate(model=MODEL, contents=TEXT)

    async def router_call() -> None:
        await router.achat(model=MODEL, messages=MESSAGES)

    chat = alternate({"raw": lambda: generate(model=MODEL, contents=TEXT),
                      "router": lambda: router.chat(model=MODEL, messages=MESSAGES)}, 20,
                     rounds, warmup=100)
    stream = alternate({"raw": raw_stream, "raw_cfg": raw_stream_cfg, "router": router_stream},
                       1, rounds, per=STREAM_CHUNKS, warmup=5)
    conc = alternate_async({"raw": raw_call, "router": router_call}, 2_000, 100,
                           5 if quick else 15)
    router.close()
    raw.close()
    s = {k: stat(v) for k, v in chat.items()}
    st = {k: stat(v) for k, v in stream.items()}
    ac = {k: stat(v, high=True) for k, v in conc.items()}
    table = "\n".join([
        "| measurement | raw google-genai SDK | through the router | ratio | target |",
        "|---|---|---|---|---|",
        ratio_row("chat, µs per call", s["raw"], s["router"], "< 1.05"),
        ratio_row(f"streaming, µs per chunk ({STREAM_CHUNKS}-chunk stream)", st["raw"],
                  st["router"], "< 1.05", 2),
        ratio_row("streaming, raw SDK given the router's stream config (automatic "
                  "continuation off)", st["raw_cfg"], st["router"], "-", 2),
        ratio_row("async chat at concurrency 100, calls per CPU-second (2,000 calls)", ac["raw"],
                  ac["router"], "≥ 0.95", 0),
    ])
    return {"ratios": {"chat": s["router"].best / s["raw"].best,
                       "stream": st["router"].best / st["raw"].best,
                       "async": ac["router"].best / ac["raw"].best},
            "markdown": table}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
