"""Projects and keys: created once, stored hashed with a salt, verified in constant time,
revoked; ``api_key=`` / ``project=`` scope records and providers, on both drivers."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from decimal import Decimal

import pytest
from parity import MODES, call, raises, stream

from cencori_core import (
    AuthenticationError,
    ConfigurationError,
    ProviderNotConfiguredError,
    Router,
)
from cencori_core.accounting import projects as projects_module
from cencori_core.testing import FakeProvider, UsageRecorder

USER = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def setup():
    fake = FakeProvider(name="openai", models=["gpt-4o"])
    sink = UsageRecorder()
    router = Router(providers={"openai": fake}, load_entrypoints=False, plugins=[sink])
    yield router, fake, sink
    router.close()


def test_create_returns_a_key_once_and_lists_only_ids(setup):
    router, _, _ = setup
    key = router.projects.create("acme", providers=["openai"], budget=Decimal("25"),
                                 rate_limits={"rpm": 60, "tpm": 100_000})
    assert re.fullmatch(r"csk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    (p,) = router.projects.list()
    assert (p.name, p.providers, p.budget, p.rate_limits) == (
        "acme", ("openai",), Decimal("25"), {"rpm": 60, "tpm": 100_000})
    assert [k.id for k in p.keys] == [key[:16]]
    listed = json.dumps([x.to_dict() for x in router.projects.list()])
    assert key not in listed and key[17:] not in listed


def test_existing_name_is_a_configuration_error(setup):
    router, _, _ = setup
    router.projects.create("acme")
    with pytest.raises(ConfigurationError, match="already exists"):
        router.projects.create("acme", providers=["openai"])


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "has space"}, "without spaces"),
    ({"name": "acme", "providers": "openai"}, "list of provider names"),
    ({"name": "acme", "budget": -1}, "non-negative"),
    ({"name": "acme", "budget": True}, "USD amount"),
    ({"name": "acme", "rate_limits": {"rpm": 0}}, "positive integer"),
    ({"name": "acme", "rate_limits": {"rps": 3}}, "unknown key"),
    ({"name": "acme", "budget": 1, "budget_window": "week"}, "total, day, month"),
])
def test_bad_projects_are_refused(setup, kwargs, match):
    router, _, _ = setup
    name = kwargs.pop("name")
    with pytest.raises(ConfigurationError, match=match):
        router.projects.create(name, **kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_key_and_project_scope_the_usage_record(setup, mode):
    router, _, sink = setup
    # without any project, project= is a label for the usage records
    call(router, mode, "chat", model="gpt-4o", messages=USER, project="label-only")
    key = router.projects.create("acme")
    call(router, mode, "chat", model="gpt-4o", messages=USER, api_key=key)
    call(router, mode, "chat", model="gpt-4o", messages=USER, project="acme")
    stream(router, mode, model="gpt-4o", messages=USER, api_key=key)
    assert [r.project for r in sink.records] == ["label-only", "acme", "acme", "acme"]
    assert router.usage.summary(by="project")[0].calls == 3


@pytest.mark.parametrize("mode", MODES)
def test_an_unknown_project_is_refused_when_projects_are_in_use(setup, mode):
    # issue 13, item 11: project="unknown" used to pass silently, outside the budget and the
    # provider limits of every project
    router, fake, sink = setup
    router.projects.create("acme", budget="1")
    router.projects.create("beta")
    err = raises(router, mode, "chat", AuthenticationError, model="gpt-4o", messages=USER,
                 project="unknown")
    assert "'acme', 'beta'" in str(err) and "router.projects.create('unknown')" in str(err)
    err = raises(router, mode, "chat_stream", AuthenticationError, model="gpt-4o",
                 messages=USER, project="acm")
    assert fake.calls == [] and [r.status for r in sink.records] == ["error", "error"]


@pytest.mark.parametrize("mode", MODES)
def test_unknown_or_revoked_key_is_authentication_error(setup, mode):
    router, fake, sink = setup
    key = router.projects.create("acme")
    forged = key[:17] + ("A" if key[17] != "A" else "B") + key[18:]
    for bad in (forged, "csk_000000000000_" + "x" * 43, "sk-not-a-project-key", key + "x"):
        err = raises(router, mode, "chat", AuthenticationError, model="gpt-4o",
                     messages=USER, api_key=bad)
        assert bad not in str(err) and key not in str(err)
    assert router.projects.revoke(key) is True
    assert router.projects.revoke(key) is False  # already revoked
    raises(router, mode, "chat_stream", AuthenticationError, model="gpt-4o", messages=USER,
           api_key=key)
    assert fake.calls == []  # nothing was sent
    assert {r.status for r in sink.records} == {"error"}
    assert router.projects.list()[0].keys[0].revoked is not None


def test_revoke_by_id_and_rotation(setup):
    router, _, _ = setup
    first = router.projects.create("acme")
    second = router.projects.add_key("acme")
    router.projects.revoke(first[:16])
    with pytest.raises(AuthenticationError):
        router.chat(model="gpt-4o", messages=USER, api_key=first)
    assert router.chat(model="gpt-4o", messages=USER, api_key=second).content
    with pytest.raises(ConfigurationError, match="unknown project key"):
        router.projects.revoke("csk_ffffffffffff")
    with pytest.raises(ConfigurationError, match="no project"):
        router.projects.add_key("nobody")


@pytest.mark.parametrize("mode", MODES)
def test_provider_not_enabled_says_how_to_enable_it(setup, mode):
    router, fake, _ = setup
    key = router.projects.create("acme", providers=["openai"])
    err = raises(router, mode, "chat", ProviderNotConfiguredError, model="echo/echo",
                 messages=USER, api_key=key)
    assert err.provider == "echo"
    assert "router.projects.update('acme', providers=['openai', 'echo'])" in str(err)
    router.projects.update("acme", providers=["openai", "echo"])
    assert call(router, mode, "chat", model="echo/echo", messages=USER, api_key=key).content


def test_key_of_another_project_is_refused(setup):
    router, _, _ = setup
    key = router.projects.create("acme")
    router.projects.create("other")
    with pytest.raises(AuthenticationError, match="does not belong"):
        router.chat(model="gpt-4o", messages=USER, api_key=key, project="other")


def test_keys_are_stored_as_salted_hashes(tmp_path):
    path = tmp_path / "cencori.db"
    router = Router(load_entrypoints=False, ledger_path=path)
    k1 = router.projects.create("a")
    k2 = router.projects.create("b")
    router.close()
    raw = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("cencori.db-*"))
    assert k1.encode() not in raw and k2.encode() not in raw
    with sqlite3.connect(path) as conn:
        rows = [json.loads(r[0]) for r in conn.execute("SELECT data FROM keys")]
    assert len({r["salt"] for r in rows}) == 2
    for row, key in zip(sorted(rows, key=lambda r: r["project"]), (k1, k2), strict=True):
        assert row["hash"] == hashlib.sha256(bytes.fromhex(row["salt"]) + key.encode()).hexdigest()
        assert row["hash"] != hashlib.sha256(key.encode()).hexdigest()


def test_keys_persist_in_the_ledger_file(tmp_path):
    path = tmp_path / "cencori.db"
    with Router(load_entrypoints=False, ledger_path=path) as router:
        key = router.projects.create("acme", budget="5", budget_window="day")
    with Router(load_entrypoints=False, ledger_path=path) as router:
        assert router.chat(model="echo/echo", messages=USER, api_key=key).content
        assert router.projects.list()[0].budget == Decimal(5)
        with pytest.raises(ConfigurationError, match="already exists"):
            router.projects.create("acme")


def test_verification_compares_digests_in_constant_time(setup, monkeypatch):
    """Every verification (valid key, wrong secret, unknown id, malformed) goes through
    hmac.compare_digest on full digests, never ``==`` on the key."""
    router, _, _ = setup
    key = router.projects.create("acme")
    seen = []
    real = projects_module.hmac.compare_digest

    def spy(a, b):
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(projects_module.hmac, "compare_digest", spy)
    router.projects.verify(key)
    for bad in (key[:-1] + "?", "csk_0123456789ab_" + "a" * 43, "nonsense"):
        with pytest.raises(AuthenticationError):
            router.projects.verify(bad)
    assert seen == [(64, 64)] * 4
