"""The ``cencori_core`` logger: NullHandler, one INFO line per call, DEBUG details, secret mask,
``CENCORI_LOG``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cencori_core import AllAttemptsFailedError, RetryPolicy, Router, Usage, hookimpl
from cencori_core import _logging as clog
from cencori_core.testing import FakeProvider, http_error, reply

KEY = "sk-test-LOGGINGSECRET0123456789"
PROMPT = "my password is hunter2-correct-horse"
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, jitter=0)


class _Records:
    """caplog's records of the test's call phase, read when asked (caplog swaps its list)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return iter(self.caplog.records)

    def __getitem__(self, i: int) -> logging.LogRecord:
        return self.caplog.records[i]


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> _Records:
    caplog.set_level(logging.DEBUG, logger="cencori_core")
    return _Records(caplog)


@pytest.fixture(autouse=True)
def _no_env_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CENCORI_LOG", raising=False)
    clog.configure_from_env()
    yield
    monkeypatch.delenv("CENCORI_LOG", raising=False)
    clog.configure_from_env()


def _router(fake: FakeProvider) -> Router:
    return Router(providers={"openai": fake, "vault": {"type": "echo", "api_key": KEY}},
                  load_entrypoints=False, retry=FAST, telemetry=False)


def _fake() -> FakeProvider:
    return FakeProvider(models=["gpt-4o"])


def _info(records: _Records) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno == logging.INFO and r.name == "cencori_core"]


def test_logger_has_a_null_handler_and_the_root_logger_is_untouched() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    router = Router(load_entrypoints=False, telemetry=False)
    router.chat(model="echo/echo", messages=[{"role": "user", "content": "x"}])
    assert (list(root.handlers), root.level) == before
    logger = logging.getLogger("cencori_core")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    assert logger.level == logging.NOTSET


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_one_info_line_per_call(records: _Records, mode: str) -> None:
    fake = _fake().script(reply("hi", usage=Usage.of(12, 3)))
    router = _router(fake)
    args: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}],
                            "project": "acme"}
    r = router.chat(**args) if mode == "sync" else asyncio.run(router.achat(**args))

    (line,) = _info(records)
    msg = line.getMessage()
    assert msg.startswith("chat gpt-4o (openai) ok: 12+3 tokens, cost $")
    assert f"[{r.id}]" in msg and "1 attempt(s)" in msg and " ms" in msg
    fields = line.cencori  # type: ignore[attr-defined]
    assert fields["model"] == "gpt-4o" and fields["provider"] == "openai"
    assert fields["status"] == "ok" and fields["error"] is None
    assert fields["prompt_tokens"] == 12 and fields["completion_tokens"] == 3
    assert r.cost is not None and fields["cost_usd"] == str(r.cost.total)
    assert fields["latency_ms"] > 0 and fields["attempts"] == 1 and fields["project"] == "acme"


def test_stream_logs_one_line_when_it_ends(records: _Records) -> None:
    fake = _fake().script(reply("a b c", usage=Usage.of(4, 3)))
    router = _router(fake)
    with router.chat_stream(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) as s:
        next(s)
        assert _info(records) == []
        s.text()
    (line,) = _info(records)
    assert "chat gpt-4o (openai) ok: 4+3 tokens" in line.getMessage()


