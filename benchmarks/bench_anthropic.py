"""Router overhead over the raw ``anthropic`` SDK on the same in-memory transport.

Both sides get their own client over one ``httpx2.MockTransport`` that answers a fixed Messages
API ``message`` or a fixed SSE stream, so the difference is what the router adds: validation,
resolution, the attempt loop, our conversion, usage, cost and the record. Measured with
:mod:`_harness` (CPU time, alternating batches, fastest fifth and median).

    .venv/bin/python benchmarks/bench_anthropic.py [--quick]

Measured: non-streaming chat (µs per call), streaming chat (µs per text chunk, a 200-delta
stream with message_start, ping, message_delta usage and message_stop) and async chat at
concurrency 100 (calls per CPU second). Targets: ratios under 1.05 for chat and per chunk, async
throughput at least 0.95 of the raw SDK's.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anthropic
import httpx2
from _harness import alternate, alternate_async, ratio_row, stat

from cencori_core import Router

MODEL = "claude-haiku-4-5-20251001"
MESSAGES = [{"role": "user", "content": "Hello, how are you today?"}]
MAX_TOKENS = 1024
KEY = "sk-ant-bench-0000000000000000"
BASE = "http://bench.invalid"
STREAM_CHUNKS = 200

_USAGE = {"input_tokens": 14, "output_tokens": 7, "cache_read_input_tokens": 0,
          "cache_creation_input_tokens": 0}
MESSAGE = json.dumps({
    "id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL,
    "content": [{"type": "text", "text": "I am fine, thank you!"}],
    "stop_reason": "end_turn", "stop_sequence": None, "usage": _USAGE}).encode()


def _sse() -> bytes:
    start = {"id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL,
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**_USAGE, "output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": f"tok{i} "}})
               for i in range(STREAM_CHUNKS)]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": STREAM_CHUNKS}}),
               ("message_stop", {"type": "message_stop"})]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                    for name, data in events)


_STREAM = _sse()
_JSON_HEADERS = {"content-type": "application/json", "request-id": "req_bench"}
_SSE_HEADERS = {"content-type": "text/event-stream", "request-id": "req_bench"}


def _handler(request: httpx2.Request) -> httpx2.Response:
    # The SDK's body always carries "stream": true for streams; a cheap byte check suffices.
    if b'"stream":true' in request.content or b'"stream": true' in request.content:
        return httpx2.Response(200, content=_STREAM, headers=_SSE_HEADERS)
    return httpx2.Response(200, content=MESSAGE, headers=_JSON_HEADERS)


def _transport() -> httpx2.MockTransport:
    return httpx2.MockTransport(_handler)


def make_raw() -> tuple[anthropic.Anthropic, anthropic.AsyncAnthropic]:
    t = _transport()
    return (anthropic.Anthropic(api_key=KEY, base_url=BASE, max_retries=0, timeout=60.0,
                                http_client=httpx2.Client(transport=t)),
            anthropic.AsyncAnthropic(api_key=KEY, base_url=BASE, max_retries=0, timeout=60.0,
                                     http_client=httpx2.AsyncClient(transport=t)))


def make_router() -> Router:
    t = _transport()
    return Router(providers={"anthropic": {"api_key": KEY, "base_url": BASE,
                                           "http_client": httpx2.Client(transport=t),
                                           "async_http_client": httpx2.AsyncClient(
                                               transport=t)}},
                  plugins=["anthropic"])


def run(quick: bool = False) -> dict[str, Any]:
    """Run the three measurements; numbers plus a ``markdown`` table."""
    raw, araw = make_raw()
    router = make_router()
    rounds = 31 if quick else 101
    create, acreate = raw.messages.create, araw.messages.create
    kw: dict[str, Any] = {"model": MODEL, "max_tokens": MAX_TOKENS, "messages": MESSAGES}

    def raw_stream() -> None:
        for _ in create(**kw, stream=True):
            pass

    def router_stream() -> None:
        with router.chat_stream(**kw) as s:
            for _ in s:
                pass

    async def raw_call() -> None:
        await acreate(**kw)

    async def router_call() -> None:
        await router.achat(**kw)

    chat = alternate({"raw": lambda: create(**kw), "router": lambda: router.chat(**kw)}, 40,
                     rounds, warmup=100)
    stream = alternate({"raw": raw_stream, "router": router_stream}, 2, rounds,
                       per=STREAM_CHUNKS, warmup=10)
    conc = alternate_async({"raw": raw_call, "router": router_call}, 2_000, 100,
                           5 if quick else 15)
    raw.close()
    router.close()
    s = {k: stat(v) for k, v in chat.items()}
    st = {k: stat(v) for k, v in stream.items()}
    ac = {k: stat(v, high=True) for k, v in conc.items()}
    table = "\n".join([
        "| measurement | raw anthropic SDK | through the router | ratio | target |",
        "|---|---|---|---|---|",
        ratio_row("chat, µs per call", s["raw"], s["router"], "< 1.05"),
        ratio_row(f"streaming, µs per text delta ({STREAM_CHUNKS} deltas)", st["raw"],
                  st["router"], "< 1.05", 2),
        ratio_row("async chat at concurrency 100, calls per CPU-second (2,000 calls)", ac["raw"],
                  ac["router"], "≥ 0.95", 0),
    ])
    return {"ratios": {"chat": s["router"].best / s["raw"].best,
                       "stream": st["router"].best / st["raw"].best,
                       "async": ac["router"].best / ac["raw"].best},
            "markdown": table}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
