"""Route checks run for every route a call reaches, on normalized names (issue 13 item 4, issue
15 capability enforcement): a denied model or provider is never reached through a fallback, a
context-window fallback, a non-first deployment, a spelling variant, a sibling alias or the
canonical id of a denied alias; a request a model cannot serve is refused before it is sent.

Everything goes through the real openai / anthropic SDKs against the loopback wire servers, which
must receive nothing for a refused route; sync, async and both stream shells."""

from __future__ import annotations

import pytest
from anthropic_wire import AnthropicServer
from openai_wire import OpenAIWire
from parity import MODES, call, stream

from cencori_core import (
    InvalidRequestError,
    PolicyViolationError,
    ProviderNotConfiguredError,
    RetryPolicy,
    Router,
    hookimpl,
)
from cencori_core.policies import Access
from cencori_core.testing import UsageRecorder

MSG = [{"role": "user", "content": "hello"}]
FAST = RetryPolicy(max_attempts=2, initial_delay=0.001, jitter=0)
KEY = "sk-test-route-checks-000000000000"
# every path a call can take: the non-stream operation and the stream shells, sync and async
PATHS = [(m, s) for m in MODES for s in (False, True)]


@pytest.fixture
def wire():
    with OpenAIWire() as w:
        yield w


def router_for(wire: OpenAIWire, *policies, **kw) -> tuple[Router, UsageRecorder]:
    rec = UsageRecorder()
    kw.setdefault("retry", FAST)
    providers = {"openai": {"api_key": KEY, "base_url": wire.base_url},
                 "xai": {"api_key": KEY, "base_url": wire.base_url}}
    providers.update(kw.pop("providers", {}))
    return Router(plugins=["openai", "anthropic", rec], policies=list(policies),
                  providers=providers, **kw), rec


def run(router: Router, mode: str, streamed: bool, **kw):
    if streamed:
        return stream(router, mode, **kw)[1].response
    return call(router, mode, "chat", **kw)


def refused(router: Router, mode: str, streamed: bool, exc: type, **kw) -> BaseException:
    with pytest.raises(exc) as info:
        run(router, mode, streamed, **kw)
    return info.value


