"""Chaos, from the outside: the Redis server stops while hundreds of async calls are in flight
against a shared budget, then comes back. Budgets fail closed (documented), no call hangs, every
call is recorded exactly once, the settles that failed are kept and applied once when Redis is
back: the spend Redis holds is exactly what the admitted calls cost, and nothing stays reserved.
"""

from __future__ import annotations

import asyncio
import collections
from decimal import Decimal

from conftest import RedisServer

from cencori_core import BudgetExceededError, CencoriError, Router, Usage
from cencori_core.testing import FunctionProvider, UsageRecorder, reply

PRICES = {"m": {"input": 0, "output": 1_000_000}}  # $1 an output token
CALLS = 300


def test_redis_stopping_under_300_concurrent_calls_loses_and_doubles_nothing():
    server = RedisServer(persist=True)  # a restart keeps the counters, as a real outage would
    try:
        started = 0
        stop_after = CALLS // 3
        gate = asyncio.Event()
        stopped = asyncio.Event()  # the last two thirds start after the outage, so some
        # reservations meet a stopped Redis however fast the machine reserves the first ones

        async def handler(request: object) -> object:
            nonlocal started
            started += 1
            if started == stop_after:
                gate.set()
            await asyncio.sleep(0.02)
            return reply("ok", usage=Usage.of(0, 1))  # $1 each

        rec = UsageRecorder()
        fn = FunctionProvider(handler, name="local", models=["m"])
        router = Router(providers={"local": fn}, plugins=[rec], load_entrypoints=False,
                        prices=PRICES, redis_url=server.url(), budgets=[{"limit": "10000"}])

        async def one(i: int) -> str:
            if i >= stop_after:
                await stopped.wait()
            try:
                await router.achat(model="m", messages=[{"role": "user", "content": f"{i}"}],
                                   max_tokens=1)
                return "ok"
            except BudgetExceededError:
                return "refused"
            except CencoriError as exc:
                return type(exc).__name__

        async def outage() -> None:
            await gate.wait()
            await asyncio.to_thread(server.stop, keep=True)
            stopped.set()

        async def main() -> list[str]:
            results = await asyncio.wait_for(
                asyncio.gather(*[one(i) for i in range(CALLS)], outage()), timeout=120)
            return list(results[:CALLS])

        results = asyncio.run(main())
        counts = collections.Counter(results)
        assert set(counts) <= {"ok", "refused"}, counts  # fail closed, nothing else escapes
        assert counts["ok"] >= stop_after - 1 and counts["refused"] >= 1, counts
        # every call recorded exactly once
        ids = [r.request_id for r in rec.records]
        assert len(ids) == CALLS == len(set(ids))
        assert collections.Counter(r.status for r in rec.records)["ok"] == counts["ok"]
        pending = router.usage.unsettled()
        assert len({p.request_id for p in pending}) == len(pending)

        server.start()
        assert router.usage.retry_unsettled() == 0
        assert router.usage.unsettled() == []
        state = router.usage.budget()
        assert state.spent == Decimal(counts["ok"])  # $1 per admitted call, charged once
        # A reservation whose reply was lost as the server stopped is held until it expires
        # (test_outside_redis_lost_reply.py, xfail): at most one per refused call, $1 each.
        assert state.reserved <= counts["refused"]
        router.close()
    finally:
        server.stop()
