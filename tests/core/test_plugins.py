"""Entry-point discovery, the allow-list, third-party plugins, failures."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from cencori_core import MissingDependencyError, PluginError, Router, hookimpl
from cencori_core.errors import UnknownModelError

MSG = [{"role": "user", "content": "stressed"}]


def test_third_party_plugin_is_discovered_and_used():
    router = Router(plugins=["example"])
    assert "example" in router.loaded_plugins
    assert router.chat(model="example-reverse", messages=MSG).content == "desserts"
    assert router.chat(model="reverser", messages=MSG).provider == "example"
    with router.chat_stream(model="example-anything", messages=MSG) as s:
        assert "".join(c.delta for c in s) == "desserts"


def test_allow_list_excludes_plugins(monkeypatch):
    router = Router(plugins=["openai"])
    assert "example" not in router.loaded_plugins
    with pytest.raises(UnknownModelError, match="unknown model"):
        router.chat(model="example-reverse", messages=MSG)
    monkeypatch.setenv("CENCORI_PLUGINS", "echo")
    assert "example" not in Router().loaded_plugins
    monkeypatch.setenv("CENCORI_PLUGINS", "example")
    assert Router().loaded_plugins == ["example"]


def test_load_entrypoints_false_loads_none():
    assert Router(load_entrypoints=False).loaded_plugins == []


def test_plugin_that_fails_to_import_is_reported_and_skipped(tmp_path):
    # A real distribution on sys.path whose entry point raises on import.
    dist = tmp_path / "broken_cencori_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-cencori-plugin\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text("[cencori]\nbroken = broken_cencori_plugin\n")
    (tmp_path / "broken_cencori_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    code = textwrap.dedent("""
        import warnings
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as w:
            from cencori_core import Router
            r = Router(plugins=["broken", "example"])
        print(r.loaded_plugins)
        print([str(x.message) for x in w])
        print(r.chat(model="echo", messages=[{"role": "user", "content": "ok"}]).content)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
                         check=True).stdout.splitlines()
    assert out[0] == "['example']"
    assert "broken-cencori-plugin" in out[1] and "boom at import" in out[1]
    assert out[2] == "echo: ok"


def test_missing_sdk_names_the_extra():
    class NeedsSDK:
        @hookimpl
        def cencori_register_providers(self, register):
            def factory(cfg):
                import cencori_no_such_sdk  # noqa: F401

            register("needy", factory, prefixes=("needy-",), requires_key=False, extra="needy")

    router = Router(load_entrypoints=False, plugins=[NeedsSDK()])
    with pytest.raises(MissingDependencyError) as info:
        router.chat(model="needy-1", messages=MSG)
    assert 'pip install "cencori-core[needy]"' in str(info.value)
    assert info.value.extra == "needy"


def test_bad_registration_is_plugin_error():
    class Bad:
        @hookimpl
        def cencori_register_providers(self, register):
            register("a/b", lambda c: None)

    with pytest.raises(PluginError, match="invalid provider name"):
        Router(load_entrypoints=False, plugins=[Bad()])

    class NotAProvider:
        @hookimpl
        def cencori_register_providers(self, register):
            register("np", lambda c: object(), prefixes=("np-",), requires_key=False)

    router = Router(load_entrypoints=False, plugins=[NotAProvider()])
    with pytest.raises(PluginError, match="not a Provider"):
        router.chat(model="np-1", messages=MSG)


def test_router_register_adds_plugin_later():
    class Tag:
        @hookimpl
        def cencori_post_response(self, context):
            context.decide("tag", "seen", "flag")

    router = Router(load_entrypoints=False)
    assert router.chat(model="echo", messages=MSG).policy_decisions == []
    router.register(Tag())
    assert router.chat(model="echo", messages=MSG).policy_decisions[0].policy == "tag"
