"""Vertex AI end to end: the google plugin in Vertex AI mode (``google`` with ``vertexai``, and
``vertex/<model>``) through the real google-genai SDK and google-auth, against
:mod:`vertex_wire`: Google credentials from a credentials object, from a service-account file
(``GOOGLE_APPLICATION_CREDENTIALS``, its token fetched from the wire's token endpoint) and from
the environment's project and location; express mode with a key; the errors that say what is
missing before anything is sent; the access token kept out of errors and spans."""

from __future__ import annotations

import base64
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from google_wire import API_KEY, PNG_B64, error, fc_part, response, usage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from parity import MODES, call, raises, stream
from vertex_wire import (
    CLIENT_EMAIL,
    LOCATION,
    PROJECT,
    TOKEN,
    VertexWire,
    service_account_file,
    vertex_wire,
)

from cencori_core import (
    ConfigurationError,
    ProviderAuthError,
    ProviderNotConfiguredError,
    RetryPolicy,
    Router,
)

__all__ = ["vertex_wire"]  # the fixture, imported for pytest

MSG = [{"role": "user", "content": "hello"}]
BASE = f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models"
_ENV = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_API_VERSION", "CLOUDSDK_CONFIG")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    # no gcloud configuration of this machine: ADC finds only what a test sets up
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # never the real metadata server
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.fixture
def make(vertex_wire: VertexWire) -> Iterator[Callable[..., Router]]:
    routers: list[Router] = []

    def build(provider: str = "vertex", router: dict[str, Any] | None = None,
              **cfg: Any) -> Router:
        conf = {"base_url": vertex_wire.base_url, "project": PROJECT, "location": LOCATION,
                "credentials": Credentials(token=TOKEN), **cfg}
        r = Router(providers={provider: {k: v for k, v in conf.items() if v is not None}},
                   plugins=["google"], retry=RetryPolicy(max_attempts=1), **(router or {}))
        routers.append(r)
        return r

    yield build
    for r in routers:
        r.close()


def assert_bearer(wire: VertexWire, path: str) -> Any:
    rec = wire.requests[-1]
    assert rec.path == f"{BASE}/{path}"
    assert rec.headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-goog-api-key" not in rec.headers
    return rec


# ---------------------------------------------------------------------------- operations


def test_chat_stream_and_tools_on_vertex_paths(make, vertex_wire, mode):
    router = make()
    r = call(router, mode, "chat", model="vertex/gemini-2.5-flash", messages=MSG)
    assert r.content == "echo: hello" and r.provider == "vertex"
    assert r.cost is not None  # Gemini's prices (genai-prices' google data)
    assert_bearer(vertex_wire, "gemini-2.5-flash:generateContent")

    chunks, s = stream(router, mode, model="vertex/gemini-2.5-flash", messages=MSG)
    assert "".join(c.delta for c in chunks) == "echo: hello"
    rec = assert_bearer(vertex_wire, "gemini-2.5-flash:streamGenerateContent")
    assert rec.query["alt"] == ["sse"]

    vertex_wire.reply("generateContent", response([fc_part("get_weather", {"city": "Oslo"})],
                                                  use=usage(3, 2)))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    r = call(router, mode, "chat", model="vertex/gemini-2.5-flash", messages=MSG, tools=tools)
    assert r.tool_calls[0].name == "get_weather" and r.tool_calls[0].arguments == {
        "city": "Oslo"}


def test_embeddings_and_imagen(make, vertex_wire, mode):
    router = make()
    e = call(router, mode, "embed", "vertex/text-embedding-005", ["one two", "three"])
    assert len(e.vectors) == 2 and e.usage.prompt_tokens == 3
    rec = assert_bearer(vertex_wire, "text-embedding-005:predict")
    assert rec.json["instances"] == [{"content": "one two"}, {"content": "three"}]

    img = call(router, mode, "generate_image", "vertex/imagen-4.0-generate-001", "a lighthouse")
    assert img.images[0].data == base64.b64decode(PNG_B64)
    assert_bearer(vertex_wire, "imagen-4.0-generate-001:predict")


def test_google_provider_in_vertex_mode_needs_no_api_key(make, vertex_wire, mode):
    router = make("google", vertexai=True)
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG)
    assert r.provider == "google" and r.content == "echo: hello"
    assert_bearer(vertex_wire, "gemini-2.5-flash:generateContent")


