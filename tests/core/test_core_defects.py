"""Issue 14's defects: the stream-chunk hook keeps pluggy's contract (argument subsets,
wrappers old and new, tryfirst/trylast, tracing and monitoring), deployment keys are not
providers, the hook specifications resolve with typing.get_type_hints(), and the project is a
field of the call context (``state`` stays the plugins' own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing

import pytest
from parity import MODES, call, stream

from cencori_core import ChatChunk, Router, hookimpl, hookspecs
from cencori_core.context import CallContext

HI = [{"role": "user", "content": "one two three four"}]


def echo_router(*plugins) -> Router:
    return Router(load_entrypoints=False, plugins=list(plugins))


def text_of(chunks) -> str:
    return "".join(c.delta for c in chunks)


# ---------------------------------------------------------------------------- stream chunks


class ChunkOnly:
    """Declares only ``chunk`` (pluggy passes any subset of the spec's arguments)."""

    @hookimpl
    def cencori_stream_chunk(self, chunk):
        return ChatChunk(delta=chunk.delta.upper()) if chunk.delta else None


class Reversed:
    """Declares the arguments in the other order."""

    @hookimpl
    def cencori_stream_chunk(self, chunk, context):
        assert isinstance(context, CallContext)
        return None


class Count:
    """Counts the chain's calls: one per provider chunk plus the final one."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def cencori_stream_chunk(self):
        self.calls += 1


class NewWrapper:
    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    @hookimpl(wrapper=True)
    def cencori_stream_chunk(self, chunk):
        result = yield
        self.seen.append([c.delta for c in result])
        return [ChatChunk(delta=c.delta + "!") if c.delta else c for c in result]


class OldWrapper:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(hookwrapper=True)
    def cencori_stream_chunk(self, context, chunk):
        self.calls += 1
        outcome = yield
        chunks = outcome.get_result()
        outcome.force_result([*chunks, *([ChatChunk(delta="~")] if chunk.delta else [])])


class Tag:
    """Appends its tag to the text; registered order vs tryfirst decides the chain order."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    @hookimpl
    def cencori_stream_chunk(self, chunk):
        return ChatChunk(delta=chunk.delta + self.tag) if chunk.delta else None


class FirstTag(Tag):
    @hookimpl(tryfirst=True)
    def cencori_stream_chunk(self, chunk):
        return ChatChunk(delta=chunk.delta + self.tag) if chunk.delta else None


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_hook_may_declare_only_chunk(mode):
    chunks, s = stream(echo_router(ChunkOnly(), Reversed()), mode, model="echo/echo",
                       messages=HI)
    assert text_of(chunks) == "ECHO: ONE TWO THREE FOUR"
    assert s.response.content == "ECHO: ONE TWO THREE FOUR"


@pytest.mark.parametrize("mode", MODES)
def test_new_style_wrappers_wrap_the_whole_chain_once_per_chunk(mode):
    wrap, count = NewWrapper(), Count()
    chunks, s = stream(echo_router(wrap, ChunkOnly(), count), mode, model="echo/echo",
                       messages=HI)
    texts = [c.delta for c in chunks if c.delta]
    assert texts == ["ECHO:!", " ONE!", " TWO!", " THREE!", " FOUR!"]
    # one wrapper run per call of the chain, each seeing the chain's output
    assert len(wrap.seen) == count.calls and wrap.seen[-1] == [""]  # the final chunk
    assert s.response.content == "".join(texts)


@pytest.mark.parametrize("mode", MODES)
def test_old_style_hookwrappers_can_force_the_result(mode):
    wrap, count = OldWrapper(), Count()
    chunks, s = stream(echo_router(wrap, count), mode, model="echo/echo", messages=HI)
    texts = [c.delta for c in chunks if c.delta]
    assert texts == ["echo:", "~", " one", "~", " two", "~", " three", "~", " four", "~"]
    assert wrap.calls == count.calls
    assert s.response.content == "".join(texts)


@pytest.mark.parametrize("mode", MODES)
def test_tryfirst_and_registration_order_decide_the_chain(mode):
    # pluggy calls the last registered first; tryfirst goes before both
    chunks, _ = stream(echo_router(Tag("a"), Tag("b"), FirstTag("c")), mode, model="echo/echo",
                       messages=HI)
    assert all(c.delta.endswith("cba") for c in chunks if c.delta)


@pytest.mark.parametrize("mode", MODES)
def test_pluggy_tracing_and_monitoring_see_every_hook_call(mode):
    count = Count()
    router = echo_router(ChunkOnly(), Tag("x"), count)
    seen: list[str] = []
    undo = router.plugin_manager.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append(name), lambda *a: None)
    try:
        chunks, _ = stream(router, mode, model="echo/echo", messages=HI)
        call(router, mode, "chat", model="echo/echo", messages=HI)
    finally:
        undo()
    # every implementation's call is a hook call pluggy's monitoring sees
    assert seen.count("cencori_stream_chunk") == 3 * count.calls > 0
    assert seen.count("cencori_pre_request") == 0  # no implementation: no call at all
    # pluggy order: the last registered first, so Tag adds "x" and ChunkOnly uppercases it
    assert text_of(chunks) == "ECHO:X ONEX TWOX THREEX FOURX"
    # and tracing: pluggy's trace writer gets the calls
    lines: list[str] = []
    router.plugin_manager.trace.root.setwriter(lines.append)
    undo = router.plugin_manager.enable_tracing()
    try:
        stream(router, mode, model="echo/echo", messages=HI)
    finally:
        undo()
    assert any("cencori_stream_chunk" in line for line in lines)


