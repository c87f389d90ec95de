"""What a response-cache hit costs per call, next to a miss, on the OpenAI in-memory transport.

    python benchmarks/bench_cache.py [--quick]

Every scenario is a router over the real ``openai`` SDK with the benchmarks' in-memory
``httpx.MockTransport`` (``_canned.py``: the same canned completion for every call):

- "miss, no cache": the router as it is without a cache (the baseline);
- "miss, memory cache" / "miss, Redis cache": a cache is on and every call is new (a counter in
  the prompt), so each pays the lookup, the provider call and the store;
- "hit, memory cache" / "hit, Redis cache": the same request again and again.

Sync calls in sequence, and async calls at concurrency 10 (one event loop), in CPU time of this
process (``_harness``: the machine is shared); the sync calls also in wall time, which adds the
Redis round trips (a local ``redis-server``, the tests' launcher). Scenarios alternate batch by
batch (``_harness.alternate``); figures are the mean of the fastest fifth of the batches.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _calls(router: Any, hit: bool) -> tuple[Any, Any]:
    from _canned import MESSAGES, MODEL

    if hit:
        def sync() -> Any:
            return router.chat(model=MODEL, messages=MESSAGES)

        async def aio() -> Any:
            return await router.achat(model=MODEL, messages=MESSAGES)

        sync()  # stored once; every measured call is a hit
        return sync, aio
    counter = itertools.count()

    def sync_miss() -> Any:
        return router.chat(model=MODEL, messages=[
            {"role": "user", "content": f"Hello, how are you today? ({next(counter)})"}])

    async def aio_miss() -> Any:
        return await router.achat(model=MODEL, messages=[
            {"role": "user", "content": f"Hello, how are you today? ({next(counter)})"}])

    return sync_miss, aio_miss


def run(quick: bool = False) -> dict[str, Any]:
    from _harness import alternate, alternate_async, stat
    from bench_openai import make_router
    from conftest import RedisServer

    n, rounds = (100, 5) if quick else (200, 15)
    server = RedisServer()
    routers: list[Any] = []
    try:
        url = server.url(0)
        scenarios = [("miss, no cache", {}, False),
                     ("miss, memory cache", {"cache": True}, False),
                     ("hit, memory cache", {"cache": True}, True),
                     ("miss, Redis cache", {"cache": {"url": url}}, False),
                     ("hit, Redis cache", {"cache": {"url": url}}, True)]
        sync_calls: dict[str, Any] = {}
        async_calls: dict[str, Any] = {}
        for name, kw, hit in scenarios:
            router = make_router(**kw)
            routers.append(router)
            sync_calls[name], async_calls[name] = _calls(router, hit)
        sync = alternate(sync_calls, n, rounds, warmup=100)
        wall = alternate(sync_calls, n, rounds, timer=time.perf_counter)

        # calls per CPU-second at concurrency 10, as µs per call
        tput = alternate_async(async_calls, n, 10, rounds)
        aio = {name: [1e6 / x for x in xs] for name, xs in tput.items()}
        hits = {name: routers[i].cache.stats() for i, (name, _, _) in enumerate(scenarios)
                if routers[i].cache is not None}
        for router in routers:
            router.close()
    finally:
        server.stop()
    base = "miss, no cache"
    bs, ba = (stat(x[base]).best for x in (sync, aio))
    rows = ["| scenario | sync µs/call (CPU) | vs miss without cache | async µs/call (CPU) | "
            "vs miss without cache | sync µs/call (wall) |", "|---|---|---|---|---|---|"]
    results: dict[str, Any] = {}
    for name in sync_calls:
        s, a, w = (stat(x[name]).best for x in (sync, aio, wall))
        results[name] = {"sync": s, "async": a, "wall": w}
        rows.append(f"| {name} | {s:.1f} | {s / bs:.2f}x | {a:.1f} | {a / ba:.2f}x | "
                    f"{w:.1f} |")
    md = "\n".join(rows) + (
        f"\n\nMean of the fastest fifth of {rounds} alternating batches of {n} sequential "
        "calls per scenario (async: the same number at concurrency 10). Miss rows send a new "
        "prompt every call. "
        "Cache counters after the run: " + "; ".join(
            f"{k}: {v['hits']} hits, {v['misses']} misses" for k, v in hits.items()) + ".")
    return {"results": results, "markdown": md}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
