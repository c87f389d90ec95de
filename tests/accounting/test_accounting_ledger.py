"""Ledgers: in-memory aggregates and the SQLite file; ``router.usage.summary(by=...)``; exactly
one record per call under 10,000 concurrent async calls and under threads."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from cencori_core import InvalidRequestError, Router, Usage, hookimpl
from cencori_core.accounting.ledger import MemoryLedger, SqliteLedger
from cencori_core.testing import FakeProvider, reply
from cencori_core.types import Cost, UsageRecord

USER = [{"role": "user", "content": "Hello"}]
D = Decimal
MILLI = D("0.001")


def rec(i: int, *, model="gpt-4o", provider="openai", project=None, user=None, t=None,
        cost: Decimal | None = MILLI, status="ok", reason=None) -> UsageRecord:
    return UsageRecord(
        request_id=f"req_{i}", project=project, user=user, provider=provider, model=model,
        operation="chat", usage=Usage.of(10, 5, cached_tokens=2, reasoning_tokens=1),
        cost=Cost(input=cost, total=cost) if cost is not None else None, status=status,
        latency_ms=1.0, attempts=[], time=time.time() if t is None else t,
        cost_reason=reason)


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request, tmp_path):
    led = MemoryLedger() if request.param == "memory" else SqliteLedger(tmp_path / "l.db")
    yield led
    led.close()


def test_summary_rows_by_every_dimension(ledger):
    ledger.add(rec(1, project="acme", user="ann"))
    ledger.add(rec(2, project="acme", user="bob", model="gpt-4o-mini"))
    ledger.add(rec(3, model="claude-sonnet-4", provider="anthropic", status="error"))
    ledger.add(rec(4, model="mystery", cost=None, reason="model 'mystery' is not priced"))
    rows = {r.key: r for r in ledger.summary(by="model")}
    assert set(rows) == {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "mystery"}
    r = rows["gpt-4o"]
    assert (r.calls, r.prompt_tokens, r.completion_tokens, r.total_tokens) == (1, 10, 5, 15)
    assert (r.cached_tokens, r.reasoning_tokens, r.cost, r.unpriced) == (2, 1, D("0.001"), 0)
    assert rows["claude-sonnet-4"].errors == 1
    assert rows["mystery"].unpriced == 1 and rows["mystery"].cost == 0
    by_project = ledger.summary(by="project")
    assert [(r.key, r.calls) for r in by_project] == [("acme", 2), (None, 2)]
    assert [r.key for r in ledger.summary(by="user")] == ["ann", "bob", None]
    assert [(r.key, r.calls) for r in ledger.summary(by="provider")] == [("anthropic", 1),
                                                                          ("openai", 3)]
    (day,) = ledger.summary(by="day")
    assert day.key == dt.datetime.now(dt.UTC).strftime("%Y-%m-%d") and day.calls == 4
    assert day.cost == D("0.003") and day.to_dict()["cost"] == "0.003"


def test_summary_since_until(ledger):
    now = time.time()
    ledger.add(rec(1, t=now - 3 * 86400))
    ledger.add(rec(2, t=now))
    (recent,) = ledger.summary(by="model", since=now - 86400)
    assert recent.calls == 1
    (old,) = ledger.summary(by="model", until=dt.datetime.fromtimestamp(now - 86400, dt.UTC))
    assert old.calls == 1
    later = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    assert ledger.summary(by="day", since=later) == []
    with pytest.raises(InvalidRequestError, match="choose one of"):
        ledger.summary(by="colour")
    with pytest.raises(InvalidRequestError, match="ISO 8601"):
        ledger.summary(since="yesterday")


def test_sqlite_ledger_is_wal_exact_and_persists(tmp_path):
    path = tmp_path / "deep" / "ledger.db"
    led = SqliteLedger(path)
    for i in range(1000):
        led.add(rec(i, cost=D("0.000000123")))
    led.add(rec(0))  # the same request id again: kept once
    assert led.count() == 1000
    led.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT cost FROM usage LIMIT 1").fetchone()[0] == "1.23E-7"
    again = SqliteLedger(path)
    (row,) = again.summary(by="model")
    assert row.calls == 1000 and row.cost == D("0.000123")  # a float sum would drift
    again.close()


def test_router_ledger_path_keeps_records_across_routers(tmp_path):
    path = tmp_path / "cencori.db"
    with Router(load_entrypoints=False, ledger_path=path) as router:
        router.chat(model="echo/echo", messages=USER, user="ann")
    with Router(load_entrypoints=False, ledger_path=path) as router:
        router.chat(model="echo/echo", messages=USER, user="bob")
        assert [(r.key, r.calls) for r in router.usage.summary(by="user")] == [("ann", 1),
                                                                               ("bob", 1)]
    # the file can still be read after close
    assert router.usage.summary(by="model")[0].calls == 2


class Count:
    def __init__(self) -> None:
        self.n = 0
        self.tokens = 0

    @hookimpl
    def cencori_record_usage(self, context, record):
        self.n += 1
        self.tokens += record.usage.total_tokens


@pytest.mark.parametrize("where", ["memory", "sqlite"])
def test_10000_concurrent_async_calls_make_exactly_10000_records(tmp_path, where):
    fake = FakeProvider(name="openai", models=["gpt-4o"])
    counter = Count()
    kw = {"ledger_path": tmp_path / "l.db"} if where == "sqlite" else {}
    router = Router(providers={"openai": fake}, load_entrypoints=False, plugins=[counter], **kw)
    n = 10_000
    fake.script(*[reply("ok", usage=Usage.of(10 + i % 7, 1 + i % 3)) for i in range(n)])

    async def main():
        return await asyncio.gather(*[router.achat(model="gpt-4o", messages=USER,
                                                   user=f"u{i % 10}") for i in range(n)])

    responses = asyncio.run(main())
    assert counter.n == n
    (row,) = router.usage.summary(by="model")
    assert row.calls == n
    assert row.prompt_tokens == sum(r.usage.prompt_tokens for r in responses)
    assert row.total_tokens == sum(r.usage.total_tokens for r in responses) == counter.tokens
    assert row.cost == sum((r.cost.total for r in responses), D(0))
    assert sum(r.calls for r in router.usage.summary(by="user")) == n
    if where == "sqlite":
        assert router.usage.ledger.count() == n
    router.close()


def test_sync_calls_from_threads(tmp_path):
    fake = FakeProvider(name="openai", models=["gpt-4o"])
    router = Router(providers={"openai": fake}, load_entrypoints=False,
                    ledger_path=tmp_path / "l.db")
    n = 2000
    fake.script(*[reply("ok", usage=Usage.of(3, 2)) for _ in range(n)])
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda i: router.chat(model="gpt-4o", messages=USER),
                                  range(n)))
    (row,) = router.usage.summary(by="provider")
    assert row.calls == n and row.total_tokens == 5 * n
    assert row.cost == sum((r.cost.total for r in responses), D(0))
    router.close()