# ---------------------------------------------------------------------------- deployments


DEPLOYMENTS = {"fast": [{"provider": "echo", "name": "a"}, {"provider": "echo"}]}


def test_configured_providers_lists_no_deployment_keys():
    router = Router(load_entrypoints=False, deployments=DEPLOYMENTS)
    assert set(router.configured_providers()) == {"echo"}
    assert call(router, "sync", "chat", model="fast", messages=HI).deployment in ("a", "fast#1")
    assert set(router.configured_providers()) == {"echo"}
    assert "::" not in repr(router)


def test_cencori_models_shows_no_deployment_keys(tmp_path):
    config = tmp_path / "cencori.toml"
    config.write_text('[deployments]\nfast = [{provider = "echo", name = "a"}, '
                      '{provider = "echo"}]\n')
    out = subprocess.run([sys.executable, "-m", "cencori_core.cli", "--config", str(config),
                          "models"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "CENCORI_HOME": str(tmp_path),
                              "CENCORI_PLUGINS": ""})
    assert out.returncode == 0, out.stderr
    providers = out.stdout.rsplit("providers:", 1)[1]
    assert "::" not in providers and "fast" not in providers and "echo" in providers
    out = subprocess.run([sys.executable, "-m", "cencori_core.cli", "--config", str(config),
                          "models", "--json"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "CENCORI_HOME": str(tmp_path),
                              "CENCORI_PLUGINS": ""})
    assert all("::" not in r["provider"] for r in json.loads(out.stdout))


# ---------------------------------------------------------------------------- type hints


def test_every_hookspec_resolves_with_get_type_hints():
    specs = [getattr(hookspecs, n) for n in dir(hookspecs) if n.startswith("cencori_")]
    assert len(specs) == 8
    for spec in specs:
        hints = typing.get_type_hints(spec)
        if "context" in hints:
            assert hints["context"] is CallContext


def test_the_router_module_still_exports_call_context():
    from cencori_core.router import CallContext as FromRouter

    assert FromRouter is CallContext


# ---------------------------------------------------------------------------- project field


class Spy:
    def __init__(self) -> None:
        self.seen: list[tuple[dict, str | None, object]] = []

    @hookimpl
    def cencori_pre_request(self, context):
        self.seen.append((dict(context.state), context.project, context.project_info))
        context.state["spy"] = "mine"  # a plugin's own state never looks like a project


@pytest.mark.parametrize("mode", MODES)
def test_the_project_is_a_context_field_and_state_stays_the_plugins(mode):
    spy = Spy()
    router = echo_router(spy)
    key = router.projects.create("acme", providers=["echo"])
    call(router, mode, "chat", model="echo/echo", messages=HI, api_key=key)
    call(router, mode, "chat", model="echo/echo", messages=HI)
    (state1, name1, info1), (state2, name2, info2) = spy.seen
    assert state1 == {} and name1 == "acme" and info1.name == "acme"
    assert state2 == {} and name2 is None and info2 is None
