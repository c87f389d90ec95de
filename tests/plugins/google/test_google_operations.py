"""Gemini embeddings and image generation end to end (real google-genai SDK, router, Gemini wire
server), sync and async: batchEmbedContents, image models through generateContent, Imagen through
Vertex AI's predict."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from google_wire import API_KEY, PNG_B64, GeminiWire, camel, response, usage
from loopback import Reply
from parity import MODES, call, raises

from cencori_core import (
    ContentFilterError,
    InvalidRequestError,
    ProviderResponseError,
    RetryPolicy,
    Router,
)

pytestmark = pytest.mark.filterwarnings("ignore::google.genai.errors.ExperimentalWarning")


@pytest.fixture
def wire() -> Iterator[GeminiWire]:
    with GeminiWire() as w:
        yield w


def router_for(wire: GeminiWire, **options) -> Router:
    return Router(plugins=["google"], retry=RetryPolicy(max_attempts=1), providers={
        "google": {"api_key": API_KEY, "base_url": wire.base_url, **options}})


@pytest.fixture
def router(wire: GeminiWire) -> Iterator[Router]:
    r = router_for(wire)
    yield r
    r.close()


def image_part(data: str = PNG_B64, mime: str = "image/png") -> dict:
    return {"inlineData": {"mimeType": mime, "data": data}}


# ---------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("mode", MODES)
def test_embed_batch_with_dimensions_and_task_type(router: Router, wire: GeminiWire,
                                                   mode: str) -> None:
    r = call(router, mode, "embed", "gemini-embedding-001", ["alpha", "beta", "gamma"],
             dimensions=8, input_type="search_query")
    assert len(r.vectors) == 3 and all(len(v) == 8 for v in r.vectors)
    assert r.vectors[0] != r.vectors[1]
    assert (r.provider, r.model) == ("google", "gemini-embedding-001")
    # Gemini's embedding API reports no tokens: the router estimates them
    assert r.usage.source == "estimated" and r.usage.prompt_tokens > 0
    rec = wire.last("batchEmbedContents")
    assert rec.path == "/v1/models/gemini-embedding-001:batchEmbedContents"
    assert [camel(q) for q in rec.json["requests"]] == [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]},
         "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 8}
        for t in ("alpha", "beta", "gamma")]


@pytest.mark.parametrize("mode", MODES)
def test_embed_usage_when_reported_and_one_vector_per_input(router: Router, wire: GeminiWire,
                                                            mode: str) -> None:
    wire.reply("batchEmbedContents", {"embeddings": [{"values": [0.1, 0.2]},
                                                     {"values": [0.3, 0.4]}],
                                      "usageMetadata": {"promptTokenCount": 9}})
    # a multimodal embedding model: two strings must stay two inputs (two vectors)
    r = call(router, mode, "embed", "gemini-embedding-2", ["one", "two"],
             input_type="CLUSTERING")
    assert r.vectors == [[0.1, 0.2], [0.3, 0.4]]
    assert (r.usage.prompt_tokens, r.usage.total_tokens, r.usage.source) == (9, 9, "provider")
    assert r.cost is not None and r.cost.total > 0
    reqs = wire.last("batchEmbedContents").json["requests"]
    assert [q["content"]["parts"] for q in reqs] == [[{"text": "one"}], [{"text": "two"}]]
    assert {q["taskType"] for q in reqs} == {"CLUSTERING"}


@pytest.mark.parametrize("mode", MODES)
def test_embed_bad_input_type_is_refused_before_the_network(router: Router, wire: GeminiWire,
                                                            mode: str) -> None:
    err = raises(router, mode, "embed", InvalidRequestError, "gemini-embedding-001", "x",
                 input_type="sideways")
    assert "retrieval_query" in str(err) and err.param == "input_type"
    assert wire.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_embed_count_mismatch_is_response_error(router: Router, wire: GeminiWire,
                                                mode: str) -> None:
    wire.reply("batchEmbedContents", {"embeddings": [{"values": [0.1]}]})
    raises(router, mode, "embed", ProviderResponseError, "gemini-embedding-001", ["a", "b"])


# ---------------------------------------------------------------------------- Gemini images


@pytest.mark.parametrize("mode", MODES)
def test_gemini_image_model(router: Router, wire: GeminiWire, mode: str) -> None:
    wire.reply("generateContent", response([image_part()], use=usage(12, 1290)))
    r = call(router, mode, "generate_image", "gemini-2.5-flash-image", "a red fox",
             size="1536x1024")
    [img] = r.images
    assert img.data == base64.b64decode(PNG_B64) and img.mime_type == "image/png"
    assert (r.usage.images, r.usage.prompt_tokens, r.usage.completion_tokens) == (1, 12, 1290)
    assert r.cost is not None
    body = camel(wire.last("generateContent").json)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a red fox"}]}]
    assert body["generationConfig"] == {"responseModalities": ["IMAGE"],
                                        "imageConfig": {"aspectRatio": "3:2"}}


@pytest.mark.parametrize("mode", MODES)
def test_gemini_image_n_uses_candidates(router: Router, wire: GeminiWire, mode: str) -> None:
    wire.reply("generateContent", response([image_part()], candidates=2, use=usage(5, 2580)))
    r = call(router, mode, "generate_image", "gemini-2.5-flash-image", "two foxes", n=2)
    assert len(r.images) == 2 and r.usage.images == 2
    assert camel(wire.last("generateContent").json)["generationConfig"]["candidateCount"] == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("finish,cls", [("IMAGE_SAFETY", ContentFilterError),
                                        ("NO_IMAGE", ProviderResponseError)])
def test_gemini_image_missing(router: Router, wire: GeminiWire, mode: str, finish: str,
                              cls: type) -> None:
    wire.reply("generateContent", response([], finish=finish, use=usage(5)))
    err = raises(router, mode, "generate_image", cls, "gemini-2.5-flash-image", "x")
    assert finish in str(err)


@pytest.mark.parametrize("mode", MODES)
def test_unsupported_size_is_refused(router: Router, wire: GeminiWire, mode: str) -> None:
    err = raises(router, mode, "generate_image", InvalidRequestError, "gemini-2.5-flash-image",
                 "x", size="1000x300")
    assert "16:9" in str(err) and wire.requests == []


# ---------------------------------------------------------------------------- Imagen (Vertex AI)


@pytest.mark.parametrize("mode", MODES)
def test_imagen_through_vertex_predict(wire: GeminiWire, mode: str) -> None:
    router = router_for(wire, vertexai=True)
    r = call(router, mode, "generate_image", "imagen-4.0-generate-001", "a lighthouse", n=2,
             size="1920x1080", provider_options={"person_generation": "DONT_ALLOW"})
    assert [i.data for i in r.images] == [base64.b64decode(PNG_B64)] * 2
    assert r.usage.images == 2
    assert r.cost is None  # Imagen is priced per image, not in the token price data
    rec = wire.last("predict")
    assert rec.path == "/v1beta1/publishers/google/models/imagen-4.0-generate-001:predict"
    assert rec.headers["x-goog-api-key"] == API_KEY
    assert rec.json == {"instances": [{"prompt": "a lighthouse"}],
                        "parameters": {"sampleCount": 2, "aspectRatio": "16:9",
                                       "personGeneration": "DONT_ALLOW"}}


@pytest.mark.parametrize("mode", MODES)
def test_imagen_all_filtered(wire: GeminiWire, mode: str) -> None:
    wire.reply("predict", Reply.json({"predictions": [{"raiFilteredReason": "unsafe"}]}))
    err = raises(router_for(wire, vertexai=True), mode, "generate_image", ContentFilterError,
                 "imagen-4.0-generate-001", "x")
    assert "unsafe" in str(err)


@pytest.mark.parametrize("mode", MODES)
def test_imagen_needs_vertex(router: Router, wire: GeminiWire, mode: str) -> None:
    err = raises(router, mode, "generate_image", InvalidRequestError, "imagen-4.0-generate-001",
                 "x")
    assert "vertexai" in str(err) and "gemini-2.5-flash-image" in str(err)
    assert wire.requests == []
