"""The testing kit: FakeProvider, FunctionProvider and the pytest plugin (via pytester)."""

from __future__ import annotations

import pytest
from parity import MODES, call, raises, stream

from cencori_core import ProviderAuthError, ProviderRateLimitError, RetryPolicy, Router
from cencori_core.testing import FakeProvider, FunctionProvider, UsageRecorder, reply, tool_call

pytest_plugins = ["pytester"]
MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("mode", MODES)
def test_fake_scripts_replies_errors_and_records_calls(mode):
    fake = FakeProvider(prefixes=("",))
    fake.script("first", ProviderRateLimitError("slow down", retry_after=0.0),
                reply(tool_calls=[tool_call("f", {"x": 1})]))
    router = Router(providers={"fake": fake}, load_entrypoints=False,
                    retry=RetryPolicy(max_attempts=1))
    assert call(router, mode, "chat", model="m", messages=MSG).content == "first"
    err = raises(router, mode, "chat", ProviderRateLimitError, model="m", messages=MSG)
    assert err.retry_after == 0.0
    r = call(router, mode, "chat", model="m", messages=MSG)
    assert r.tool_calls[0].arguments == {"x": 1} and r.finish_reason == "tool_calls"
    assert call(router, mode, "chat", model="m", messages=MSG).content == "echo: hi"
    assert [op for op, _ in fake.calls] == ["chat"] * 4


@pytest.mark.parametrize("mode", MODES)
def test_fake_http_errors_are_retried_like_a_real_providers(mode):
    fake = FakeProvider(prefixes=("",), latency=0.001).fail(503, times=2)
    router = Router(providers={"fake": fake}, load_entrypoints=False,
                    retry=RetryPolicy(max_attempts=3, initial_delay=0, jitter=0))
    r = call(router, mode, "chat", model="m", messages=MSG)
    assert [a.status for a in r.attempts] == ["ProviderServerError", "ProviderServerError", "ok"]
    assert r.attempts[0].status_code == 503 and r.attempts[0].provider == "fake"
    assert r.attempts[0].error and "503" not in r.content  # the error stays on the attempt
    assert [op for op, _ in fake.calls] == ["chat"] * 3


@pytest.mark.parametrize("mode", MODES)
def test_function_provider_sync_and_async_handlers(mode):
    async def ahandler(request):
        return "async:" + request.messages[-1].text

    sync = FunctionProvider(lambda req: "sync:" + req.messages[-1].text, name="fn",
                            prefixes=("fn-",))
    asy = FunctionProvider(ahandler, name="afn", prefixes=("afn-",))
    router = Router(providers={"fn": sync, "afn": asy}, load_entrypoints=False)
    assert call(router, mode, "chat", model="fn-1", messages=MSG).content == "sync:hi"
    assert call(router, mode, "chat", model="afn-1", messages=MSG).content == "async:hi"
    chunks, s = stream(router, mode, model="afn-1", messages=MSG)
    assert s.response.content == "async:hi" and len(chunks) >= 1


def test_pytest_plugin_fixtures(pytester):
    pytester.makepyfile("""
        from cencori_core import hookimpl

        def test_router(cencori_router, cencori_fake_provider):
            cencori_fake_provider.script("scripted!")
            r = cencori_router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
            assert r.content == "scripted!" and r.provider == "fake"
            assert cencori_fake_provider.last_request.model == "gpt-4o"

        def test_register(cencori_router, cencori_register):
            seen = []

            class Spy:
                @hookimpl
                def cencori_record_usage(self, context, record):
                    seen.append(record.status)

            cencori_register(Spy())
            cencori_router.chat(model="anything", messages=[{"role": "user", "content": "x"}])
            assert seen == ["ok"]
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-o",
                                "asyncio_default_fixture_loop_scope=function")
    result.assert_outcomes(passed=2)


def test_pytest_plugin_does_nothing_at_import():
    import subprocess
    import sys

    code = ("import sys; import cencori_core.testing.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith('cencori')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    # only the package shells and the plugin module: no router, no fakes, no SDK
    assert out.stdout.strip() == str(sorted(["cencori_core", "cencori_core.testing",
                                             "cencori_core.testing.pytest_plugin"]))


@pytest.mark.parametrize("mode", MODES)
def test_usage_recorder_and_clear(mode):
    fake = FakeProvider(prefixes=("",)).fail(401, times=2)
    records = UsageRecorder()
    router = Router(providers={"fake": fake}, plugins=[records], load_entrypoints=False,
                    retry=RetryPolicy(max_attempts=1))
    assert records.last is None and records.statuses == []
    with pytest.raises(ProviderAuthError):
        call(router, mode, "chat", model="m", messages=MSG)
    fake.clear()  # the second scripted 401 is dropped: the next call is answered
    r = call(router, mode, "chat", model="m", messages=MSG)
    assert records.statuses == ["error", "ok"] and records.last.request_id == r.id
    assert records.last.usage == r.usage
    records.clear()
    assert records.records == [] and len(fake.calls) == 2
