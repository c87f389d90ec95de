"""Router overhead over the raw ``anthropic`` SDK on the same in-memory transport.

Both sides get their own client over one ``httpx2.MockTransport`` (the SDK accepts only
``httpx2`` clients) that answers a fixed Messages API ``message`` or a fixed SSE stream, so the
difference is what the router adds: validation, resolution, the attempt loop, our conversion,
usage, cost and the record. Raw and router batches alternate so machine noise hits both alike;
each figure is the median of the batches. Times are the process's CPU time: everything runs
in-process on the mock transport, so CPU time is the whole cost, and other processes on a shared
machine do not skew it.

    .venv/bin/python benchmarks/bench_anthropic.py [--quick]

Measured: non-streaming chat (µs per call), streaming chat (µs per text chunk, a 200-delta
stream with message_start, ping, message_delta usage and message_stop) and async chat at
concurrency 100 (calls per CPU second). Targets: ratios under 1.05 for chat and per chunk, async
throughput at least 0.95 of the raw SDK's.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2

from cencori_core import Router

MODEL = "claude-haiku-4-5-20251001"
MESSAGES = [{"role": "user", "content": "Hello, how are you today?"}]
MAX_TOKENS = 1024
KEY = "sk-ant-bench-0000000000000000"
BASE = "http://bench.invalid"
STREAM_CHUNKS = 200
_clock = time.process_time

_USAGE = {"input_tokens": 14, "output_tokens": 7, "cache_read_input_tokens": 0,
          "cache_creation_input_tokens": 0}
_MESSAGE = json.dumps({
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
    return httpx2.Response(200, content=_MESSAGE, headers=_JSON_HEADERS)


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


def _alternate(a: Callable[[], None], b: Callable[[], None], n: int,
               rounds: int) -> tuple[list[float], list[float]]:
    """Per-call µs of ``a`` and ``b``, measured in alternating batches of ``n`` calls."""
    sa, sb = [], []
    for _ in range(rounds):
        for fn, out in ((a, sa), (b, sb)):
            t = _clock()
            for _ in range(n):
                fn()
            out.append((_clock() - t) / n * 1e6)
    return sa, sb


def bench_chat(raw: anthropic.Anthropic, router: Router, n: int,
               rounds: int) -> dict[str, float]:
    create = raw.messages.create

    def raw_call() -> None:
        create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)  # type: ignore[arg-type]

    def router_call() -> None:
        router.chat(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

    for _ in range(100):  # warm both (lazy clients, caches, price lookup)
        raw_call()
        router_call()
    return _summary(*_alternate(raw_call, router_call, n, rounds))


def bench_stream(raw: anthropic.Anthropic, router: Router, n: int,
                 rounds: int) -> dict[str, float]:
    create = raw.messages.create

    def raw_call() -> None:
        for _ in create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES,  # type: ignore[arg-type]
                        stream=True):
            pass

    def router_call() -> None:
        with router.chat_stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as s:
            for _ in s:
                pass

    for _ in range(10):
        raw_call()
        router_call()
    sa, sb = _alternate(raw_call, router_call, n, rounds)
    return _summary([x / STREAM_CHUNKS for x in sa], [x / STREAM_CHUNKS for x in sb])


def bench_async(raw: anthropic.AsyncAnthropic, router: Router, calls: int, concurrency: int,
                rounds: int) -> dict[str, float]:
    create = raw.messages.create

    async def raw_call() -> None:
        await create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)  # type: ignore[arg-type]

    async def router_call() -> None:
        await router.achat(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

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
        ra, rb = [], []
        for _ in range(rounds):
            ra.append(await drive(raw_call))
            rb.append(await drive(router_call))
        await raw.close()
        await router.aclose()
        return ra, rb

    ra, rb = asyncio.run(main())
    a, b = statistics.median(ra), statistics.median(rb)
    return {"raw": a, "router": b, "ratio": b / a}


def _summary(sa: list[float], sb: list[float]) -> dict[str, float]:
    a, b = statistics.median(sa), statistics.median(sb)
    return {"raw": a, "router": b, "ratio": b / a, "overhead": b - a}


def run(quick: bool = False) -> dict[str, Any]:
    """Run the three measurements; numbers plus a ``markdown`` table."""
    raw, araw = make_raw()
    router = make_router()
    n, rounds = (200, 7) if quick else (500, 21)
    chat = bench_chat(raw, router, n, rounds)
    stream = bench_stream(raw, router, 5 if quick else 10, rounds)
    raw.close()
    router.close()
    conc = bench_async(araw, make_router(), 1_000 if quick else 2_000, 100, 3 if quick else 7)
    table = "\n".join([
        "| anthropic | raw SDK | router | ratio |", "|---|---|---|---|",
        f"| chat, µs per call | {chat['raw']:.0f} | {chat['router']:.0f} | "
        f"{chat['ratio']:.3f} |",
        f"| stream, µs per chunk ({STREAM_CHUNKS} deltas) | {stream['raw']:.1f} | "
        f"{stream['router']:.1f} | {stream['ratio']:.3f} |",
        f"| async, calls per CPU second at concurrency 100 | {conc['raw']:.0f} | "
        f"{conc['router']:.0f} | {conc['ratio']:.3f} |"])
    return {"chat_us": chat, "stream_us_per_chunk": stream, "async_calls_per_s": conc,
            "markdown": table}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