def test_failed_call_logs_status_and_each_attempt(records: _Records) -> None:
    fake = _fake()
    fake.fail(500, times=3)
    router = _router(fake)
    with pytest.raises(AllAttemptsFailedError):
        router.chat(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    (line,) = _info(records)
    assert "chat gpt-4o (openai) error AllAttemptsFailedError: 0+0 tokens, cost unknown" in (
        line.getMessage())
    assert line.cencori["attempts"] == 3  # type: ignore[attr-defined]
    debug = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
    failed = [m for m in debug if " failed: ProviderServerError(status=500" in m]
    assert [m.split(" attempt ")[1].split(" ")[0] for m in failed] == ["1", "2", "3"]
    details = [m for m in debug if " details: route " in m]
    assert len(details) == 1 and "ProviderServerError 500" in details[0]


def test_nothing_is_built_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cencori_core")
    router = _router(_fake())
    router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert [r for r in caplog.records if r.name == "cencori_core"] == []


def test_no_prompt_or_response_text_in_logs(records: _Records) -> None:
    fake = _fake().script(reply("the answer is forty-two-secretly"), http_error(500, "boom"))
    router = _router(fake)
    router.chat(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    text = "\n".join(r.getMessage() for r in records)
    assert text and PROMPT not in text and "forty-two-secretly" not in text


def test_secrets_are_masked(records: _Records) -> None:
    fake = _fake()
    fake.script(*(http_error(500, f"upstream rejected key {KEY}") for _ in range(3)))
    router = _router(fake)
    with pytest.raises(AllAttemptsFailedError):
        router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    log = logging.getLogger("cencori_core")
    log.warning("config dump: %s", {"api_key": KEY})
    try:
        raise RuntimeError(f"exploded with {KEY}")
    except RuntimeError:
        log.exception("while calling")
    formatter = logging.Formatter("%(message)s")
    rendered = "\n".join(formatter.format(r) for r in records)
    assert KEY not in rendered
    assert "upstream rejected key *****" in rendered
    assert "config dump: {'api_key': '*****'}" in rendered
    assert "RuntimeError: exploded with *****" in rendered
    assert router.known_secrets() == [KEY]


class AcmePlugin:
    """A provider plugin whose key comes from the environment."""

    @hookimpl
    def cencori_register_providers(self, register: Any) -> None:
        from cencori_core._echo import make_echo

        register("acme", make_echo, env_keys=("ACME_API_KEY",))


def test_secrets_from_the_environment_are_masked(records: _Records,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_API_KEY", "acme-envsecret-9f8e7d6c5b4a")
    router = Router(plugins=[AcmePlugin()], load_entrypoints=False, telemetry=False)
    assert "acme-envsecret-9f8e7d6c5b4a" in router.known_secrets()
    logging.getLogger("cencori_core").info("key=acme-envsecret-9f8e7d6c5b4a")
    assert records[-1].getMessage() == "key=*****"


def test_extra_secrets_can_be_added(records: _Records) -> None:
    clog.add_secrets(["csk_extra-0123456789abcdef"])
    logging.getLogger("cencori_core").info("project key %s", "csk_extra-0123456789abcdef")
    assert records[-1].getMessage() == "project key *****"


def test_a_closed_dropped_router_is_forgotten() -> None:
    import gc

    router = Router(providers={"tmp": {"type": "echo", "api_key": "sk-test-FORGETME-12345"}},
                    load_entrypoints=False, telemetry=False)
    assert clog.mask("x sk-test-FORGETME-12345") == "x *****"
    router.close()
    del router
    gc.collect()
    assert clog.mask("x sk-test-FORGETME-12345") == "x sk-test-FORGETME-12345"


def test_cencori_log_env_installs_a_stderr_handler(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("cencori_core")
    monkeypatch.setenv("CENCORI_LOG", "debug")
    fake = _fake().script(reply("hi", usage=Usage.of(1, 1)), http_error(500, f"bad {KEY}"))
    router = _router(fake)
    assert logger.level == logging.DEBUG
    router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    Router(load_entrypoints=False, telemetry=False)  # idempotent: still one handler
    err = capsys.readouterr().err
    assert "INFO cencori_core: chat gpt-4o (openai) ok: 1+1 tokens" in err
    assert "DEBUG cencori_core: req_" in err
    streams = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    assert len(streams) == 1 and streams[0].level == logging.DEBUG

    # a child logger's records go through the handler's mask as well
    logging.getLogger("cencori_core.plugin").warning("leaking %s", KEY)
    err = capsys.readouterr().err
    assert KEY not in err and "leaking *****" in err

    monkeypatch.delenv("CENCORI_LOG")
    Router(load_entrypoints=False, telemetry=False)
    assert logger.level == logging.NOTSET
    router.chat(model="echo/echo", messages=[{"role": "user", "content": "x"}])
    assert capsys.readouterr().err == ""


def test_cencori_log_info_level(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CENCORI_LOG", "info")
    router = Router(load_entrypoints=False, telemetry=False)
    router.chat(model="echo/echo", messages=[{"role": "user", "content": "x"}])
    err = capsys.readouterr().err
    assert "INFO cencori_core: chat echo (echo) ok" in err and "DEBUG" not in err


def test_unknown_cencori_log_value_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENCORI_LOG", "loud")
    with pytest.warns(RuntimeWarning, match="CENCORI_LOG='loud'"):
        Router(load_entrypoints=False, telemetry=False)
    assert logging.getLogger("cencori_core").level == logging.INFO
