"""Configuration: arguments, environment, TOML; Secret handling; missing keys."""

from __future__ import annotations

import pickle

import pytest

from cencori_core import (
    ConfigurationError,
    ProviderNotConfiguredError,
    Router,
    Secret,
    hookimpl,
)
from cencori_core.testing import FakeProvider

MSG = [{"role": "user", "content": "hi"}]


class KeyedPlugin:
    """A provider that needs a key, like every real one."""

    def __init__(self):
        self.configs = []

    @hookimpl
    def cencori_register_providers(self, register):
        def factory(cfg):
            self.configs.append(cfg)
            return FakeProvider("keyed")

        register("keyed", factory, prefixes=("keyed-",), env_keys=("KEYED_API_KEY",),
                 env_base_url="KEYED_BASE_URL", config_keys=("organization",))


def test_secret_is_masked_and_refuses_pickling():
    s = Secret("sk-very-secret-value-123456")
    assert "very-secret" not in repr(s) and "very-secret" not in str(s)
    assert "very-secret" not in f"{s}" and s.get_secret_value() == "sk-very-secret-value-123456"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(s)
    assert s == Secret("sk-very-secret-value-123456") and s != Secret("other")


def test_missing_key_names_env_var_and_argument(monkeypatch):
    monkeypatch.delenv("KEYED_API_KEY", raising=False)
    plugin = KeyedPlugin()
    router = Router(load_entrypoints=False, plugins=[plugin])  # building is fine
    with pytest.raises(ProviderNotConfiguredError) as info:
        router.chat(model="keyed-1", messages=MSG)
    msg = str(info.value)
    assert "KEYED_API_KEY" in msg and "providers" in msg and "api_key" in msg
    assert info.value.env_vars == ("KEYED_API_KEY",)
    assert plugin.configs == []  # reported before the provider is built, no network


def test_key_and_base_url_from_environment(monkeypatch):
    monkeypatch.setenv("KEYED_API_KEY", "sk-from-env-0123456789abcdef")
    monkeypatch.setenv("KEYED_BASE_URL", "http://127.0.0.1:9/v1")
    plugin = KeyedPlugin()
    router = Router(load_entrypoints=False, plugins=[plugin], timeout=12)
    router.chat(model="keyed-1", messages=MSG)
    cfg = plugin.configs[0]
    assert cfg.api_key.get_secret_value() == "sk-from-env-0123456789abcdef"
    assert cfg.base_url == "http://127.0.0.1:9/v1" and cfg.timeout == 12
    assert "0123456789abcdef" not in repr(cfg) and "0123456789abcdef" not in repr(router)
    assert "sk-from-env-0123456789abcdef" in router.known_secrets()


def test_arguments_beat_environment_and_extra_keys_become_options(monkeypatch):
    monkeypatch.setenv("KEYED_API_KEY", "sk-env")
    plugin = KeyedPlugin()
    router = Router(load_entrypoints=False, plugins=[plugin], providers={
        "keyed": {"api_key": "sk-arg", "base_url": "http://127.0.0.1:1", "timeout": 3,
                  "organization": "org-1", "options": {"default_query": {"a": "1"}}}})
    router.chat(model="keyed-1", messages=MSG)
    cfg = plugin.configs[0]
    assert cfg.api_key.get_secret_value() == "sk-arg" and cfg.timeout == 3.0
    assert cfg.options == {"organization": "org-1"}
    assert cfg.client_options == {"default_query": {"a": "1"}}


def test_custom_named_provider_of_a_type(monkeypatch):
    plugin = KeyedPlugin()
    router = Router(load_entrypoints=False, plugins=[plugin], providers={
        "mine": {"type": "keyed", "api_key": "k" * 20, "models": ["m1"]}})
    r = router.chat(model="mine/m1", messages=MSG)
    assert r.provider == "mine" and r.model == "m1"
    assert plugin.configs[0].name == "mine" and plugin.configs[0].type == "keyed"
    with pytest.raises(ConfigurationError, match="no installed provider of type 'nope'"):
        Router(load_entrypoints=False, providers={"x": {"type": "nope"}})


def test_from_config_toml(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEYED", "sk-toml-env-key-0123456789")
    path = tmp_path / "cencori.toml"
    path.write_text("""
[providers.keyed]
api_key_env = "MY_KEYED"
base_url = "http://127.0.0.1:7/v1"
timeout = 5

[fallbacks]
"keyed-a" = ["keyed-b"]

[retry]
max_attempts = 2
initial_delay = 0.0
""")
    plugin = KeyedPlugin()
    router = Router.from_config(path, load_entrypoints=False, plugins=[plugin])
    router.chat(model="keyed-a", messages=MSG)
    cfg = plugin.configs[0]
    assert cfg.api_key.get_secret_value() == "sk-toml-env-key-0123456789"
    assert cfg.base_url == "http://127.0.0.1:7/v1" and cfg.timeout == 5
    assert router.retry.max_attempts == 2
    # [fallbacks] applies: the primary fails (no retry left) and the fallback answers
    router.provider("keyed").fail(503, times=2)
    r = router.chat(model="keyed-a", messages=MSG)
    assert r.model == "keyed-b"
    assert [a.model for a in r.attempts] == ["keyed-a", "keyed-a", "keyed-b"]


def test_bad_toml_is_configuration_error(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[providers\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        Router.from_config(p)
    p.write_text("[nonsense]\n")
    with pytest.raises(ConfigurationError, match="unknown key"):
        Router.from_config(p)
    with pytest.raises(ConfigurationError, match="not found"):
        Router.from_config(tmp_path / "missing.toml")


def test_models_listed_for_a_custom_endpoint_have_no_capability_limits():
    plugin = KeyedPlugin()
    router = Router(load_entrypoints=False, plugins=[plugin], providers={
        "local": {"type": "keyed", "api_key": "k" * 20, "models": ["my-embedder"]}})
    assert router.embed("local/my-embedder", "text").vectors
