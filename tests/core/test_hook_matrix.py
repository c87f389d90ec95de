"""Every hook keeps pluggy's contract: the eight hooks x {an implementation declaring a subset
of the arguments, a wrapper (new and old style), tryfirst ordering} x {the fast path, pluggy's
tracing and call monitoring on}, sync and async (streams for the chunk hook)."""

from __future__ import annotations

import pytest
from parity import MODES, call, stream

from cencori_core import PolicyViolationError, Router, hookimpl
from cencori_core.testing import FakeProvider

HI = [{"role": "user", "content": "hi there"}]

# hook -> the arguments of its spec
SPECS = {
    "cencori_register_providers": ("register",),
    "cencori_pre_request": ("context",),
    "cencori_check_route": ("context", "route", "names"),
    "cencori_short_circuit": ("context",),
    "cencori_post_response": ("context",),
    "cencori_stream_chunk": ("context", "chunk"),
    "cencori_on_error": ("context", "error"),
    "cencori_record_usage": ("context", "record"),
}
HOOKS = list(SPECS)


def plugin(hook: str, log: list[str], tag: str, *, args: tuple[str, ...], opts: dict) -> object:
    """A plugin object implementing ``hook`` with exactly ``args``; logs ``tag`` when called."""
    params = ", ".join(args)
    src = f"def impl(self{', ' if params else ''}{params}):\n    log.append({tag!r})\n"
    if hook == "cencori_register_providers":
        src += ("    if 'register' in dir():\n"
                f"        register('p_{tag}', lambda cfg: None, requires_key=False)\n")
    ns: dict = {"log": log}
    exec(src, ns)  # noqa: S102 - builds a function with the wanted signature
    fn = ns["impl"]
    fn.__name__ = hook
    return type(f"P_{tag}", (), {hook: hookimpl(**opts)(fn)})()


def wrapper(hook: str, log: list[str], tag: str, *, old: bool) -> object:
    arg = SPECS[hook][-1]
    if old:
        def fn(self, **kw):
            log.append(tag + ":before")
            outcome = yield
            outcome.get_result()
            log.append(tag + ":after")
        opts = {"hookwrapper": True}
    else:
        def fn(self, **kw):
            log.append(tag + ":before")
            result = yield
            log.append(tag + ":after")
            return result
        opts = {"wrapper": True}
    src_fn = fn
    ns: dict = {"inner": src_fn}
    exec(f"def impl(self, {arg}):\n    return (yield from inner(self, {arg}={arg}))\n", ns)  # noqa: S102
    impl = ns["impl"]
    impl.__name__ = hook
    return type(f"W_{tag}", (), {hook: hookimpl(**opts)(impl)})()


class Blocker:
    """Makes every call fail (after the route check), so cencori_on_error runs."""

    @hookimpl(trylast=True)
    def cencori_pre_request(self, context):
        raise PolicyViolationError("blocked for the test", policy="test", rule="all")


def trigger(hook: str, mode: str, plugins: list[object], traced: bool) -> list[str]:
    """Register ``plugins`` on a router (pluggy's call monitoring on first when ``traced``) and
    make a call that reaches ``hook``; the hook names monitoring saw."""
    seen: list[str] = []
    router = Router(load_entrypoints=False, providers={"fake": FakeProvider()})
    if traced:
        router.plugin_manager.add_hookcall_monitoring(
            lambda name, impls, kw: seen.append(name), lambda *a: None)
    for p in [*plugins, *([Blocker()] if hook == "cencori_on_error" else [])]:
        router.register(p)  # registration runs cencori_register_providers of the new plugin
    if hook == "cencori_stream_chunk":
        stream(router, mode, model="echo/echo", messages=HI)
    elif hook == "cencori_on_error":
        with pytest.raises(PolicyViolationError):
            call(router, mode, "chat", model="echo/echo", messages=HI)
    elif hook != "cencori_register_providers":
        call(router, mode, "chat", model="echo/echo", messages=HI)
    return seen


PATHS = [(m, t) for m in MODES for t in (False, True)]


@pytest.mark.parametrize(("mode", "traced"), PATHS)
@pytest.mark.parametrize("hook", HOOKS)
def test_an_argument_subset_is_honoured(hook, mode, traced):
    log: list[str] = []
    args = SPECS[hook]
    plugins = [plugin(hook, log, "none", args=(), opts={}),
               plugin(hook, log, "last", args=args[-1:], opts={}),
               plugin(hook, log, "rev", args=tuple(reversed(args)), opts={})]
    seen = trigger(hook, mode, plugins, traced)
    assert {"none", "last", "rev"} <= set(log)
    if traced:
        assert hook in seen


@pytest.mark.parametrize(("mode", "traced"), PATHS)
@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("old", [False, True], ids=["wrapper", "hookwrapper"])
def test_wrappers_run_around_the_implementations(hook, mode, traced, old):
    log: list[str] = []
    plugins = [plugin(hook, log, "impl", args=SPECS[hook], opts={}),
               wrapper(hook, log, "w", old=old)]
    seen = trigger(hook, mode, plugins, traced)
    # the wrapper runs around the implementation (once per hook call)
    around = ["w:before", "impl", "w:after"]
    assert any(log[i:i + 3] == around for i in range(len(log))), log
    if traced:
        assert hook in seen


@pytest.mark.parametrize(("mode", "traced"), PATHS)
@pytest.mark.parametrize("hook", HOOKS)
def test_tryfirst_and_trylast_order_the_calls(hook, mode, traced):
    log: list[str] = []
    plugins = [plugin(hook, log, "first", args=SPECS[hook], opts={"tryfirst": True}),
               plugin(hook, log, "last", args=SPECS[hook], opts={"trylast": True}),
               plugin(hook, log, "plain", args=SPECS[hook], opts={})]
    seen = trigger(hook, mode, plugins, traced)
    order = [t for t in log if t in ("first", "plain", "last")]
    if hook == "cencori_register_providers":
        # registration runs each plugin in registration order; tryfirst/trylast still sort
        assert order.index("first") < order.index("last")
    else:
        assert order[:3] == ["first", "plain", "last"]
    if traced:
        assert hook in seen
