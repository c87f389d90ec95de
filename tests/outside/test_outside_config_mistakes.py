"""From the outside, as a new user writing a config: every mistake in a TOML file or in the
Router's arguments is a ``ConfigurationError`` (or its ``PluginError``) that names the place,
raised when the router is built, never a ``TypeError``, ``UnicodeDecodeError``,
``RecursionError``, ``sqlite3.OperationalError`` or a value silently taken for another one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cencori_core import ConfigurationError, PluginError, Router

BAD_TOML = {
    "not-utf8": b"\xff\xfe[providers.openai]\n",
    "nested-too-deep": ("a = " + "[" * 5000 + "]" * 5000).encode(),
    "api-key-env-not-a-string": b"[providers.openai]\napi_key_env = 5\n",
    "api-key-not-a-string": b"[providers.openai]\napi_key = 5\n",
    "models-not-a-list": (b"[providers.local]\ntype = 'openai_compatible'\n"
                          b"base_url = 'http://127.0.0.1:9/v1'\nmodels = 5\n"),
    "ledger-path-not-a-string": b"[ledger]\npath = 5\n",
    "ledger-path-a-directory": b"[ledger]\npath = '/'\n",
    "ledger-path-under-a-file": b"[ledger]\npath = '/dev/null/usage.db'\n",
    "telemetry-enabled-a-string": b"[telemetry]\nenabled = 'no'\n",
    "telemetry-capture-a-string": b"[telemetry]\ncapture_content = 'false'\n",
    "plugin-misspelled": b"plugins = ['opena']\n",
    "cooldown-negative": b"[cooldown]\ncooldown_s = -1\n",
    "cooldown-nan": b"[cooldown]\nwindow_s = nan\n",
    "deployment-weight-nan": (b"[[deployments.fast]]\nprovider = 'echo'\nmodel = 'echo'\n"
                              b"weight = nan\n"),
    "deployment-weight-inf": (b"[[deployments.fast]]\nprovider = 'echo'\nmodel = 'echo'\n"
                              b"weight = inf\n"),
}


@pytest.mark.parametrize("name", sorted(BAD_TOML))
def test_a_config_mistake_is_a_configuration_error_naming_the_file(name, tmp_path):
    path = tmp_path / "cencori.toml"
    path.write_bytes(BAD_TOML[name])
    with pytest.raises(ConfigurationError) as info:
        Router.from_config(str(path))
    assert str(path) in str(info.value)
    assert info.value.__cause__ is None  # one clear line, no internal chain to read
    assert not list(tmp_path.glob("5*")), "no ledger file named after a number"


def test_a_config_file_that_is_a_directory_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        Router.from_config(str(tmp_path))


@pytest.mark.parametrize("path", ["/", "/dev/null/usage.db", "/proc/self/no/such/usage.db"])
def test_a_ledger_path_that_cannot_be_opened_is_named(path):
    with pytest.raises(ConfigurationError, match="cannot open the ledger/key store") as info:
        Router(ledger_path=path)
    assert repr(path) in str(info.value)


def test_a_misspelled_plugin_name_is_an_error_naming_the_closest():
    # Before: plugins=["opena"] loaded nothing, and 'gpt-4o' was then an unknown model
    # ("installed providers: echo") with no word about the typo.
    with pytest.raises(PluginError, match="'opena' \\(did you mean 'openai'\\?\\)"):
        Router(plugins=["opena"])
    with pytest.raises(PluginError, match="plugin names, not provider names"):
        Router(plugins=["openai", "xai"])
    assert Router(plugins=["openai", "echo"]).loaded_plugins == ["openai"]


def test_a_misspelled_plugin_name_in_the_environment_is_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("CENCORI_PLUGINS", "opena,echo")
    with caplog.at_level(logging.WARNING, "cencori_core"):
        router = Router()
    assert router.loaded_plugins == []
    assert "CENCORI_PLUGINS" in caplog.text and "did you mean 'openai'" in caplog.text


class _SecretStr:
    """Shaped as pydantic's SecretStr (settings classes hold keys in it): str() is masked."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __str__(self) -> str:
        return "**********"

    def get_secret_value(self) -> str:
        return self._value


def test_a_key_in_a_secret_str_is_sent_as_its_value_not_as_stars():
    from openai_wire import OpenAIWire

    with OpenAIWire() as wire:
        router = Router(providers={"openai": {"api_key": _SecretStr("sk-from-settings-123"),
                                              "base_url": wire.base_url}})
        router.chat(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert wire.last("/chat/completions").headers["authorization"] == \
            "Bearer sk-from-settings-123"
        router.close()


@pytest.mark.parametrize("cooldown", [{"allowed_fails": -1}, {"window_s": -5},
                                      {"cooldown_s": float("inf")}, {"allowed_fails": 1.5}])
def test_a_cooldown_out_of_range_is_refused(cooldown):
    with pytest.raises(ConfigurationError, match="cooldown"):
        Router(load_entrypoints=False, cooldown=cooldown)


def test_the_readme_config_still_loads(tmp_path: Path):
    # the fixes above must not refuse a valid file: tests/config/test_config_readme.py loads
    # the README's own; here the smallest file using each table touched
    path = tmp_path / "c.toml"
    path.write_text("plugins = ['openai', 'echo']\n[telemetry]\nenabled = false\n"
                    "capture_content = false\n[cooldown]\nallowed_fails = 0\nwindow_s = 0\n"
                    "cooldown_s = 0.5\n[ledger]\npath = 'usage.db'\n"
                    "[providers.openai]\napi_key_env = 'NO_SUCH_VAR_FOR_TEST'\n")
    Router.from_config(str(path)).close()
    assert (tmp_path / "usage.db").exists()
