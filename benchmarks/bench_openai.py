"""Router overhead over the raw ``openai`` SDK on the same in-memory transport.

Every side gets its own ``httpx`` client over one ``httpx.MockTransport`` that answers a fixed
chat completion (or a fixed SSE stream, :mod:`_canned`), so the difference is what the router
adds: validation, resolution, the attempt loop, our conversion, usage, cost and the record.
Measured with :mod:`_harness` (CPU time, alternating batches, fastest fifth and median).

    .venv/bin/python benchmarks/bench_openai.py [--quick]

Measured: non-streaming chat (µs per call; also with the default policy set, and a raw-vs-raw
row for the noise floor), streaming chat (µs per chunk of a 200-chunk stream with the final usage
chunk) and async chat at concurrency 100 (calls per CPU-second over 2,000 calls).
Targets: ratios under 1.05 for chat and per chunk, async throughput at least 0.95 of the raw
SDK's.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import httpx2
import openai
from _canned import BASE, KEY, MESSAGES, MODEL, STREAM_CHUNKS, transport
from _harness import alternate, alternate_async, ratio_row, stat
from openai.types.chat import ChatCompletion

from cencori_core import Router


def make_raw() -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
    t = transport(httpx)
    return (openai.OpenAI(api_key=KEY, base_url=BASE, max_retries=0,
                          http_client=httpx.Client(transport=t)),
            openai.AsyncOpenAI(api_key=KEY, base_url=BASE, max_retries=0,
                               http_client=httpx.AsyncClient(transport=t)))


def make_router(**kw: Any) -> Router:
    t = transport(httpx)
    return Router(providers={"openai": {"api_key": KEY, "base_url": BASE,
                                        "http_client": httpx.Client(transport=t),
                                        "async_http_client": httpx.AsyncClient(transport=t)}},
                  plugins=["openai"], **kw)


def run(quick: bool = False) -> dict[str, Any]:
    """Run the measurements; numbers plus a ``markdown`` table."""
    from cencori_core.policies import default_policies

    raw, araw = make_raw()
    other, _ = make_raw()
    router = make_router()
    guarded = make_router(policies=default_policies())
    rounds = 31 if quick else 101
    create, create2 = raw.chat.completions.create, other.chat.completions.create

    # The same way past the SDK's response models that the plugin takes (client.post with the
    # raw-response header, the JSON read as is, nothing normalized): what the router adds on
    # top of its own transport path.
    post = raw.post
    body = {"model": MODEL, "messages": MESSAGES}
    opts: Any = {"security": {"bearer_auth": True},
                 "headers": {"X-Stainless-Raw-Response": "true"}}

    def raw_json() -> None:
        post("/chat/completions", body=body, options=opts,
             cast_to=ChatCompletion).http_response.json()

    chat = alternate({
        "raw": lambda: create(model=MODEL, messages=MESSAGES),
        "raw_json": raw_json,
        "router": lambda: router.chat(model=MODEL, messages=MESSAGES),
        "policies": lambda: guarded.chat(model=MODEL, messages=MESSAGES),
        "raw2": lambda: create2(model=MODEL, messages=MESSAGES),
    }, 40, rounds, warmup=100)

    def raw_stream() -> None:
        for _ in create(model=MODEL, messages=MESSAGES, stream=True,
                        stream_options={"include_usage": True}):
            pass

    def router_stream() -> None:
        with router.chat_stream(model=MODEL, messages=MESSAGES) as s:
            for _ in s:
                pass

    sbody = {**body, "stream": True, "stream_options": {"include_usage": True}}
    sopts: Any = {"security": {"bearer_auth": True}}

    def raw_json_stream() -> None:
        http = post("/chat/completions", body=sbody, options=sopts, cast_to=httpx2.Response,
                    stream=True)
        for _ in openai.Stream(cast_to=object, response=http, client=raw):
            pass

    stream = alternate({"raw": raw_stream, "raw_json": raw_json_stream,
                        "router": router_stream}, 2, rounds, per=STREAM_CHUNKS, warmup=10)

    acreate = araw.chat.completions.create

    async def raw_call() -> None:
        await acreate(model=MODEL, messages=MESSAGES)

    async def router_call() -> None:
        await router.achat(model=MODEL, messages=MESSAGES)

    conc = alternate_async({"raw": raw_call, "router": router_call}, 2_000, 100,
                           5 if quick else 15)
    for c in (router, guarded):
        c.close()
    raw.close()
    other.close()

    s = {k: stat(v) for k, v in chat.items()}
    st = {k: stat(v) for k, v in stream.items()}
    ac = {k: stat(v, high=True) for k, v in conc.items()}
    table = "\n".join([
        "| measurement | raw openai SDK | through the router | ratio | target |",
        "|---|---|---|---|---|",
        ratio_row("chat, µs per call", s["raw"], s["router"], "< 1.05"),
        ratio_row("chat with the default policies (Secrets, PII, PromptInjection), µs per call",
                  s["raw"], s["policies"], "< 1.05"),
        ratio_row(f"streaming, µs per chunk ({STREAM_CHUNKS}-chunk stream)", st["raw"],
                  st["router"], "< 1.05", 2),
        ratio_row("async chat at concurrency 100, calls per CPU-second (2,000 calls)", ac["raw"],
                  ac["router"], "≥ 0.95", 0),
        ratio_row("noise floor: raw SDK vs a second raw SDK client, µs per call", s["raw"],
                  s["raw2"], "1.000"),
        ratio_row("what the router adds to its transport path: SDK `client.post` + JSON "
                  "(no models, nothing normalized) vs router.chat, µs per call", s["raw_json"],
                  s["router"], "-"),
        ratio_row("the same per stream chunk: the SDK's SSE reader yielding JSON vs "
                  "router.chat_stream", st["raw_json"], st["router"], "-", 2),
        "",
        f"CPU time; each cell: mean of the fastest fifth of {rounds} alternating batches "
        f"(median, p10–p90); async: {5 if quick else 15} rounds, highest fifth.",
    ])
    return {"chat": {k: v.best for k, v in s.items()},
            "stream": {k: v.best for k, v in st.items()},
            "router_adds_us": {"chat": s["router"].best - s["raw_json"].best,
                               "chunk": st["router"].best - st["raw_json"].best},
            "async": {k: v.best for k, v in ac.items()},
            "ratios": {"chat": s["router"].best / s["raw"].best,
                       "chat_policies": s["policies"].best / s["raw"].best,
                       "stream": st["router"].best / st["raw"].best,
                       "async": ac["router"].best / ac["raw"].best,
                       "noise": s["raw2"].best / s["raw"].best},
            "markdown": table}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
