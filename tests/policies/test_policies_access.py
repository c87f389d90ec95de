"""Access policy: model/provider allow and deny lists (globs), input caps, max_tokens cap and
default, tool allow-list; block and flag through the router (sync and async)."""

from __future__ import annotations

import pytest
from parity import MODES, call
from policy_kit import decisions, make, user

from cencori_core import ConfigurationError, PolicyViolationError
from cencori_core.policies import Access

TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
         for n in ("search_web", "delete_all")]


@pytest.mark.parametrize("mode", MODES)
def test_model_allow_and_deny_globs(mode):
    router, fake, sink = make([Access(allow_models=["gpt-4o*", "fake/small-*"],
                                      deny_models=["*-preview"])])
    call(router, mode, "chat", model="gpt-4o-mini", messages=user("hi"))
    call(router, mode, "chat", model="small-1", messages=user("hi"))  # as fake/small-1
    for model in ("claude-3", "gpt-4o-preview"):
        with pytest.raises(PolicyViolationError) as info:
            call(router, mode, "chat", model=model, messages=user("hi"))
        assert (info.value.policy, info.value.rule) == ("access", "model")
    assert len(fake.calls) == 2 and sink.statuses == ["ok", "ok", "blocked", "blocked"]


@pytest.mark.parametrize("mode", MODES)
def test_provider_lists(mode):
    router, fake, _ = make([Access(deny_providers=["fake"])])
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "embed", "m", "hi")
    assert info.value.rule == "provider" and fake.calls == []
    router, fake, _ = make([Access(allow_providers=["echo"])])
    assert call(router, mode, "chat", model="echo/echo", messages=user("hi")).content == \
        "echo: hi"
    with pytest.raises(PolicyViolationError):
        call(router, mode, "chat", model="m", messages=user("hi"))


@pytest.mark.parametrize("mode", MODES)
def test_input_caps(mode):
    router, fake, _ = make([Access(max_input_chars=10)])
    call(router, mode, "chat", model="m", messages=user("0123456789"))
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "chat", model="m", messages=user("0123456789a"))
    assert info.value.rule == "max_input_chars"
    router, fake, _ = make([Access(max_input_tokens=2)])
    call(router, mode, "embed", "m", ["abcd", "efgh"])  # 8 characters: 2 tokens
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "embed", "m", ["abcd", "efghi"])
    assert info.value.rule == "max_input_tokens" and len(fake.calls) == 1


@pytest.mark.parametrize("mode", MODES)
def test_max_tokens_is_clamped_or_refused_and_defaulted(mode):
    router, fake, _ = make([Access(max_tokens=100, default_max_tokens=50)])
    r = call(router, mode, "chat", model="m", messages=user("hi"), max_tokens=500)
    assert fake.last_request.max_tokens == 100
    assert decisions(r) == [("access", "max_tokens", "clamp", 1)]
    r = call(router, mode, "chat", model="m", messages=user("hi"))
    assert fake.last_request.max_tokens == 50
    assert decisions(r) == [("access", "default_max_tokens", "default", 1)]
    router, fake, _ = make([Access(max_tokens=100, clamp=False)])
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "chat", model="m", messages=user("hi"), max_tokens=101)
    assert info.value.rule == "max_tokens" and fake.calls == []


@pytest.mark.parametrize("mode", MODES)
def test_tool_allow_list(mode):
    router, fake, _ = make([Access(tools=["search_*"])])
    call(router, mode, "chat", model="m", messages=user("hi"), tools=TOOLS[:1])
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "chat", model="m", messages=user("hi"), tools=TOOLS)
    assert info.value.rule == "tool" and "delete_all" in str(info.value)
    assert len(fake.calls) == 1


@pytest.mark.parametrize("mode", MODES)
def test_flag_mode_lets_violations_through(mode):
    router, fake, _ = make([Access(mode="flag", deny_models=["m"], max_input_chars=1,
                                   tools=["x"])])
    r = call(router, mode, "chat", model="m", messages=user("hello"), tools=TOOLS)
    assert decisions(r) == [("access", "model", "flag", 1),
                            ("access", "max_input_chars", "flag", 1),
                            ("access", "tool", "flag", 2)]
    assert len(fake.calls) == 1


def test_configuration_errors():
    with pytest.raises(ConfigurationError):
        Access(max_tokens=0)
    with pytest.raises(ConfigurationError):
        Access(max_tokens=10, default_max_tokens=20)
    with pytest.raises(ConfigurationError):
        Access(allow_models=[1])
