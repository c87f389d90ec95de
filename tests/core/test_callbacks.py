"""``Router(on_success=..., on_error=...)``: callables instead of a plugin."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from cencori_core import (
    AllAttemptsFailedError,
    ConfigurationError,
    PolicyViolationError,
    ProviderBadRequestError,
    RetryPolicy,
    Router,
    Usage,
    hookimpl,
)
from cencori_core.testing import FakeProvider, reply

FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, jitter=0)
MSGS = [{"role": "user", "content": "hi"}]


class Recorder:
    def __init__(self) -> None:
        self.success: list[tuple[Any, Any]] = []
        self.error: list[tuple[Any, BaseException]] = []

    def on_success(self, context: Any, record: Any) -> None:
        self.success.append((context, record))

    def on_error(self, context: Any, error: BaseException) -> None:
        self.error.append((context, error))


def _router(fake: FakeProvider, rec: Recorder, **kw: Any) -> Router:
    return Router(providers={"openai": fake}, load_entrypoints=False, retry=FAST,
                  telemetry=False, on_success=rec.on_success, on_error=rec.on_error, **kw)


def _fake() -> FakeProvider:
    return FakeProvider(models=["gpt-4o"])


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_on_success_once_per_successful_call(mode: str) -> None:
    rec = Recorder()
    fake = _fake().script(reply("hello there", usage=Usage.of(10, 2)))
    router = _router(fake, rec)
    if mode == "sync":
        r = router.chat(model="gpt-4o", messages=MSGS, project="acme")
    elif mode == "async":
        r = asyncio.run(router.achat(model="gpt-4o", messages=MSGS, project="acme"))
    elif mode == "stream":
        with router.chat_stream(model="gpt-4o", messages=MSGS, project="acme") as s:
            s.text()
        r = s.response
    else:
        async def run() -> Any:
            async with router.achat_stream(model="gpt-4o", messages=MSGS, project="acme") as s:
                await s.text()
            return s.response

        r = asyncio.run(run())
    assert rec.error == []
    ((context, record),) = rec.success
    assert context.response is r
    assert record.status == "ok" and record.project == "acme"
    assert record.usage.prompt_tokens == 10 and record.cost == r.cost
    assert record.request_id == context.request_id


def test_retries_that_recover_are_not_errors() -> None:
    rec = Recorder()
    fake = _fake()
    fake.fail(500, times=2).script("finally")
    router = _router(fake, rec)
    assert router.chat(model="gpt-4o", messages=MSGS).content == "finally"
    assert rec.error == [] and len(rec.success) == 1
    assert len(rec.success[0][1].attempts) == 3


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_on_error_once_with_the_callers_error(mode: str) -> None:
    rec = Recorder()
    fake = _fake()
    fake.fail(500, times=3)
    router = _router(fake, rec)
    with pytest.raises(AllAttemptsFailedError) as info:
        if mode == "sync":
            router.chat(model="gpt-4o", messages=MSGS)
        else:
            asyncio.run(router.achat(model="gpt-4o", messages=MSGS))
    assert rec.success == []
    ((context, error),) = rec.error
    assert error is info.value and len(context.attempts) == 3


class Block:
    @hookimpl
    def cencori_pre_request(self, context: Any) -> None:
        raise PolicyViolationError("no", policy="test", rule="always")


def test_blocked_call_reaches_on_error() -> None:
    rec = Recorder()
    router = _router(_fake(), rec, policies=[Block()])
    with pytest.raises(PolicyViolationError):
        router.chat(model="gpt-4o", messages=MSGS)
    ((_, error),) = rec.error
    assert isinstance(error, PolicyViolationError) and rec.success == []


def test_a_list_of_callbacks_and_a_failing_one(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(context: Any, record: Any) -> None:
        raise RuntimeError("callback bug")

    class Sink:
        @hookimpl
        def cencori_record_usage(self, context: Any, record: Any) -> None:
            seen.append("sink")

    router = Router(load_entrypoints=False, telemetry=False, plugins=[Sink()],
                    on_success=[broken, lambda c, r: seen.append("second")])
    with caplog.at_level(logging.ERROR, logger="cencori_core"):
        r = router.chat(model="echo/echo", messages=MSGS)
    assert r.content == "echo: hi"  # the call's outcome is untouched
    assert sorted(seen) == ["second", "sink"]  # the other callback and other sinks still ran
    assert any("on_success callback" in rec.getMessage() and rec.exc_info
               for rec in caplog.records)


def test_on_error_callback_failure_does_not_mask_the_error() -> None:
    def broken(context: Any, error: BaseException) -> None:
        raise RuntimeError("callback bug")

    fake = _fake()
    fake.fail(400)
    router = Router(providers={"openai": fake}, load_entrypoints=False, telemetry=False,
                    on_error=broken)
    with pytest.raises(ProviderBadRequestError):
        router.chat(model="gpt-4o", messages=MSGS)


def test_async_callbacks_are_refused() -> None:
    async def handler(context: Any, record: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="synchronously"):
        Router(load_entrypoints=False, telemetry=False, on_success=handler)
    with pytest.raises(ConfigurationError, match="callable"):
        Router(load_entrypoints=False, telemetry=False, on_error=["not callable"])


def test_no_callbacks_register_no_hooks() -> None:
    router = Router(load_entrypoints=False, telemetry=False)
    assert not router.plugin_manager.hook.cencori_on_error.get_hookimpls()
    only_success = Router(load_entrypoints=False, telemetry=False, on_success=lambda c, r: None)
    # on_success alone must not switch on the per-attempt error hook path
    assert not only_success.plugin_manager.hook.cencori_on_error.get_hookimpls()
    assert only_success.plugin_manager.hook.cencori_record_usage.get_hookimpls()
