"""Key store and ledger files (issue 13, item 10): created private, and a tampered or corrupt
store is a ConfigurationError naming the file, through the Router and the CLI.

Before: the file was 0644 and $CENCORI_HOME 0755; a tampered record raised JSONDecodeError,
KeyError or ValueError from inside the call.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
import redis as redis_py
from acct_fixtures import redis_url_fixture  # noqa: F401 - the redis_url fixture

from cencori_core import ConfigurationError, Router
from cencori_core.cli import main

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CENCORI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_the_cli_creates_a_private_home_and_file(home, capsys):
    assert main(["keys", "create", "acme"]) == 0
    assert (home.stat().st_mode & 0o777) == 0o700
    assert ((home / "cencori.db").stat().st_mode & 0o777) == 0o600
    for side in home.iterdir():
        assert (side.stat().st_mode & 0o077) == 0, side


def _tamper(path, sql, *args):
    conn = sqlite3.connect(path)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


TAMPERED_KEYS = [
    "{not json",
    json.dumps(["a", "list"]),
    json.dumps({"id": "csk_0123456789ab", "project": "acme", "created": 1.0}),  # no salt/hash
    json.dumps({"id": "csk_0123456789ab", "project": "acme", "created": 1.0, "salt": "zz",
                "hash": "00"}),
]


@pytest.mark.parametrize("data", TAMPERED_KEYS, ids=["json", "list", "missing", "hex"])
def test_a_tampered_key_record_names_the_file(tmp_path, data, home, capsys):
    db = tmp_path / "l.db"
    with Router(load_entrypoints=False, ledger_path=db) as router:
        key = router.projects.create("acme")
    _tamper(db, "UPDATE keys SET data = ?", data)
    with Router(load_entrypoints=False, ledger_path=db) as router:
        with pytest.raises(ConfigurationError, match="l.db.*corrupt") as info:
            router.chat(model="echo/echo", messages=MSG, api_key=key)
        assert key not in str(info.value)
        with pytest.raises(ConfigurationError, match="l.db"):
            router.projects.list()
    # the CLI: one line on stderr naming the file, exit code 2
    home.mkdir(mode=0o700)
    (home / "cencori.db").write_bytes(db.read_bytes())
    assert main(["keys", "list"]) == 2
    err = capsys.readouterr().err
    assert "cencori.db" in err and "Traceback" not in err


def test_a_tampered_project_record_names_the_file(tmp_path):
    db = tmp_path / "l.db"
    with Router(load_entrypoints=False, ledger_path=db) as router:
        key = router.projects.create("acme", budget="5")
    _tamper(db, "UPDATE projects SET data = ?",
            json.dumps({"name": "acme", "budget": "five dollars"}))
    with Router(load_entrypoints=False, ledger_path=db) as router, \
            pytest.raises(ConfigurationError, match="l.db.*project 'acme'.*budget"):
        router.chat(model="echo/echo", messages=MSG, api_key=key)


def test_a_file_that_is_not_a_database(tmp_path, home, capsys):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 2\x00" + b"garbage" * 500)
    with pytest.raises(ConfigurationError, match="bad.db"):
        Router(load_entrypoints=False, ledger_path=bad)
    home.mkdir(mode=0o700)
    (home / "cencori.db").write_bytes(bad.read_bytes())
    assert main(["usage"]) == 2
    assert "cencori.db" in capsys.readouterr().err


def test_a_tampered_redis_record_names_the_hash(redis_url):
    with Router(load_entrypoints=False, redis_url=redis_url) as router:
        key = router.projects.create("acme")
    raw = redis_py.Redis.from_url(redis_url)
    raw.hset("cencori:keys", key[:16], "{not json")
    raw.close()
    with Router(load_entrypoints=False, redis_url=redis_url) as router, \
            pytest.raises(ConfigurationError, match="cencori:keys"):
        router.chat(model="echo/echo", messages=MSG, api_key=key)
