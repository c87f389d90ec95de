"""The OpenAI drop-in (``router.openai_client()``) against the raw ``openai`` SDK.

The raw SDK talks, through its own default HTTP client (``openai.DefaultHttpxClient``: the SDK's
HTTP package, ``httpx2`` in openai 3.x, the package the drop-in's transport is built on), to a
``MockTransport`` answering canned OpenAI JSON (or a canned
200-chunk SSE stream, :mod:`_canned`). The drop-in is the same SDK whose transport is the router,
measured two ways: on the built-in ``echo`` provider (what the drop-in itself costs: the router's
pipeline in place of the mock handler), and through the ``openai`` provider on the same canned
transport (the whole chain: SDK → router → SDK → canned answer). Measured with :mod:`_harness`
(CPU time, alternating batches, fastest fifth and median), every ratio from one run.

    .venv/bin/python benchmarks/bench_dropin.py [--quick]

Target: the drop-in no slower than the raw SDK (ratio ≤ 1.0) for chat per call and stream per
chunk.
"""

from __future__ import annotations

import sys
from typing import Any

import openai
from _canned import (
    BASE,
    COMPLETION,
    JSON_HEADERS,
    KEY,
    MESSAGES,
    MODEL,
    SSE_HEADERS,
    STREAM,
    STREAM_CHUNKS,
    transport,
)
from _harness import alternate, alternate_async, ratio_row, stat

from cencori_core import Router
from cencori_core.dropin._transport import _http

# The SDK's own HTTP package: a raw client on the legacy ``httpx`` package takes the SDK's
# compatibility paths (about 10% more instructions per call than its default client).
httpx = _http()

# echo answers "echo: <the last user text>" one word per chunk: 199 words make 200 chunks
ECHO_STREAM = [{"role": "user", "content": " ".join(f"tok{i}" for i in range(STREAM_CHUNKS - 1))}]


# The canned stream one SSE event per read, as a live stream arrives from a network (the canned
# transport hands the SDK all 200 events in one read, which no live stream does).
EVENTS = [e + b"\n\n" for e in STREAM.split(b"\n\n") if e]


def evented() -> Any:
    def handler(request: Any) -> Any:
        if b'"stream": true' in request.content or b'"stream":true' in request.content:
            return httpx.Response(200, content=iter(EVENTS), headers=SSE_HEADERS)
        return httpx.Response(200, content=COMPLETION, headers=JSON_HEADERS)

    return httpx.MockTransport(handler)


def run(quick: bool = False) -> dict[str, Any]:
    t = transport(httpx)
    live = openai.OpenAI(api_key=KEY, base_url=BASE, max_retries=0,
                         http_client=openai.DefaultHttpxClient(transport=evented()))
    raw = openai.OpenAI(api_key=KEY, base_url=BASE, max_retries=0,
                        http_client=openai.DefaultHttpxClient(transport=t))
    araw = openai.AsyncOpenAI(api_key=KEY, base_url=BASE, max_retries=0,
                              http_client=openai.DefaultAsyncHttpxClient(transport=t))
    echo_router = Router(load_entrypoints=False)
    via_router = Router(providers={"openai": {"api_key": KEY, "base_url": BASE,
                                              "http_client": openai.DefaultHttpxClient(
                                                  transport=t),
                                              "async_http_client":
                                                  openai.DefaultAsyncHttpxClient(transport=t)}},
                        plugins=["openai"])
    echo, aecho = echo_router.openai_client(), echo_router.async_openai_client()
    via = via_router.openai_client()
    rounds = 31 if quick else 101

    chat = alternate({
        "raw": lambda: raw.chat.completions.create(model=MODEL, messages=MESSAGES),
        "echo": lambda: echo.chat.completions.create(model="echo/echo", messages=MESSAGES),
        "via": lambda: via.chat.completions.create(model=MODEL, messages=MESSAGES),
        "router": lambda: echo_router.chat(model="echo/echo", messages=MESSAGES),
    }, 40, rounds, warmup=100)

    def drain(client: openai.OpenAI, model: str, messages: Any) -> Any:
        def go() -> None:
            for _ in client.chat.completions.create(model=model, messages=messages, stream=True,
                                                    stream_options={"include_usage": True}):
                pass
        return go

    stream = alternate({"raw": drain(raw, MODEL, MESSAGES),
                        "live": drain(live, MODEL, MESSAGES),
                        "echo": drain(echo, "echo/echo", ECHO_STREAM),
                        "via": drain(via, MODEL, MESSAGES)},
                       2, rounds, per=STREAM_CHUNKS, warmup=10)

    async def raw_call() -> None:
        await araw.chat.completions.create(model=MODEL, messages=MESSAGES)

    async def echo_call() -> None:
        await aecho.chat.completions.create(model="echo/echo", messages=MESSAGES)

    conc = alternate_async({"raw": raw_call, "echo": echo_call}, 2_000, 100, 5 if quick else 15)
    echo_router.close()
    via_router.close()

    s = {k: stat(v) for k, v in chat.items()}
    st = {k: stat(v) for k, v in stream.items()}
    ac = {k: stat(v, high=True) for k, v in conc.items()}
    table = "\n".join([
        "| measurement | raw openai SDK (mock transport) | through the drop-in | ratio | target |",
        "|---|---|---|---|---|",
        ratio_row("chat, µs per call: drop-in on echo", s["raw"], s["echo"], "≤ 1.0"),
        ratio_row("chat, µs per call: drop-in → openai provider → the same mock", s["raw"],
                  s["via"], "-"),
        ratio_row(f"streaming, µs per chunk ({STREAM_CHUNKS} chunks): drop-in on echo",
                  st["raw"], st["echo"], "≤ 1.0", 2),
        ratio_row("streaming, µs per chunk: drop-in → openai provider → the same mock",
                  st["raw"], st["via"], "-", 2),
        ratio_row("streaming, µs per chunk, the raw SDK reading the canned stream one event "
                  "per read (as from a network) vs the drop-in on echo", st["live"], st["echo"],
                  "≤ 1.0", 2),
        ratio_row("async chat at concurrency 100, calls per CPU-second: drop-in on echo",
                  ac["raw"], ac["echo"], "≥ 1.0", 0),
        ratio_row("for scale: router.chat on echo (no SDK at all) vs the raw SDK, µs per call",
                  s["raw"], s["router"], "-"),
        "",
        f"CPU time; each cell: mean of the fastest fifth of {rounds} alternating batches "
        f"(median, p10–p90); async: {5 if quick else 15} rounds, highest fifth.",
    ])
    return {"ratios": {"chat_echo": s["echo"].best / s["raw"].best,
                       "chat_via": s["via"].best / s["raw"].best,
                       "stream_echo": st["echo"].best / st["raw"].best,
                       "stream_via": st["via"].best / st["raw"].best,
                       "stream_echo_vs_live": st["echo"].best / st["live"].best,
                       "async_echo": ac["echo"].best / ac["raw"].best},
            "markdown": table}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
