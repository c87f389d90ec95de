"""Router overhead over the raw ``openai`` SDK's ``AzureOpenAI`` on the same in-memory transport.

Like :mod:`bench_openai`: every side gets its own ``httpx`` client over one
``httpx.MockTransport`` answering a fixed chat completion or a fixed 200-chunk SSE stream
(:mod:`_canned`; the transport ignores the path, so Azure's ``/openai/deployments/{deployment}/
chat/completions?api-version=...`` gets the same bytes). The raw side is ``AzureOpenAI`` called
the way its documentation shows (``chat.completions.create``); the router side is
``router.chat(model="azure/<deployment>")`` with the deployment mapped to its base model (so the
call is priced). Measured with :mod:`_harness` (CPU time, alternating batches, fastest fifth and
median), ratios from one run.

    .venv/bin/python benchmarks/bench_azure.py [--quick]
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import openai
from _canned import KEY, MESSAGES, MODEL, STREAM_CHUNKS, transport
from _harness import alternate, alternate_async, ratio_row, stat

from cencori_core import Router

ENDPOINT = "https://bench.openai.azure.com"
VERSION = "2024-10-21"
DEPLOYMENT = "bench-deployment"


def make_raw() -> tuple[openai.AzureOpenAI, openai.AsyncAzureOpenAI]:
    t = transport(httpx)
    kw: dict[str, Any] = {"azure_endpoint": ENDPOINT, "api_version": VERSION, "api_key": KEY,
                          "max_retries": 0}
    return (openai.AzureOpenAI(**kw, http_client=httpx.Client(transport=t)),
            openai.AsyncAzureOpenAI(**kw, http_client=httpx.AsyncClient(transport=t)))


def make_router() -> Router:
    t = transport(httpx)
    return Router(providers={"azure": {
        "endpoint": ENDPOINT, "api_version": VERSION, "api_key": KEY,
        "deployments": {DEPLOYMENT: MODEL},
        "http_client": httpx.Client(transport=t),
        "async_http_client": httpx.AsyncClient(transport=t)}}, plugins=["openai"])


def run(quick: bool = False) -> dict[str, Any]:
    """Run the measurements; numbers plus a ``markdown`` table."""
    raw, araw = make_raw()
    router = make_router()
    name = f"azure/{DEPLOYMENT}"
    rounds = 31 if quick else 101
    create = raw.chat.completions.create

    chat = alternate({
        "raw": lambda: create(model=DEPLOYMENT, messages=MESSAGES),
        "router": lambda: router.chat(model=name, messages=MESSAGES),
    }, 40, rounds, warmup=100)

    def raw_stream() -> None:
        for _ in create(model=DEPLOYMENT, messages=MESSAGES, stream=True,
                        stream_options={"include_usage": True}):
            pass

    def router_stream() -> None:
        with router.chat_stream(model=name, messages=MESSAGES) as s:
            for _ in s:
                pass

    stream = alternate({"raw": raw_stream, "router": router_stream}, 2, rounds,
                       per=STREAM_CHUNKS, warmup=10)

    acreate = araw.chat.completions.create

    async def raw_call() -> None:
        await acreate(model=DEPLOYMENT, messages=MESSAGES)

    async def router_call() -> None:
        await router.achat(model=name, messages=MESSAGES)

    conc = alternate_async({"raw": raw_call, "router": router_call}, 2_000, 100,
                           5 if quick else 15)
    router.close()
    raw.close()

    s = {k: stat(v) for k, v in chat.items()}
    st = {k: stat(v) for k, v in stream.items()}
    ac = {k: stat(v, high=True) for k, v in conc.items()}
    table = "\n".join([
        "| measurement | raw AzureOpenAI | through the router | ratio | target |",
        "|---|---|---|---|---|",
        ratio_row("chat, µs per call", s["raw"], s["router"], "< 1.05"),
        ratio_row(f"streaming, µs per chunk ({STREAM_CHUNKS}-chunk stream)", st["raw"],
                  st["router"], "< 1.05", 2),
        ratio_row("async chat at concurrency 100, calls per CPU-second (2,000 calls)", ac["raw"],
                  ac["router"], "≥ 0.95", 0),
        "",
        f"CPU time; each cell: mean of the fastest fifth of {rounds} alternating batches "
        f"(median, p10–p90); async: {5 if quick else 15} rounds, highest fifth.",
    ])
    return {"chat": {k: v.best for k, v in s.items()},
            "stream": {k: v.best for k, v in st.items()},
            "async": {k: v.best for k, v in ac.items()},
            "ratios": {"chat": s["router"].best / s["raw"].best,
                       "stream": st["router"].best / st["raw"].best,
                       "async": ac["router"].best / ac["raw"].best},
            "markdown": table}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
