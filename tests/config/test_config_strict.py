"""Strict configuration (issue 20): every silent mistake is a ConfigurationError at construction
that names the key, the closest allowed one and all of them; TOML files obey the same rules and
name the file and the table."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cencori_core import ConfigurationError, Router, UnknownModelError, hookimpl
from cencori_core.testing import FakeProvider

MSG = [{"role": "user", "content": "hi"}]
KEY = "sk-test-0123456789abcdef"


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cencori.toml"
    path.write_text(textwrap.dedent(text))
    return path


# ---------------------------------------------------------------------------- fallbacks


def test_fallbacks_string_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError) as info:
        Router(load_entrypoints=False, fallbacks={"m": "echo/echo"})
    assert 'fallbacks["m"] must be a list' in str(info.value)
    assert '["echo/echo"]' in str(info.value)


@pytest.mark.parametrize("value", [{"m": [1]}, {"m": {"a": "b"}}, {"m": [""]}, ["m"], "m"])
def test_fallbacks_other_shapes_are_refused(value: object) -> None:
    with pytest.raises(ConfigurationError, match="fallbacks"):
        Router(load_entrypoints=False, fallbacks=value)  # type: ignore[arg-type]


def test_fallbacks_lists_still_work() -> None:
    fake = FakeProvider("primary")
    fake.fail(503)
    router = Router(load_entrypoints=False, providers={"primary": fake},
                    fallbacks={"primary/x": ["echo/echo"]}, retry=1)
    r = router.chat(model="primary/x", messages=MSG)
    assert r.provider == "echo"


def test_context_window_fallbacks_take_one_name() -> None:
    with pytest.raises(ConfigurationError) as info:
        Router(load_entrypoints=False, context_window_fallbacks={"gpt-4o": ["gpt-4.1"]})
    assert "one model name" in str(info.value) and "'gpt-4.1'" in str(info.value)
    Router(load_entrypoints=False, context_window_fallbacks={"gpt-4o": "gpt-4.1"})


def test_toml_fallbacks_string_names_file_and_table(tmp_path: Path) -> None:
    path = toml(tmp_path, """
        [fallbacks]
        "echo/a" = "echo/echo"
        """)
    with pytest.raises(ConfigurationError) as info:
        Router.from_config(path, load_entrypoints=False)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "[fallbacks.echo/a]" in msg and '["echo/echo"]' in msg


# ---------------------------------------------------------------------------- provider keys


def test_misspelled_provider_key_names_the_closest_and_the_allowed() -> None:
    with pytest.raises(ConfigurationError) as info:
        Router(plugins=["openai"], providers={"openai": {"api_key": KEY,
                                                         "bse_url": "http://127.0.0.1:9"}})
    msg = str(info.value)
    assert "providers['openai']" in msg and "'bse_url'" in msg
    assert "did you mean 'base_url'?" in msg
    for allowed in ("api_key", "base_url", "timeout", "options", "organization", "project"):
        assert allowed in msg
    assert KEY not in msg


def test_api_version_only_where_declared() -> None:
    with pytest.raises(ConfigurationError) as info:
        Router(plugins=["openai"], providers={"openai": {"api_version": "2024-10-21"}})
    assert "'api_version'" in str(info.value) and "declare" in str(info.value)
    router = Router(plugins=["anthropic"],
                    providers={"anthropic": {"api_key": KEY, "api_version": "2023-06-01"}})
    assert router.provider("anthropic").config.options["api_version"] == "2023-06-01"


def test_each_plugin_declares_its_keys() -> None:
    router = Router(plugins=["openai", "anthropic", "google", "mistral", "cohere"], providers={
        "openai": {"api_key": KEY, "organization": "org-1", "project": "p-1"},
        "local": {"type": "openai_compatible", "base_url": "http://127.0.0.1:9/v1",
                  "organization": "org-2"},
        "google": {"api_key": KEY, "vertexai": True, "project": "p", "location": "us-central1",
                   "api_version": "v1"},
        "anthropic": {"api_key": KEY, "api_version": "2023-06-01"},
        "mistral": {"api_key": KEY, "server": "eu"},
        "cohere": {"api_key": KEY, "headers": {"X-Team": "a"}},
    })
    assert router.provider("mistral").config.options == {"server": "eu"}
    with pytest.raises(ConfigurationError, match="did you mean 'server'"):
        Router(plugins=["mistral"], providers={"mistral": {"sever": "eu"}})
    with pytest.raises(ConfigurationError, match="did you mean 'vertexai'"):
        Router(plugins=["google"], providers={"google": {"vertex_ai": True}})


def test_options_are_the_sdk_passthrough() -> None:
    router = Router(plugins=["openai"], providers={"openai": {
        "api_key": KEY, "options": {"default_query": {"a": "1"}, "organization": "org-9"}}})
    cfg = router.provider("openai").config
    assert cfg.client_options == {"default_query": {"a": "1"}}
    assert cfg.options == {"organization": "org-9"}  # a key the provider knows by name


@pytest.mark.parametrize("option,why", [("api_key", "top level"), ("max_retries", "retry"),
                                        ("timeout", "top level")])
def test_options_refuse_what_the_table_or_router_owns(option: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why):
        Router(plugins=["openai"], providers={"openai": {"options": {option: 1}}})


def test_unknown_sdk_option_fails_before_anything_is_sent() -> None:
    router = Router(plugins=["openai"], retry=1, providers={"openai": {
        "api_key": KEY, "base_url": "http://127.0.0.1:9/v1", "options": {"default_qury": {}}}})
    with pytest.raises(ConfigurationError) as info:
        router.chat(model="gpt-4o", messages=MSG)
    msg = str(info.value)
    assert "'default_qury'" in msg and "did you mean 'default_query'" in msg
    assert "OpenAI" in msg and KEY not in msg


def test_plugin_config_keys_are_used_generically() -> None:
    seen = []

    class Cloud:
        @hookimpl
        def cencori_register_providers(self, register):  # type: ignore[no-untyped-def]
            register("cloud", lambda cfg: seen.append(cfg) or FakeProvider("cloud"),
                     prefixes=("cloud-",), requires_key=False, config_keys=("endpoint", "region"))

    router = Router(load_entrypoints=False, plugins=[Cloud()],
                    providers={"cloud": {"endpoint": "https://x.test", "region": "eu"}})
    router.provider("cloud")
    assert seen[0].options == {"endpoint": "https://x.test", "region": "eu"}
    with pytest.raises(ConfigurationError, match="did you mean 'region'"):
        Router(load_entrypoints=False, plugins=[Cloud()], providers={"cloud": {"regoin": "eu"}})


def test_unknown_provider_type_names_the_closest() -> None:
    with pytest.raises(ConfigurationError) as info:
        Router(plugins=["openai"], providers={"local": {"type": "openai_compatibel"}})
    assert "did you mean 'openai_compatible'" in str(info.value)


def test_deployment_entries_are_strict() -> None:
    ok = Router(plugins=["openai"], deployments={"m": [
        {"provider": "openai", "api_key": KEY, "model": "gpt-4o", "weight": 2, "rpm": 10,
         "tpm": 1000, "name": "east", "organization": "org-1"}]})
    assert ok.resolve("m").provider == "openai"
    with pytest.raises(ConfigurationError) as info:
        Router(plugins=["openai"], deployments={"m": [
            {"provider": "openai", "api_key": KEY, "wieght": 2}]})
    msg = str(info.value)
    assert "deployments['m'][0]" in msg and "did you mean 'weight'" in msg and "rpm" in msg


def test_toml_provider_key_names_file_and_table(tmp_path: Path) -> None:
    path = toml(tmp_path, """
        [providers.openai]
        api_key = "sk-test-0123456789abcdef"
        bse_url = "http://127.0.0.1:9/v1"
        """)
    with pytest.raises(ConfigurationError) as info:
        Router.from_config(path, plugins=["openai"])
    msg = str(info.value)
    assert msg.startswith(str(path)) and "[providers.openai].bse_url" in msg
    assert "did you mean 'base_url'" in msg and KEY not in msg


def test_toml_deployment_key_names_the_entry(tmp_path: Path) -> None:
    path = toml(tmp_path, """
        [[deployments.m]]
        provider = "openai"
        api_key = "sk-test-0123456789abcdef"

        [[deployments.m]]
        provider = "openai"
        modle = "gpt-4o"
        """)
    with pytest.raises(ConfigurationError) as info:
        Router.from_config(path, plugins=["openai"])
    assert "[[deployments.m]] (entry 2).modle" in str(info.value)
    assert "did you mean 'model'" in str(info.value)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = toml(tmp_path, """
        [providers.openai]
        api_key = "unterminated
        """)
    with pytest.raises(ConfigurationError) as info:
        Router.from_config(path)
    assert str(path) in str(info.value) and "line 3" in str(info.value)


@pytest.mark.parametrize("text,needle", [
    ("[provider.openai]\n", "did you mean 'providers'"),
    ("[router]\ntimout = 3\n", "did you mean 'timeout'"),
    ("[telemetry]\nenabeld = true\n", "did you mean 'enabled'"),
    ("[ledger]\npth = 'x.db'\n", "did you mean 'path'"),
])
def test_toml_misspelled_tables_and_keys(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as info:
        Router.from_config(path, load_entrypoints=False)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_router_keywords_stay_closed() -> None:
    with pytest.raises(TypeError):
        Router(fallback={"a": ["b"]})  # type: ignore[call-arg]


# ---------------------------------------------------------------------------- plugins=


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def cencori_pre_request(self, context):  # type: ignore[no-untyped-def]
        self.seen.append(context.route.model)


def test_hook_objects_do_not_switch_installed_providers_off() -> None:
    rec = Recorder()
    router = Router(plugins=[rec])
    assert {"openai", "anthropic", "google", "mistral", "cohere"} <= set(router.catalog.providers)
    router.chat(model="echo/echo", messages=MSG)
    assert rec.seen and "recorder" in router.loaded_plugins


def test_names_allow_list_and_objects_add() -> None:
    rec = Recorder()
    router = Router(plugins=["anthropic", rec])
    assert "anthropic" in router.catalog.providers and "openai" not in router.catalog.providers
    router.chat(model="echo/echo", messages=MSG)
    assert rec.seen == ["echo"]


def test_plugins_must_be_a_list() -> None:
    with pytest.raises(ConfigurationError, match=r"plugins=\['openai'\]"):
        Router(plugins="openai")


# ---------------------------------------------------------------------------- model names


def test_prefix_typo_suggests_the_catalog_name() -> None:
    router = Router(plugins=["anthropic"])
    with pytest.raises(UnknownModelError) as info:
        router.chat(model="claude-sonet-4", messages=MSG)
    assert "did you mean 'claude-sonnet-4'" in str(info.value)
    assert "anthropic/claude-sonet-4" in str(info.value)  # how to send it as written
    assert info.value.matches == ["claude-sonnet-4"]


def test_prefix_routes_new_models_that_differ_by_digits() -> None:
    router = Router(plugins=["openai"])
    assert router.resolve("gpt-4.9").via == "prefix"
    assert router.resolve("gpt-4o-2030-01-01").via == "prefix"
    assert router.resolve("openai/gpt-4o-minii").provider == "openai"


@pytest.mark.parametrize("name,extra", [("azure/gpt-4o", "openai"),
                                        ("bedrock/anthropic.claude-v2", "bedrock"),
                                        ("vertex/gemini-2.5-flash", "google")])
def test_cloud_providers_not_installed_are_named(name: str, extra: str) -> None:
    router = Router(plugins=["anthropic"])
    with pytest.raises(UnknownModelError) as info:
        router.chat(model=name, messages=MSG)
    msg = str(info.value)
    assert f"provider '{name.split('/')[0]}' is not installed" in msg
    assert f'pip install "cencori-core[{extra}]"' in msg


@pytest.mark.parametrize("kw", [{"providers": ["openai"]}, {"deployments": "m"}])
def test_providers_and_deployments_must_be_tables(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="must map names"):
        Router(load_entrypoints=False, **kw)  # type: ignore[arg-type]
