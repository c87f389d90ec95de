"""Enforcement from the outside: 1,000 concurrent async calls mixing plain calls, streams,
cache hits and fallbacks to a dearer model (after a 500) against one budget, in memory and on
the real redis-server of tests/conftest.py. The spend never passes the limit, every call is
recorded exactly once, the budget holds exactly what the records cost, nothing stays reserved.
"""

from __future__ import annotations

import asyncio
import collections
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_py

from cencori_core import (
    BudgetExceededError,
    ProviderServerError,
    RetryPolicy,
    Router,
    Usage,
)
from cencori_core.testing import FunctionProvider, UsageRecorder, reply

PRICES = {"m": {"input": 0, "output": 1_000_000}, "dear": {"input": 0, "output": 3_000_000}}
LIMIT = Decimal(1500)
CALLS = 1000


async def _handler(request: Any) -> Any:
    text = request.messages[-1].text
    await asyncio.sleep(0.001 * (sum(map(ord, text)) % 5))
    if request.model == "m" and text.endswith("7"):  # a tenth of the cheap model's answers fail
        raise ProviderServerError("boom", provider="local", model="m", status_code=500)
    return reply("ok", usage=Usage.of(0, 1 + len(text) % 3))  # 1 to 3 output tokens


def _clean_db(server: Any, db: int) -> str:
    url: str = server.url(db)
    client = redis_py.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_1000_concurrent_mixed_calls_never_overspend_and_are_recorded_once(store, request):
    url = _clean_db(request.getfixturevalue("redis_server"), 9) if store == "redis" else None
    rec = UsageRecorder()
    fn = FunctionProvider(_handler, name="local", models=["m", "dear"])
    router = Router(providers={"local": fn}, plugins=[rec], load_entrypoints=False,
                    prices=PRICES, budgets=[{"limit": str(LIMIT)}], fallbacks={"m": ["dear"]},
                    cache=True, retry=RetryPolicy(max_attempts=1), redis_url=url)

    async def one(i: int) -> tuple[str, Decimal]:
        msgs = [{"role": "user", "content": f"q{i % 300}"}]
        try:
            if i % 4 == 0:
                async with router.achat_stream(model="m", messages=msgs, max_tokens=3) as s:
                    async for _ in s:
                        pass
                r = s.response
                assert r is not None
            else:
                r = await router.achat(model="m", messages=msgs, max_tokens=3,
                                       cache=i % 3 != 0)
            return "ok", r.cost.total if r.cost else Decimal(0)
        except BudgetExceededError:
            return "refused", Decimal(0)

    async def main() -> list[tuple[str, Decimal]]:
        out = await asyncio.gather(*[one(i) for i in range(CALLS)])
        await router.aclose()
        return out

    out = asyncio.run(main())
    outcomes = collections.Counter(o for o, _ in out)
    assert outcomes["ok"] > 0 and outcomes["ok"] + outcomes["refused"] == CALLS
    paid = sum((c for _, c in out), Decimal(0))
    ids = {r.request_id for r in rec.records}
    assert len(rec.records) == len(ids) == CALLS
    statuses = collections.Counter(r.status for r in rec.records)
    assert statuses == {"ok": outcomes["ok"], "blocked": outcomes["refused"]}
    assert sum((r.cost.total for r in rec.records if r.cost), Decimal(0)) == paid
    state = router.usage.budget()
    assert (state.spent, state.reserved) == (paid, 0)
    assert paid <= LIMIT
