"""The peers (LiteLLM, any-llm, aisuite) against the raw ``openai`` SDK, on the same transport.

Runs in whatever interpreter has the peers installed (``benchmarks/requirements.txt``; run.py
uses ``/work/bench-venv`` or ``$CENCORI_BENCH_PEERS_PYTHON`` when the peers' pins conflict with
the package's own environment) and prints one JSON object. Each peer is measured in alternating
batches with a raw ``openai`` client of the same interpreter over the same
``httpx.MockTransport`` (:mod:`_canned`), so its ratio is taken in one run like ours; a peer that
is not installed is left out.

    /work/bench-venv/bin/python benchmarks/peers.py [--quick] [--imports N]
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# LiteLLM fetches its price map from the network at import unless told to use its bundled copy
# (set here, so the fresh import processes inherit it).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from _canned import BASE, KEY, MESSAGES, MODEL, STREAM_CHUNKS, transport  # noqa: E402
from _harness import alternate, alternate_async, fresh, stat  # noqa: E402

PEERS = {"litellm": "litellm", "any_llm": "any-llm-sdk", "aisuite": "aisuite"}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _clients() -> tuple[Any, Any]:
    import httpx
    import openai

    t = transport(httpx)
    return (openai.OpenAI(api_key=KEY, base_url=BASE, max_retries=0,
                          http_client=httpx.Client(transport=t)),
            openai.AsyncOpenAI(api_key=KEY, base_url=BASE, max_retries=0,
                               http_client=httpx.AsyncClient(transport=t)))


def _litellm() -> dict[str, Callable[..., Any]]:
    import litellm

    client, aclient = _clients()
    litellm.telemetry = False
    common = {"model": f"openai/{MODEL}", "messages": MESSAGES, "api_key": KEY,
              "api_base": BASE}

    def chat() -> Any:
        return litellm.completion(**common, client=client)

    def stream() -> None:
        for _ in litellm.completion(**common, client=client, stream=True,
                                    stream_options={"include_usage": True}):
            pass

    async def achat() -> Any:
        return await litellm.acompletion(**common, client=aclient)

    return {"chat": chat, "stream": stream, "achat": achat}


def _any_llm() -> dict[str, Callable[..., Any]]:
    import httpx
    from any_llm import AnyLLM

    # any-llm's OpenAI provider has only an async client (its sync calls run it on a loop).
    llm = AnyLLM.create("openai", api_key=KEY, api_base=BASE,
                        http_client=httpx.AsyncClient(transport=transport(httpx)),
                        max_retries=0)

    def chat() -> Any:
        return llm.completion(model=MODEL, messages=MESSAGES)

    def stream() -> None:
        for _ in llm.completion(model=MODEL, messages=MESSAGES, stream=True,
                                stream_options={"include_usage": True}):
            pass

    async def achat() -> Any:
        return await llm.acompletion(model=MODEL, messages=MESSAGES)

    return {"chat": chat, "stream": stream, "achat": achat}


def _aisuite() -> dict[str, Callable[..., Any]]:
    import aisuite
    from aisuite.provider import ProviderFactory

    client = aisuite.Client()
    # aisuite hands one config to both SDK clients, so an httpx client cannot go through it:
    # its OpenAI provider gets our clients over the same transport instead.
    provider = ProviderFactory.create_provider("openai", {"api_key": KEY, "base_url": BASE})
    provider.client, provider.aclient = _clients()
    client.providers["openai"] = provider
    name = f"openai:{MODEL}"

    def chat() -> Any:
        return client.chat.completions.create(model=name, messages=MESSAGES)

    def stream() -> None:
        for _ in client.chat.completions.create(model=name, messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True}):
            pass

    sides: dict[str, Callable[..., Any]] = {"chat": chat, "stream": stream}
    acreate = client.chat.completions.acreate

    async def achat() -> Any:
        return await acreate(model=name, messages=MESSAGES)

    sides["achat"] = achat
    return sides


_BUILD = {"litellm": _litellm, "any_llm": _any_llm, "aisuite": _aisuite}

# Peak RSS from VmHWM (ru_maxrss would include the forked parent's pages from before exec).
_IMPORT = ("import time; t = time.perf_counter(); import {mod}; "
           "ms = (time.perf_counter() - t) * 1000; "
           "print(ms, [int(x.split()[1]) / 1024 for x in open('/proc/self/status') "
           "if x.startswith('VmHWM')][0])")


def main() -> None:
    quick = "--quick" in sys.argv
    imports = int(sys.argv[sys.argv.index("--imports") + 1]) if "--imports" in sys.argv else 0
    warnings.simplefilter("ignore")
    rounds = 15 if quick else 41
    out: dict[str, Any] = {"python": sys.executable, "versions": {}, "import": {}, "peers": {}}
    import importlib.metadata as md

    for dist in ("openai", "httpx", *PEERS.values()):
        try:
            out["versions"][dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    for mod in ("openai", *PEERS):
        if imports and _installed(mod):
            runs = fresh(_IMPORT.format(mod=mod), imports)
            out["import"][mod] = {"ms": [r[0] for r in runs], "peak_mb": [r[1] for r in runs]}
    raw, araw = _clients()
    create, acreate = raw.chat.completions.create, araw.chat.completions.create

    def raw_stream() -> None:
        for _ in create(model=MODEL, messages=MESSAGES, stream=True,
                        stream_options={"include_usage": True}):
            pass

    async def raw_achat() -> Any:
        return await acreate(model=MODEL, messages=MESSAGES)

    for mod in PEERS:
        if not _installed(mod):
            continue
        try:
            sides = _BUILD[mod]()
            res: dict[str, Any] = {}
            chat = alternate({"raw": lambda: create(model=MODEL, messages=MESSAGES),
                              "peer": sides["chat"]}, 20, rounds, warmup=30)
            res["chat"] = {k: _d(stat(v)) for k, v in chat.items()}
            st = alternate({"raw": raw_stream, "peer": sides["stream"]}, 1, rounds,
                           per=STREAM_CHUNKS, warmup=3)
            res["stream"] = {k: _d(stat(v)) for k, v in st.items()}
            if "achat" in sides:
                ac = alternate_async({"raw": raw_achat, "peer": sides["achat"]}, 2_000, 100,
                                     3 if quick else 7, warmup=20)
                res["async"] = {k: _d(stat(v, high=True)) for k, v in ac.items()}
            out["peers"][mod] = res
        except Exception as exc:  # noqa: BLE001 - one broken peer must not hide the others
            out["peers"][mod] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    print(json.dumps(out))


def _d(s: Any) -> dict[str, float]:
    return {"best": s.best, "median": s.median, "p10": s.p10, "p90": s.p90}


if __name__ == "__main__":
    main()