# ---------------------------------------------------------------------------- credentials


def test_service_account_file_from_the_environment(make, vertex_wire, monkeypatch, tmp_path,
                                                   mode):
    key_file = service_account_file(vertex_wire, tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    router = make(project=None, credentials=None)  # the project from the file
    r = call(router, mode, "chat", model="vertex/gemini-2.5-flash", messages=MSG)
    assert r.content == "echo: hello"
    assert_bearer(vertex_wire, "gemini-2.5-flash:generateContent")
    # google-auth signed a JWT-bearer grant with the file's key (the wire checked it)
    assert [g["iss"] for g in vertex_wire.grants] == [CLIENT_EMAIL]
    assert vertex_wire.grants[0]["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    call(router, mode, "chat", model="vertex/gemini-2.5-flash", messages=MSG)
    assert len(vertex_wire.grants) == 1  # the token is reused until it expires


def test_project_and_location_from_the_environment(make, vertex_wire, monkeypatch, mode):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", LOCATION)
    router = make(project=None, location=None)
    call(router, mode, "chat", model="vertex/gemini-2.5-flash", messages=MSG)
    assert_bearer(vertex_wire, "gemini-2.5-flash:generateContent")


def test_express_mode_with_a_key_keeps_working(make, vertex_wire, mode):
    router = make("google", vertexai=True, api_key=API_KEY, project=None, location=None,
                  credentials=None)
    call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG)
    rec = vertex_wire.requests[-1]
    assert rec.path == "/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent"
    assert rec.headers["x-goog-api-key"] == API_KEY and "authorization" not in rec.headers


@pytest.mark.parametrize(("cfg", "error", "match"), [
    ({"credentials": None}, ProviderNotConfiguredError, "found no Google credentials"),
    ({"project": None}, ProviderNotConfiguredError, "needs a Google Cloud project"),
    ({"credentials": "a token string"}, ConfigurationError, "google-auth credentials object"),
    ({"project": ""}, ConfigurationError, "project must be a non-empty string"),
])
def test_missing_or_bad_credentials_fail_before_anything_is_sent(make, vertex_wire, mode, cfg,
                                                                 error, match):
    err = raises(make(**cfg), mode, "chat", error, model="vertex/gemini-2.5-flash",
                 messages=MSG)
    assert match in str(err)
    assert vertex_wire.requests == []


def test_google_without_key_or_vertex_still_names_its_variables(vertex_wire, mode):
    err = raises(Router(plugins=["google"]), mode, "chat", ProviderNotConfiguredError,
                 model="gemini-2.5-flash", messages=MSG)
    assert err.env_vars == ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    assert vertex_wire.requests == []


# ---------------------------------------------------------------------------- errors, secrets


def test_wrong_token_is_an_auth_error(make, vertex_wire, mode):
    vertex_wire.token = "another-token-0123456789abcdef"
    err = raises(make(), mode, "chat", ProviderAuthError, model="vertex/gemini-2.5-flash",
                 messages=MSG)
    assert err.status_code == 401 and "invalid authentication credentials" in str(err)


def test_echoed_token_never_leaks_in_errors_or_spans(make, vertex_wire, mode):
    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    router = make(router={"tracer_provider": tracer})
    vertex_wire.fail(error(401, "UNAUTHENTICATED", f"token {TOKEN} has expired",
                           headers={"x-request-id": TOKEN, "x-echo": f"Bearer {TOKEN}"}))
    err = raises(router, mode, "chat", ProviderAuthError, model="vertex/gemini-2.5-flash",
                 messages=MSG)
    e: BaseException | None = err
    while e is not None:
        assert TOKEN not in "".join(traceback.format_exception(e)) + repr(vars(e))
        e = e.__cause__
    spans = exporter.get_finished_spans()
    assert {s.attributes.get("gen_ai.provider.name") for s in spans
            if s.name.startswith("chat")} == {"gcp.vertex_ai"}
    assert all(TOKEN not in repr(dict(s.attributes or {})) for s in spans)
    tracer.shutdown()


def test_resolve_and_catalog(make):
    router = make()
    route = router.resolve("vertex/gemini-2.5-flash")
    assert (route.provider, route.model, route.via) == ("vertex", "gemini-2.5-flash",
                                                        "explicit")
    assert router.resolve("gemini-2.5-flash").provider == "google"  # bare names stay Gemini's
