"""Accounting of cache hits: no budget reservation, no rate-limit tokens, cost 0 with the saved
cost beside it in records, summaries (memory and SQLite ledgers) and the call's span.

Decision tested here: a hit costs nothing, so a budget that refuses a miss still serves a hit
(and a rate limit that is full still serves one): the cache never spends what the limits guard.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from parity import MODES, call, raises, stream

from cencori_core import BudgetExceededError, RateLimitExceededError, Router, Usage
from cencori_core.testing import FakeProvider, UsageRecorder, reply

USER = [{"role": "user", "content": "Hello"}]
PRICES = {"m": {"input": 0, "output": 1_000_000}}  # $1 per output token
D = Decimal


def make(**kw: Any) -> tuple[Router, FakeProvider, UsageRecorder]:
    fake = FakeProvider(name="local", models=["m"])
    sink = UsageRecorder()
    router = Router(providers={"local": fake}, load_entrypoints=False, plugins=[sink],
                    prices=PRICES, cache=kw.pop("cache", True), **kw)
    return router, fake, sink


def out(n: int) -> Any:
    return reply("ok", usage=Usage.of(0, n))


@pytest.mark.parametrize("mode", MODES)
def test_a_hit_reserves_no_budget_and_is_served_when_a_miss_would_be_refused(mode: str) -> None:
    router, fake, sink = make(budgets=[{"limit": "5"}])
    fake.script(out(4))
    call(router, mode, "chat", model="m", messages=USER, max_tokens=4)  # reserves $4, spends $4
    assert router.usage.budget().spent == D(4)
    # a miss now needs $4 more than the $1 left: refused before any network call
    raises(router, mode, "chat", BudgetExceededError, model="m",
           messages=[{"role": "user", "content": "other"}], max_tokens=4)
    hit = call(router, mode, "chat", model="m", messages=USER, max_tokens=4)
    _, s = stream(router, mode, model="m", messages=USER, max_tokens=4)
    assert hit.cache_hit and s.response.cache_hit
    state = router.usage.budget()
    assert (state.spent, state.reserved) == (D(4), D(0))
    assert len(fake.calls) == 1
    assert [r.status for r in sink.records] == ["ok", "blocked", "ok", "ok"]


@pytest.mark.parametrize("mode", MODES)
def test_a_hit_takes_no_rate_limit_tokens(mode: str) -> None:
    router, fake, _ = make(rate_limits=[{"rpm": 1}])
    call(router, mode, "chat", model="m", messages=USER)
    for _ in range(3):
        assert call(router, mode, "chat", model="m", messages=USER).cache_hit
    raises(router, mode, "chat", RateLimitExceededError, model="m",
           messages=[{"role": "user", "content": "a miss"}])
    assert len(fake.calls) == 1


@pytest.mark.parametrize("ledger", ["memory", "sqlite"])
def test_summaries_show_hits_and_savings(ledger: str, tmp_path: Any) -> None:
    path = tmp_path / "ledger.db" if ledger == "sqlite" else None
    router, fake, _ = make(ledger_path=path)
    fake.script(out(3), out(2))
    for _ in range(3):
        router.chat(model="m", messages=USER)
    router.chat(model="m", messages=[{"role": "user", "content": "other"}])
    [row] = router.usage.summary(by="model")
    assert (row.calls, row.cache_hits, row.cost, row.saved_cost) == (4, 2, D(5), D(6))
    assert row.to_dict()["saved_cost"] == "6"
    router.close()
    if path is not None:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT cache_hit, saved_cost, cost FROM usage ORDER BY time")
            assert sorted(rows.fetchall()) == [(0, None, "2"), (0, None, "3"),
                                               (1, "3", "0"), (1, "3", "0")]
        from cencori_core._report import read_groups  # what `cencori usage --html` charts

        groups, has_saved = read_groups(str(path))
        assert has_saved and sum(g.saved for g in groups) == D(6)


def test_an_older_ledger_file_gets_the_cache_columns(tmp_path: Any) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the table as the first release created it
        conn.execute("CREATE TABLE usage (request_id TEXT PRIMARY KEY, time REAL NOT NULL, "
                     "day TEXT NOT NULL, project TEXT, user TEXT, provider TEXT, model TEXT, "
                     "deployment TEXT, operation TEXT NOT NULL, status TEXT NOT NULL, error "
                     "TEXT, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, "
                     "total_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, "
                     "cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, "
                     "audio_seconds REAL, characters INTEGER, images INTEGER, usage_source TEXT "
                     "NOT NULL, cost TEXT, cost_input TEXT, cost_output TEXT, cost_cached_input "
                     "TEXT, cost_cache_write TEXT, cost_reason TEXT, latency_ms REAL NOT NULL, "
                     "attempts INTEGER NOT NULL, tags TEXT)")
        conn.execute("INSERT INTO usage VALUES ('old', 1.0, '1970-01-01', NULL, NULL, 'local', "
                     "'m', NULL, 'chat', 'ok', NULL, 1, 1, 2, 0, 0, 0, NULL, NULL, NULL, "
                     "'provider', '1', '0', '1', '0', '0', NULL, 1.0, 1, NULL)")
    router, fake, _ = make(ledger_path=path)
    router.chat(model="m", messages=USER)
    router.chat(model="m", messages=USER)
    [row] = router.usage.summary(by="model")
    assert (row.calls, row.cache_hits) == (3, 1)
    router.close()


@pytest.mark.parametrize("mode", MODES)
def test_the_span_says_it_was_a_hit(mode: str) -> None:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    router, fake, _ = make(tracer_provider=tp, telemetry=True)
    fake.script(out(3))
    call(router, mode, "chat", model="m", messages=USER)
    call(router, mode, "chat", model="m", messages=USER)
    call(router, mode, "chat", model="m", messages=USER, cache=False)
    calls = [s for s in exporter.get_finished_spans() if not s.name.startswith("attempt")]
    assert [s.attributes.get("cencori.cache.hit") for s in calls] == [False, True, None]
    assert calls[1].attributes["cencori.cache.saved_usd"] == 3.0
    assert calls[1].attributes["cencori.cost_usd"] == 0.0
    assert calls[1].attributes["cencori.attempts"] == 0
    tp.shutdown()
