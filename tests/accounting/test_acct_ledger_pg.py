"""The PostgreSQL ledger (issue 19, item 4), against a real PostgreSQL server.

tests/support/pg_server.py starts a private cluster (scripts/test.sh installs Debian's
``postgresql``); every test gets a fresh database.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from cencori_core import ConfigurationError, Router, Usage
from cencori_core.accounting.ledger import LedgerError
from cencori_core.accounting.ledger_pg import SCHEMA_VERSION, PostgresLedger
from cencori_core.cli import main as cli_main
from cencori_core.testing import FakeProvider, UsageRecorder
from cencori_core.types import UsageRecord

HERE = Path(__file__).parent
USER = [{"role": "user", "content": "hello there"}]
PRICES = {"mine": {"input": "1.5", "output": "3"}}


@pytest.fixture
def pg_url(postgres_server):
    return postgres_server.database()


def rec(i: int, t: float | None = None, **kw) -> UsageRecord:
    base = dict(request_id=f"req_{i}", project=None, user=None, provider="p", model="m",
                operation="chat", usage=Usage.of(3, 2), cost=None, status="ok",
                latency_ms=1.0, attempts=[], time=t if t is not None else time.time())
    base.update(kw)
    return UsageRecord(**base)


def rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT request_id, model, project, cost FROM cencori_usage "
                            "ORDER BY request_id").fetchall()


def router(url: str, recorder: UsageRecorder | None = None, **kw) -> Router:
    fake = FakeProvider("local", models=["mine", "other"])
    plugins = [recorder] if recorder is not None else []
    return Router(providers={"local": fake}, load_entrypoints=False, plugins=plugins,
                  prices=PRICES, ledger_url=url, **kw)


def test_router_records_every_call_and_summarises_in_sql(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CENCORI_HOME", str(tmp_path))
    recorder = UsageRecorder()
    with router(pg_url, recorder) as r:
        for i in range(30):
            r.chat(model="mine" if i % 3 else "other", messages=USER,
                   metadata={"i": i}, user=f"u{i % 2}")
        by_model = {row.key: row for row in r.usage.summary(by="model")}
        by_user = {row.key: row for row in r.usage.summary(by="user")}
        assert isinstance(r.usage.ledger, PostgresLedger)
    records = recorder.records
    assert len(records) == 30
    assert by_model["mine"].calls == 20 and by_model["other"].calls == 10
    mine_cost = sum((x.cost.total for x in records if x.model == "mine"), Decimal(0))
    assert mine_cost > 0 and by_model["mine"].cost == mine_cost  # exact, NUMERIC
    assert by_model["other"].unpriced == 10 and by_model["other"].cost == 0
    assert by_model["mine"].prompt_tokens == sum(x.usage.prompt_tokens for x in records
                                                 if x.model == "mine")
    assert {k: v.calls for k, v in by_user.items()} == {"u0": 15, "u1": 15}
    stored = rows(pg_url)
    assert sorted(s[0] for s in stored) == sorted(x.request_id for x in records)


def test_insert_is_idempotent_on_the_request_id(pg_url, tmp_path):
    ledger = PostgresLedger(pg_url, state_dir=str(tmp_path))
    try:
        for _ in range(3):
            for i in range(5):
                ledger.add(rec(i))
            ledger.flush()
        assert ledger.count() == 5
    finally:
        ledger.close()


def test_summary_since_until_and_days(pg_url, tmp_path):
    day = 86_400
    t0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    ledger = PostgresLedger(pg_url, state_dir=str(tmp_path))
    try:
        for i in range(6):
            ledger.add(rec(i, t=t0 + i * day / 2))
        by_day = {row.key: row.calls for row in ledger.summary(by="day")}
        assert by_day == {"2026-01-01": 2, "2026-01-02": 2, "2026-01-03": 2}
        window = ledger.summary(by="model", since=t0 + day / 2, until=t0 + 2 * day)
        assert [(w.key, w.calls) for w in window] == [("m", 3)]
    finally:
        ledger.close()


def test_schema_is_versioned_and_a_newer_one_is_refused(pg_url, tmp_path):
    PostgresLedger(pg_url, state_dir=str(tmp_path)).close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM cencori_schema WHERE component = 'usage'"
                            ).fetchone() == (SCHEMA_VERSION,)
        conn.execute("UPDATE cencori_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigurationError, match="newer than this cencori-core"):
        PostgresLedger(pg_url, state_dir=str(tmp_path))


def test_the_password_never_shows(postgres_server, tmp_path):
    # a server that is not there, with a password in the URL
    url = f"postgresql://bob:hunter2-very-secret@127.0.0.1:{postgres_server.port + 1}/x"
    with pytest.raises(ConfigurationError) as info:
        PostgresLedger(url, state_dir=str(tmp_path), connect_timeout=1)
    import traceback

    text = "".join(traceback.format_exception(info.value))
    assert "hunter2-very-secret" not in text and "*****" in str(info.value)
    with pytest.raises(ConfigurationError, match="postgresql://"):
        PostgresLedger("mysql://x", state_dir=str(tmp_path))


def test_several_processes_write_one_ledger_exactly_once(pg_url, tmp_path):
    procs = [subprocess.Popen([sys.executable, str(HERE / "ledger_pg_child.py"), pg_url,
                               str(tmp_path), "calls", str(n), "150"],
                              stdout=subprocess.PIPE, text=True) for n in range(4)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ids = [i for out in outs for i in json.loads(out.splitlines()[-1])]
    assert len(ids) == 600 == len(set(ids))
    stored = rows(pg_url)
    assert sorted(s[0] for s in stored) == sorted(ids)  # every record, exactly once


def test_a_killed_worker_loses_at_most_its_queue_and_the_next_start_says_so(
        pg_url, tmp_path, caplog):
    # Another connection holds the table locked: the worker's writer blocks in its first
    # batch while its calls go on returning; then the worker is killed with SIGKILL.
    PostgresLedger(pg_url, state_dir=str(tmp_path)).close()  # the schema
    blocker = psycopg.connect(pg_url)
    blocker.execute("LOCK TABLE cencori_usage IN SHARE MODE")  # blocks inserts
    child = subprocess.Popen([sys.executable, str(HERE / "ledger_pg_child.py"), pg_url,
                              str(tmp_path), "hold", "0", "40"], stdout=subprocess.PIPE,
                             text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready, "the worker did not start"
        assert child.stdout.readline().strip() == "added 40"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        blocker.rollback()
        blocker.close()
    assert rows(pg_url) == []  # its open transaction died with it
    caplog.set_level(logging.WARNING, logger="cencori_core")
    ledger = PostgresLedger(pg_url, state_dir=str(tmp_path))
    ledger.close()
    lost = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert lost and f"pid {child.pid}" in lost[0] and "40 usage record(s)" in lost[0]
    # reported once: the file of the dead process is gone
    caplog.clear()
    PostgresLedger(pg_url, state_dir=str(tmp_path)).close()
    assert not [r for r in caplog.records if "not written" in r.getMessage()]


def test_a_clean_exit_reports_nothing(pg_url, tmp_path, caplog):
    done = subprocess.run([sys.executable, str(HERE / "ledger_pg_child.py"), pg_url,
                           str(tmp_path), "calls", "0", "20"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    caplog.set_level(logging.WARNING, logger="cencori_core")
    PostgresLedger(pg_url, state_dir=str(tmp_path)).close()
    assert not [r for r in caplog.records if "not written" in r.getMessage()]
    assert os.listdir(tmp_path / "ledger-state") == []


def test_database_down_calls_go_on_and_the_loss_is_reported(tmp_path, caplog):
    from pg_server import PostgresServer

    server = PostgresServer()  # its own server: this test stops it
    try:
        url = server.database()
        ledger = PostgresLedger(url, state_dir=str(tmp_path), connect_timeout=2)
        ledger.add(rec(1))
        ledger.flush()
        server.stop()
        caplog.set_level(logging.WARNING, logger="cencori_core")
        ledger.add(rec(2))  # never raises on the call path
        with pytest.raises(LedgerError, match="1 usage record"):
            ledger.flush()
        assert [r for r in caplog.records if r.levelno == logging.ERROR]
        server.start()
        ledger.add(rec(3))
        ledger.flush()  # written again once the server is back
        assert ledger.count() == 2
        ledger.close()
    finally:
        server.close()


def test_toml_ledger_url_and_the_cli(pg_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CENCORI_HOME", str(tmp_path))
    cfg = tmp_path / "cencori.toml"
    cfg.write_text(f'[ledger]\nurl = "{pg_url}"\n')
    fake = FakeProvider("local", models=["mine"])
    with Router.from_config(cfg, load_entrypoints=False, providers={"local": fake},
                            prices=PRICES) as r:
        assert isinstance(r.usage.ledger, PostgresLedger)
        for _ in range(3):
            r.chat(model="mine", messages=USER)
    assert cli_main(["usage", "--ledger", pg_url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(row["key"], row["calls"]) for row in out] == [("mine", 3)]
    assert cli_main(["usage", "--config", str(cfg), "--by", "day", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["calls"] == 3
    report = tmp_path / "report.html"
    assert cli_main(["usage", "--ledger", pg_url, "--html", str(report)]) == 0
    assert "mine" in report.read_text() and "wrote" in capsys.readouterr().err
    cfg.write_text(f'[ledger]\nurl = "{pg_url}"\npath = "x.db"\n')
    with pytest.raises(ConfigurationError, match="not both"):
        Router.from_config(cfg, load_entrypoints=False)


def test_ledger_path_and_url_together_are_refused(pg_url, tmp_path):
    with pytest.raises(ConfigurationError, match="not both"):
        Router(load_entrypoints=False, ledger_path=str(tmp_path / "x.db"), ledger_url=pg_url)


def test_cache_hits_and_savings_are_summed_in_sql(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CENCORI_HOME", str(tmp_path))
    with router(pg_url, cache=True) as r:
        first = r.chat(model="mine", messages=USER)
        for _ in range(3):
            assert r.chat(model="mine", messages=USER).cache_hit
        (row,) = r.usage.summary(by="model")
    assert row.calls == 4 and row.cache_hits == 3
    assert first.cost is not None and row.saved_cost == 3 * first.cost.total
    assert row.cost == first.cost.total  # hits cost nothing
