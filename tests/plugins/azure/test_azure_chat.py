"""Azure OpenAI end to end: the real ``openai`` SDK's AzureOpenAI / AsyncAzureOpenAI clients,
through ``Router``, against :mod:`azure_wire` (Azure's paths, ``api-version`` query, ``api-key``
header and answer shapes). Every test runs sync and async."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure_wire import AZURE_KEY, VERSION, AzureWire, azure_router, azure_wire
from openai_wire import form_fields
from parity import MODES, call, raises, stream

from cencori_core import (
    ConfigurationError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderNotConfiguredError,
    Router,
)
from cencori_core.testing import UsageRecorder

__all__ = ["azure_wire"]  # the fixture, imported for pytest

USER = [{"role": "user", "content": "Hello there"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(azure_wire: AzureWire) -> Iterator[Callable[..., Router]]:
    routers: list[Router] = []

    def build(**cfg: Any) -> Router:
        records = UsageRecorder()
        r = azure_router(azure_wire, plugins=["openai", records],
                         **{"deployments": {"my-gpt-4o": "gpt-4o"}, **cfg})
        r.records = records  # type: ignore[attr-defined]
        routers.append(r)
        return r

    yield build
    for r in routers:
        r.close()


def assert_azure_request(wire: AzureWire, path: str, *, key: str | None = AZURE_KEY) -> Any:
    rec = wire.last(path)
    assert rec.path == path
    assert rec.query["api-version"] == [VERSION]
    if key is not None:
        assert rec.headers["api-key"] == key
        assert "authorization" not in rec.headers
    return rec


# ---------------------------------------------------------------------------- chat


def test_chat_goes_to_the_deployment_with_api_key_and_version(make, azure_wire, mode):
    router = make()
    azure_wire.chat_reply("Hi from Azure", usage={"prompt_tokens": 1000,
                                                  "completion_tokens": 500})
    r = call(router, mode, "chat", model="azure/my-gpt-4o", messages=USER,
                   temperature=0.3, max_tokens=20)
    assert r.content == "Hi from Azure" and r.finish_reason == "stop"
    assert r.provider == "azure" and r.model == "gpt-4o-2024-08-06"  # Azure answers the base
    rec = assert_azure_request(azure_wire, "/openai/deployments/my-gpt-4o/chat/completions")
    assert rec.json["model"] == "my-gpt-4o" and rec.json["temperature"] == 0.3
    # priced as the base model (genai-prices' azure data: gpt-4o $2.50 / $10 per million)
    assert r.cost is not None and str(r.cost.total) == "0.0075"
    # the annotations of Azure's content filter are in raw, not in our fields
    raw = json.loads(r.raw.http_response.text)
    assert raw["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"] is False


def test_public_sdk_path_also_reaches_the_deployment(make, azure_wire, mode):
    router = make()
    azure_wire.chat_reply("public path")
    r = call(router, mode, "chat", model="azure/my-gpt-4o", messages=USER,
                   provider_options={"logit_bias": {"50256": -100}})
    assert r.content == "public path"
    rec = assert_azure_request(azure_wire, "/openai/deployments/my-gpt-4o/chat/completions")
    assert rec.json["logit_bias"] == {"50256": -100}


def test_stream_with_azure_empty_first_chunk_and_filter_annotations(make, azure_wire,
                                                                          mode):
    router = make()
    azure_wire.chat_reply("streamed from azure", chunk_size=5,
                          usage={"prompt_tokens": 4, "completion_tokens": 3})
    chunks, s = stream(router, mode, model="azure/my-gpt-4o", messages=USER)
    resp = s.response
    assert "".join(c.delta for c in chunks) == "streamed from azure"
    assert resp.finish_reason == "stop"
    assert resp.usage.prompt_tokens == 4 and resp.usage.source == "provider"
    assert resp.cost is not None
    rec = assert_azure_request(azure_wire, "/openai/deployments/my-gpt-4o/chat/completions")
    assert rec.json["stream"] is True


def test_tool_calls_and_structured_output(make, azure_wire, mode):
    router = make()
    azure_wire.chat_reply(None, tool_calls=[{"name": "get_weather",
                                             "arguments": '{"city": "Oslo"}'}])
    r = call(router, mode, "chat", model="azure/my-gpt-4o", messages=USER, tools=TOOLS)
    assert r.finish_reason == "tool_calls"
    assert r.tool_calls[0].name == "get_weather" and r.tool_calls[0].arguments == {
        "city": "Oslo"}
    assert azure_wire.last().json["tools"][0]["function"]["name"] == "get_weather"

    schema = {"type": "json_schema", "json_schema": {
        "name": "city", "strict": True,
        "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                   "required": ["name"], "additionalProperties": False}}}
    azure_wire.chat_reply('{"name": "Oslo"}')
    r = call(router, mode, "chat", model="azure/my-gpt-4o", messages=USER,
                   response_format=schema)
    assert json.loads(r.content) == {"name": "Oslo"}
    assert azure_wire.last().json["response_format"] == schema


def test_finish_reason_content_filter(make, azure_wire, mode):
    router = make()
    azure_wire.chat_reply("partial", finish_reason="content_filter")
    r = call(router, mode, "chat", model="azure/my-gpt-4o", messages=USER)
    assert r.finish_reason == "content_filter"
    azure_wire.chat_reply("partial", finish_reason="content_filter")
    _, s = stream(router, mode, model="azure/my-gpt-4o", messages=USER)
    assert s.response.finish_reason == "content_filter"


# ---------------------------------------------------------------------------- other operations


def test_embeddings_images_and_audio_on_deployments(make, azure_wire, mode):
    router = make()
    e = call(router, mode, "embed", "azure/my-embed", ["one", "two words"])
    assert len(e.vectors) == 2 and e.provider == "azure"
    assert_azure_request(azure_wire, "/openai/deployments/my-embed/embeddings")

    img = call(router, mode, "generate_image", "azure/my-dalle", "a red square")
    assert img.images and img.provider == "azure"
    assert_azure_request(azure_wire, "/openai/deployments/my-dalle/images/generations")

    t = call(router, mode, "transcribe", "azure/my-whisper", b"RIFF....WAVEfmt ")
    assert t.text == azure_wire.transcript
    rec = assert_azure_request(azure_wire,
                               "/openai/deployments/my-whisper/audio/transcriptions")
    assert form_fields(rec)["model"] == "my-whisper"

    s = call(router, mode, "speech", "azure/my-tts", "hello", voice="alloy")
    assert s.audio and s.provider == "azure"
    assert_azure_request(azure_wire, "/openai/deployments/my-tts/audio/speech")


def test_moderation_is_refused_before_any_request(make, azure_wire, mode):
    router = make()
    with pytest.raises(InvalidRequestError, match="does not support moderation"):
        call(router, mode, "moderate", "azure/anything", "hello")
    assert azure_wire.hits == 0


# ---------------------------------------------------------------------------- deployments


def test_deployment_takes_the_base_model_capabilities(make, azure_wire, mode):
    router = make(deployments={"my-gpt-4o": "gpt-4o", "my-embed": "text-embedding-3-small"})
    info = router.catalog.info(router.resolve("azure/my-gpt-4o"))
    assert info is not None and info.context_window == 128_000 and info.price_id == "gpt-4o"
    with pytest.raises(InvalidRequestError):
        call(router, mode, "embed", "azure/my-gpt-4o", ["no embeddings on a chat model"])
    with pytest.raises(InvalidRequestError):
        call(router, mode, "chat", model="azure/my-embed", messages=USER)
    assert azure_wire.hits == 0


def test_unknown_base_model_and_unlisted_deployment_are_unpriced(make, azure_wire, mode):
    router = make(deployments={"mystery": "no-such-model-9"})
    azure_wire.base_model = None  # the answer names the deployment, as a proxy might
    for model in ("azure/mystery", "azure/unlisted"):
        r = call(router, mode, "chat", model=model, messages=USER)
        assert r.cost is None
        record = router.records.records[-1]
        assert record.cost is None and "not in the price data" in (record.cost_reason or "")


def test_bad_deployments_table_is_a_configuration_error():
    for bad in (["my-gpt-4o"], {"my-gpt-4o": 4}, {"a/b": "gpt-4o"}):
        with pytest.raises(ConfigurationError, match="deployment name -> base model"):
            Router(providers={"azure": {"endpoint": "https://x.openai.azure.com",
                                        "api_key": AZURE_KEY, "deployments": bad}},
                   plugins=["openai"])


# ---------------------------------------------------------------------------- configuration


def test_entra_token_provider_sends_bearer_not_api_key(make, azure_wire, mode):
    token = "entra-token-abcdef0123456789abcdef"
    azure_wire.token = token
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return token

    router = make(api_key=None, azure_ad_token_provider=provider)
    r = call(router, mode, "chat", model="azure/dep", messages=USER)
    assert r.content.startswith("echo:")
    rec = azure_wire.last()
    assert rec.headers["authorization"] == f"Bearer {token}"
    assert "api-key" not in rec.headers
    assert calls  # asked per request
    assert token not in repr(router.provider("azure").config)


def test_async_token_provider_on_the_async_client(make, azure_wire):
    token = "entra-async-token-abcdef0123456789"
    azure_wire.token = token

    async def provider() -> str:  # azure.identity.aio's get_bearer_token_provider shape
        return token

    router = make(api_key=None, azure_ad_token_provider=provider)
    assert call(router, "async", "chat", model="azure/dep", messages=USER).content
    assert azure_wire.last().headers["authorization"] == f"Bearer {token}"
    azure_wire.fail(401, f"token {token} was revoked", request_id=token)
    err = raises(router, "async", "chat", ProviderAuthError, model="azure/dep", messages=USER)
    assert token not in str(err) and token not in repr(err.__cause__)


def test_environment_configures_key_endpoint_and_version(azure_wire, monkeypatch, mode):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure_wire.endpoint)
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01-preview")
    with Router(plugins=["openai"]) as router:
        call(router, mode, "chat", model="azure/env-dep", messages=USER)
    rec = azure_wire.last("/openai/deployments/env-dep/chat/completions")
    assert rec.query["api-version"] == ["2025-01-01-preview"]
    assert rec.headers["api-key"] == AZURE_KEY


@pytest.mark.parametrize(("conf", "error", "match"), [
    ({"api_key": AZURE_KEY}, ConfigurationError, "needs an endpoint"),
    ({"endpoint": "https://x.openai.azure.com"}, ProviderNotConfiguredError,
     "AZURE_OPENAI_API_KEY"),
    ({"endpoint": "https://x.openai.azure.com", "api_key": AZURE_KEY,
      "azure_ad_token_provider": "not callable"}, ConfigurationError, "must be a callable"),
    ({"endpoint": "https://x.openai.azure.com", "api_key": AZURE_KEY,
      "azure_ad_token_provider": lambda: "t"}, ConfigurationError, "use one"),
    ({"endpoint": "https://x.openai.azure.com", "base_url": "https://y/openai",
      "api_key": AZURE_KEY}, ConfigurationError, "not both"),
    ({"endpoint": "https://x.openai.azure.com", "api_key": AZURE_KEY, "api_version": 2024},
     ConfigurationError, "api_version"),
])
def test_bad_configuration_fails_before_anything_is_sent(azure_wire, monkeypatch, mode,
                                                        conf, error, match):
    for var in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    router = Router(providers={"azure": conf}, plugins=["openai"])
    with pytest.raises(error, match=match):
        call(router, mode, "chat", model="azure/dep", messages=USER)
    assert azure_wire.hits == 0


def test_pinned_deployment_sends_the_model_in_the_body(make, azure_wire, mode):
    router = make(deployment="prod-4o")
    call(router, mode, "chat", model="azure/gpt-4o", messages=USER)
    rec = assert_azure_request(azure_wire, "/openai/deployments/prod-4o/chat/completions")
    assert rec.json["model"] == "gpt-4o"


def test_v1_base_url_is_served_without_api_version_in_the_path(make, azure_wire, mode):
    router = make(endpoint=None, base_url=azure_wire.endpoint + "/openai/v1")
    r = call(router, mode, "chat", model="azure/gpt-4o", messages=USER)
    assert r.content.startswith("echo:")
    rec = azure_wire.last()
    assert rec.path == "/openai/v1/chat/completions" and rec.json["model"] == "gpt-4o"
    assert rec.headers["authorization"] == f"Bearer {AZURE_KEY}" and not rec.query


def test_cencori_models_lists_deployments_with_their_base_model(tmp_path, capsys):
    from cencori_core.cli import main

    toml = tmp_path / "cencori.toml"
    toml.write_text('[providers.azure]\nendpoint = "https://my-resource.openai.azure.com"\n'
                    f'api_key = "{AZURE_KEY}"\n'
                    'deployments = { "prod-4o" = "gpt-4o", "mystery" = "no-such-model" }\n')
    assert main(["--config", str(toml), "models", "--json", "--provider", "azure"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"azure/prod-4o", "azure/mystery"}
    assert rows["azure/prod-4o"]["context_window"] == 128_000
    assert rows["azure/prod-4o"]["configured"] is True
    assert rows["azure/mystery"]["context_window"] is None
