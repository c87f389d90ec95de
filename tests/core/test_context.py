"""CallContext carries what plugins may use; the pipeline's bookkeeping lives elsewhere (issue 14).

Also: ``router.resolve(name)`` validates the name like a call does.
"""

from __future__ import annotations

import typing

import pytest
from parity import MODES, call, stream

from cencori_core import InvalidRequestError, PolicyViolationError, Router, hookimpl
from cencori_core.context import CallContext
from cencori_core.policies import PII, Access, OutputGuard, PromptInjection, Secrets
from cencori_core.testing import FakeProvider

USER = [{"role": "user", "content": "Hello there"}]

# What issue 14 names as the context's public fields (plus what hookspecs and the accounting
# document: project_info, key_id, attempt_error, started, time).
PUBLIC = {"operation", "request", "response", "route", "model_info", "project", "user",
          "metadata", "request_id", "attempts", "decisions", "state", "stream"}
BOOKKEEPING = ("router", "reservation", "span", "retry", "_record_sent", "record_sent", "status",
               "error", "tags", "_checked")


class Seen:
    """Looks at the context every hook receives, at every stage of a call."""

    def __init__(self) -> None:
        self.contexts: list[CallContext] = []
        self.leaks: list[tuple[str, str]] = []
        self.secrets: list[object] = []

    def _look(self, stage: str, context: CallContext) -> None:
        self.contexts.append(context)
        self.secrets.append(context.known_secrets())
        for name in BOOKKEEPING:
            if hasattr(context, name):
                self.leaks.append((stage, name))

    @hookimpl
    def cencori_pre_request(self, context: CallContext) -> None:
        self._look("pre", context)

    @hookimpl
    def cencori_post_response(self, context: CallContext) -> None:
        self._look("post", context)

    @hookimpl
    def cencori_on_error(self, context: CallContext, error: BaseException) -> None:
        self._look("error", context)

    @hookimpl
    def cencori_record_usage(self, context: CallContext, record: object) -> None:
        self._look("record", context)


def _router(seen: Seen, **kw: object) -> tuple[Router, FakeProvider]:
    fake = FakeProvider(name="fake", models=["fake-model"], prefixes=("fk-",))
    providers = {"fake": fake, "other": {"type": "echo", "api_key": "no-shape-key-42"}}
    return Router(providers=providers, load_entrypoints=False, plugins=[seen], **kw), fake


@pytest.mark.parametrize("mode", MODES)
def test_hooks_see_no_pipeline_bookkeeping(mode):
    seen = Seen()
    router, fake = _router(seen)
    call(router, mode, "chat", model="fake-model", messages=USER)
    fake.script(RuntimeError("boom"))
    with pytest.raises(Exception):  # noqa: B017 - only the hooks' view matters here
        call(router, mode, "chat", model="fake-model", messages=USER, retry=None)
    stream(router, mode, model="fake-model", messages=USER)
    stages = {id(c) for c in seen.contexts}
    assert len(stages) == 3  # three calls, each one context
    assert seen.leaks == []
    for ctx in seen.contexts:
        for name in PUBLIC:
            getattr(ctx, name)
        assert ctx.elapsed_ms >= 0


def test_context_slots_are_the_public_fields_and_one_private_slot():
    private = [s for s in CallContext.__slots__ if s.startswith("_")]
    assert private == ["_call"]
    assert PUBLIC <= set(CallContext.__slots__)
    for name in BOOKKEEPING:
        assert name not in CallContext.__slots__


@pytest.mark.parametrize("mode", MODES)
def test_known_secrets_is_the_routers_keys_one_object_per_router(mode):
    seen = Seen()
    router, _ = _router(seen)
    call(router, mode, "chat", model="fake-model", messages=USER)
    call(router, mode, "chat", model="fake-model", messages=USER)
    first = seen.secrets[0]
    assert "no-shape-key-42" in first
    assert list(first) == router.known_secrets()
    # the same object on every call of this router, so a scanner can cache on it
    assert all(s is first for s in seen.secrets)


def test_known_secrets_of_a_context_built_outside_a_router():
    ctx = CallContext("chat", _Request())
    assert tuple(ctx.known_secrets()) == ()
    ctx = CallContext("chat", _Request(), known_secrets=lambda: ["abcdefgh-key"])
    assert list(ctx.known_secrets()) == ["abcdefgh-key"]
    assert "abcdefgh" not in repr(ctx)


@pytest.mark.parametrize("mode", MODES)
def test_secrets_policy_gets_router_keys_without_a_router_reference(mode):
    # One policy object shared by two routers with different keys: each router's key is caught
    # on its own calls (the compiled scan is per key set, not per first router seen).
    policy = Secrets()
    fake_a = FakeProvider(prefixes=("",))
    a = Router(providers={"fake": fake_a, "o": {"type": "echo", "api_key": "router-a-key-77"}},
               load_entrypoints=False, policies=[policy])
    fake_b = FakeProvider(prefixes=("",))
    b = Router(providers={"fake": fake_b, "o": {"type": "echo", "api_key": "router-b-key-88"}},
               load_entrypoints=False, policies=[policy])
    for router, key in ((a, "router-a-key-77"), (b, "router-b-key-88"), (a, "router-a-key-77")):
        with pytest.raises(PolicyViolationError) as info:
            call(router, mode, "chat", model="fake/m", messages=[
                {"role": "user", "content": f"x {key} y"}])
        assert info.value.rule == "router_key"
    # a's key is not b's secret
    call(b, mode, "chat", model="fake/m", messages=[
        {"role": "user", "content": "x router-a-key-77 y"}])
    assert fake_a.calls == [] and len(fake_b.calls) == 1


@pytest.mark.parametrize("policy", [Secrets, PII, PromptInjection, OutputGuard, Access])
def test_builtin_policy_hooks_are_typed_with_call_context(policy):
    hooks = [n for n in dir(policy) if n.startswith("cencori_")]
    assert hooks
    for name in hooks:
        hints = typing.get_type_hints(getattr(policy, name))
        assert hints["context"] is CallContext, (policy.__name__, name)


@pytest.mark.parametrize("name", [None, 3, ["gpt-4o"], {"m": 1}, b"gpt-4o", ""])
def test_resolve_refuses_a_non_string_name(name):
    router = Router(load_entrypoints=False)
    with pytest.raises(InvalidRequestError) as info:
        router.resolve(name)  # type: ignore[arg-type]
    assert info.value.param == "model"


@pytest.mark.parametrize("name", ["x/../../etc/passwd", "gpt 4o", "gpt-4o\n", "a" * 1000,
                                  "echo/echo?x=1", "echo/%2e%2e"])
def test_resolve_refuses_a_hostile_name(name):
    router = Router(load_entrypoints=False)
    with pytest.raises(InvalidRequestError):
        router.resolve(name)


def test_resolve_still_routes_a_good_name():
    route = Router(load_entrypoints=False).resolve("echo/echo")
    assert route.provider == "echo" and route.model == "echo"


class _Request:
    idempotency_key = None
