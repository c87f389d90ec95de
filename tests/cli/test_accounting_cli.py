"""``cencori usage`` and ``cencori keys create|list|revoke`` on $CENCORI_HOME/cencori.db."""

from __future__ import annotations

import json

import pytest

from cencori_core import AuthenticationError, Router
from cencori_core.accounting.cli import db_path
from cencori_core.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CENCORI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_keys_create_list_revoke(home, capsys):
    assert main(["keys", "create", "acme", "--provider", "openai", "--provider", "echo",
                 "--budget", "5", "--window", "day", "--rpm", "60"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("csk_") and "not shown again" in out.err
    assert db_path() == str(home / "cencori.db")

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key[:16] in listing and key not in listing
    assert "openai,echo" in listing and "5 / day" in listing and "rpm=60" in listing

    # the application sees the key through the same file
    with Router(load_entrypoints=False, ledger_path=db_path()) as router:
        assert router.chat(model="echo/echo", messages=[{"role": "user", "content": "hi"}],
                           api_key=key).content

    assert main(["keys", "create", "acme"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["keys", "create", "acme", "--existing"]) == 0
    second = capsys.readouterr().out.strip()
    assert second != key

    assert main(["keys", "revoke", key[:16]]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["keys", "revoke", "csk_nope"]) == 2
    with Router(load_entrypoints=False, ledger_path=db_path()) as router, \
            pytest.raises(AuthenticationError):
        router.chat(model="echo/echo", messages=[{"role": "user", "content": "hi"}],
                    api_key=key)
    assert main(["keys", "list", "--json"]) == 0
    (project,) = json.loads(capsys.readouterr().out)
    assert [k["revoked"] is not None for k in project["keys"]] == [True, False]


def test_usage_prints_the_ledger_summary(home, capsys):
    assert main(["usage"]) == 0
    assert "no usage recorded" in capsys.readouterr().out
    with Router(load_entrypoints=False, ledger_path=db_path()) as router:
        for user in ("ann", "ann", "bob"):
            router.chat(model="echo/echo", messages=[{"role": "user", "content": "hi"}],
                        user=user)
    assert main(["usage", "--by", "user"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["USER", "CALLS", "ERRORS"]
    assert out[2].split()[:2] == ["ann", "2"] and out[3].split()[:2] == ["bob", "1"]
    assert out[-1].split()[:2] == ["TOTAL", "3"]
    assert main(["usage", "--json", "--since", "2000-01-01"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["key"] == "echo" and row["calls"] == 3 and row["unpriced"] == 3
    assert row["cost"] == 0 and isinstance(row["cost"], float)
    assert main(["usage", "--since", "not a date"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