def sent_models(wire: OpenAIWire) -> list[str]:
    return [r.json["model"] for r in wire.requests_to("/chat/completions")]


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_a_denied_fallback_is_never_reached(wire, mode, streamed):
    router, rec = router_for(wire, Access(deny_models=["gpt-4o-mini"]),
                             fallbacks={"gpt-4o": ["gpt-4o-mini"]})
    wire.fail(500, times=2)
    err = refused(router, mode, streamed, PolicyViolationError, model="gpt-4o", messages=MSG)
    assert (err.policy, err.rule) == ("access", "model")
    assert sent_models(wire) == ["gpt-4o", "gpt-4o"]  # the primary's two tries, nothing else
    assert [r.status for r in rec.records] == ["blocked"]
    assert [a.status for a in rec.records[0].attempts] == ["ProviderServerError"] * 2


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_a_denied_context_window_fallback_is_never_reached(wire, mode, streamed):
    router, _ = router_for(wire, Access(deny_models=["gpt-4o"]),
                           context_window_fallbacks={"gpt-4o-mini": "gpt-4o"})
    wire.fail(400, "too long", code="context_length_exceeded")
    refused(router, mode, streamed, PolicyViolationError, model="gpt-4o-mini", messages=MSG)
    assert sent_models(wire) == ["gpt-4o-mini"]


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_a_denied_deployment_is_never_reached(wire, mode, streamed):
    dep = {"provider": "openai", "api_key": KEY, "base_url": wire.base_url}
    # "a" is all but certain to be picked first; when it fails, the retry goes to "b"
    router, rec = router_for(
        wire, Access(deny_models=["gpt-4o-mini"]),
        deployments={"fast": [{**dep, "name": "a", "model": "gpt-4o", "weight": 1e12},
                              {**dep, "name": "b", "model": "gpt-4o-mini", "weight": 1e-12}]})
    wire.fail(500)
    refused(router, mode, streamed, PolicyViolationError, model="fast", messages=MSG)
    assert sent_models(wire) == ["gpt-4o"]
    assert [a.deployment for a in rec.records[0].attempts] == ["a"]
    # the refused deployment did not keep an in-flight slot, and the allowed one still serves
    wire.reset()
    assert run(router, mode, streamed, model="fast", messages=MSG).deployment == "a"


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
@pytest.mark.parametrize("name", ["GPT-4o", "openai/GPT-4o", "OpenAI/gpt-4o", "openai/gpt-4o"])
def test_spelling_variants_resolve_to_the_denied_model(wire, mode, streamed, name):
    router, _ = router_for(wire, Access(deny_models=["gpt-4o"]))
    refused(router, mode, streamed, PolicyViolationError, model=name, messages=MSG)
    assert wire.hits == 0
    # an allowed model spelled in capitals is sent under its canonical id
    run(router, mode, streamed, model="GPT-4o-Mini", messages=MSG)
    assert sent_models(wire) == ["gpt-4o-mini"]


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
@pytest.mark.parametrize("name", ["gpt-4o ", " gpt-4o", "gpt-4o\n", "openai/gpt-4o\t"])
def test_names_with_surrounding_whitespace_are_refused(wire, mode, streamed, name):
    router, _ = router_for(wire, Access(deny_models=["gpt-4o"]))
    err = refused(router, mode, streamed, InvalidRequestError, model=name, messages=MSG)
    assert err.param == "model" and ("whitespace" in str(err) or "spaces" in str(err))
    assert wire.hits == 0


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
@pytest.mark.parametrize("pattern", ["four-o", "OMNI", "openai/gpt-4o", "GPT-4O"])
def test_a_deny_covers_every_name_of_the_model(wire, mode, streamed, pattern):
    router, _ = router_for(wire, Access(deny_models=[pattern]))
    router.catalog.add_provider("openai", aliases={"four-o": "gpt-4o", "omni": "four-o"},
                                source="test aliases")
    for name in ("gpt-4o", "four-o", "omni", "openai/gpt-4o"):
        refused(router, mode, streamed, PolicyViolationError, model=name, messages=MSG)
    assert wire.hits == 0
    run(router, mode, streamed, model="gpt-4o-mini", messages=MSG)
    assert wire.hits == 1


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_allow_lists_apply_to_fallbacks(wire, mode, streamed):
    router, _ = router_for(wire, Access(allow_models=["gpt-4o"], allow_providers=["OpenAI"]),
                           fallbacks={"gpt-4o": ["grok-3"]})
    wire.fail(500, times=2)
    err = refused(router, mode, streamed, PolicyViolationError, model="gpt-4o", messages=MSG)
    assert err.rule == "model"
    assert sent_models(wire) == ["gpt-4o", "gpt-4o"]


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_denied_providers_are_matched_without_case(wire, mode, streamed):
    router, _ = router_for(wire, Access(deny_providers=["XAI"]),
                           fallbacks={"gpt-4o": ["grok-3"]})
    wire.fail(500, times=2)
    err = refused(router, mode, streamed, PolicyViolationError, model="gpt-4o", messages=MSG)
    assert err.rule == "provider"
    assert sent_models(wire) == ["gpt-4o", "gpt-4o"]


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_a_project_provider_list_applies_to_every_deployment(wire, mode, streamed):
    dep = {"api_key": KEY, "base_url": wire.base_url}
    router, _ = router_for(
        wire,
        deployments={"fast": [{**dep, "provider": "openai", "name": "a", "model": "gpt-4o",
                               "weight": 1e12},
                              {**dep, "provider": "xai", "name": "b", "model": "grok-3",
                               "weight": 1e-12}]})
    router.projects.create("acme", providers=["openai"])
    wire.fail(500)
    refused(router, mode, streamed, ProviderNotConfiguredError, model="fast", messages=MSG,
            project="acme")
    assert sent_models(wire) == ["gpt-4o"]


