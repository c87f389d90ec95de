"""The cost of accounting per call: ledgers, budgets and rate limits on memory and Redis stores.

    python benchmarks/bench_accounting.py [--quick]

Every scenario runs the same router call (``gpt-4o`` on an offline fake provider registered as
``openai``, so each call is priced from genai-prices) and reports the median microseconds per
call, sync (sequential) and async (100 concurrent calls). "accounting off" removes the built-in
ledger sink and uses no budget or limit: the difference to it is what accounting costs. The Redis
scenarios start their own ``redis-server`` on 127.0.0.1 (the one the tests use).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
MSG = [{"role": "user", "content": "Hello, how are you today?"}]
BUDGET = {"budget": "1000000"}
LIMITS = {"budget": "1000000", "rate_limits": {"rpm": 1_000_000, "tpm": 100_000_000}}
DEPLOYS: dict[str, Any] = {"routing_strategy": "least_busy", "deployments": {"fast": [
    {"provider": "echo", "model": "echo", "name": "one"},
    {"provider": "echo", "model": "echo", "name": "two"}]}}
ROUTED = {"model": "fast"}  # not a project: the call's model


def _router(**kw: Any) -> Any:
    from cencori_core import Router
    from cencori_core.testing import FakeProvider

    fake = FakeProvider(name="openai", models=["gpt-4o"])
    return Router(providers={"openai": fake}, load_entrypoints=False, **kw)


def _without_ledger(router: Any) -> Any:
    router.plugin_manager.unregister(name="cencori-ledger")
    router._refresh_hooks()
    return router


async def _batch(acall: Any, n: int, concurrency: int = 100) -> float:
    """Wall µs per call of ``n`` calls, ``concurrency`` at a time."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await acall()

    t = time.perf_counter()
    await asyncio.gather(*[one() for _ in range(n)])
    return (time.perf_counter() - t) / n * 1e6


def _async_alternating(calls: dict[str, Any], n: int, rounds: int) -> dict[str, list[float]]:
    """Per-call µs of each scenario's async batches, scenarios alternating, one event loop (the
    Redis scenarios' async clients belong to it)."""
    async def main() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {name: [] for name in calls}
        for acall in calls.values():
            await _batch(acall, min(n, 200))  # warm-up (and the per-loop Redis clients)
        names = list(calls)
        for i in range(rounds):
            k = i % len(names)
            for name in names[k:] + names[:k]:
                out[name].append(await _batch(calls[name], n))
        return out

    return asyncio.run(main())


def _scenarios(tmp: str, redis_url: str | None) -> list[tuple[str, Any, dict[str, Any]]]:
    out: list[tuple[str, Any, dict[str, Any]]] = [
        ("accounting off", lambda: _without_ledger(_router()), {}),
        ("memory ledger (default)", lambda: _router(), {}),
        ("SQLite ledger", lambda: _router(ledger_path=f"{tmp}/ledger.db"), {}),
        ("memory: project key + budget", lambda: _router(), BUDGET),
        ("memory: project key + budget + rpm/tpm", lambda: _router(), LIMITS),
    ]
    if redis_url:
        out += [("Redis: project key + budget", lambda: _router(redis_url=redis_url), BUDGET),
                ("Redis: project key + budget + rpm/tpm",
                 lambda: _router(redis_url=redis_url), LIMITS)]
    # Routing among two deployments (echo: no price, no accounting beyond the ledger):
    # least_busy reads in-flight counts, shared through Redis when redis_url is set.
    out.append(("memory: 2 deployments, least_busy", lambda: _router(**DEPLOYS), ROUTED))
    if redis_url:
        out.append(("Redis: 2 deployments, least_busy",
                    lambda: _router(redis_url=redis_url, **DEPLOYS), ROUTED))
    return out


def run(quick: bool = False) -> dict[str, Any]:
    from _harness import alternate, stat
    from conftest import RedisServer  # the tests' redis-server launcher

    from cencori_core.accounting.pricing import Pricing
    from cencori_core.types import Usage

    # The rpm window is a moving window: its cost grows with the requests it holds, so every
    # scenario makes the same number of calls; scenarios alternate batch by batch. Wall time:
    # the Redis scenarios wait on the server.
    n, rounds = (100, 5) if quick else (100, 15)
    server = RedisServer()
    routers = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sync_calls: dict[str, Any] = {}
            async_calls: dict[str, Any] = {}
            for i, (name, build, limits) in enumerate(_scenarios(tmp, server.url(0))):
                router = build()
                routers.append(router)
                kw: dict[str, Any] = {"model": "gpt-4o", "messages": MSG}
                if limits is ROUTED:
                    kw.update(ROUTED)
                elif limits:
                    kw["api_key"] = router.projects.create(f"bench-{i}", **limits)
                sync_calls[name] = lambda r=router, kw=kw: r.chat(**kw)
                async_calls[name] = lambda r=router, kw=kw: r.achat(**kw)
            sync = alternate(sync_calls, n, rounds, warmup=200, timer=time.perf_counter)
            aio = _async_alternating(async_calls, n, rounds)
            trips = {name: _scripts_per_call(server.url(0), call)
                     for name, call in sync_calls.items() if name.startswith("Redis")}
            for router in routers:
                router.close()
    finally:
        server.stop()
    results = {name: (stat(sync[name]).median, stat(aio[name]).median) for name in sync}
    pricing = Pricing()
    usage = Usage.of(1200, 300, cached_tokens=1024)
    pricing.cost("openai", "gpt-4o", usage)
    price_us = stat(alternate({"price": lambda: pricing.cost("openai", "gpt-4o", usage)},
                              10_000, 7)["price"]).best

    base_sync, base_async = results["accounting off"]
    lines = ["| scenario | sync µs/call | + vs off | async µs/call (100 concurrent) | + vs off |",
             "|---|---|---|---|---|"]
    for name, (s, a) in results.items():
        lines.append(f"| {name} | {s:.1f} | {s - base_sync:+.1f} | {a:.1f} | "
                     f"{a - base_async:+.1f} |")
    lines += ["", f"Wall time, medians of {rounds} alternating batches of {n} calls per "
              f"scenario. Pricing one call (gpt-4o, cached tokens): {price_us:.2f} µs (CPU)."]
    lines += ["", "Redis round trips per call (commands clients sent, seen with MONITOR, the "
              "key and project cached; independent of load):"]
    lines += [f"- {name}: {t:.2f}" for name, t in trips.items()]
    return {"markdown": "\n".join(lines), "results": results, "price_us": price_us,
            "round_trips": trips}


def _scripts_per_call(url: str, call: Any, n: int = 100) -> float:
    """Round trips to Redis per call: the commands clients sent (MONITOR; those a script runs
    on the server are not round trips), the key and project cached, background senders
    settled."""
    import threading

    import redis

    call()
    time.sleep(0.1)  # the change listener subscribed, released attempts sent
    call()
    time.sleep(0.05)
    end = "cencori-bench-end"
    mon_client, ender = redis.Redis.from_url(url), redis.Redis.from_url(url)
    ender.ping()
    seen = [0]
    try:
        with mon_client.monitor() as mon:
            def collect() -> None:
                while True:
                    cmd = mon.next_command()
                    if end in cmd["command"]:
                        return
                    if cmd["client_type"] != "lua":
                        seen[0] += 1

            reader = threading.Thread(target=collect)
            reader.start()
            for _ in range(n):
                call()
            time.sleep(0.05)  # releases the last calls left to the background sender
            ender.echo(end)
            reader.join(30)
    finally:
        mon_client.close()
        ender.close()
    return seen[0] / n


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