class RouteLog:
    """A third-party route hook: sees each distinct route once, before it is tried."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, frozenset[str]]] = []

    @hookimpl
    def cencori_check_route(self, route, names):
        self.seen.append((route.provider, route.model, names))


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_the_route_hook_sees_each_route_once_before_it_is_tried(wire, mode, streamed):
    log = RouteLog()
    router, _ = router_for(wire, fallbacks={"gpt-4o": ["grok-3"]})
    router.register(log)
    wire.fail(500, times=2)
    run(router, mode, streamed, model="gpt-4o", messages=MSG)
    assert [(p, m) for p, m, _ in log.seen] == [("openai", "gpt-4o"), ("xai", "grok-3")]
    assert {"gpt-4o", "openai/gpt-4o"} <= log.seen[0][2]
    assert sent_models(wire) == ["gpt-4o", "gpt-4o", "grok-3"]


# ---------------------------------------------------------------------------- capabilities


@pytest.fixture
def anthropic():
    with AnthropicServer() as s:
        yield s


JSON = {"type": "json_object"}


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_response_format_to_a_model_without_json_is_refused_before_sending(anthropic, mode,
                                                                           streamed):
    router = Router(plugins=["anthropic"],
                    providers={"anthropic": {"api_key": KEY, "base_url": anthropic.base_url}})
    err = refused(router, mode, streamed, InvalidRequestError, model="claude-sonnet-4",
                  messages=MSG, response_format=JSON)
    assert err.param == "response_format" and "json" in str(err)
    assert anthropic.requests == []
    # "text" asks for no structured output: allowed
    run(router, mode, streamed, model="claude-sonnet-4", messages=MSG,
        response_format={"type": "text"})
    assert len(anthropic.requests) == 1


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_capabilities_are_checked_for_each_fallback(wire, anthropic, mode, streamed):
    router, _ = router_for(
        wire, fallbacks={"gpt-4o": ["claude-sonnet-4"]},
        providers={"anthropic": {"api_key": KEY, "base_url": anthropic.base_url}})
    wire.fail(500, times=2)
    err = refused(router, mode, streamed, InvalidRequestError, model="gpt-4o", messages=MSG,
                  response_format=JSON)
    assert err.param == "response_format"
    assert sent_models(wire) == ["gpt-4o", "gpt-4o"] and anthropic.requests == []


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_tools_and_images_are_checked_for_each_deployment(wire, mode, streamed):
    dep = {"provider": "openai", "api_key": KEY, "base_url": wire.base_url}
    router, _ = router_for(
        wire, deployments={"fast": [{**dep, "name": "a", "model": "gpt-4o", "weight": 1e12},
                                    {**dep, "name": "b", "model": "chatgpt-4o-latest",
                                     "weight": 1e-12}]})
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    wire.fail(500)
    err = refused(router, mode, streamed, InvalidRequestError, model="fast", messages=MSG,
                  tools=tools)
    assert err.param == "tools"
    assert sent_models(wire) == ["gpt-4o"]



IMAGE = [{"role": "user", "content": [
    {"type": "text", "text": "what is this?"},
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]


@pytest.mark.parametrize(("mode", "streamed"), PATHS)
def test_images_need_vision_on_each_fallback(wire, mode, streamed):
    # gpt-4o has vision, grok-3 has none
    router, _ = router_for(wire, fallbacks={"gpt-4o": ["grok-3"]})
    wire.fail(500, times=2)
    err = refused(router, mode, streamed, InvalidRequestError, model="gpt-4o", messages=IMAGE)
    assert err.param == "messages" and "vision" in str(err)
    assert sent_models(wire) == ["gpt-4o", "gpt-4o"]
