"""Telemetry end to end: the real openai SDK through the router against the OpenAI wire server
on 127.0.0.1, spans and metrics read back with the OTel SDK's in-memory exporter and reader."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from openai_wire import OpenAIWire
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cencori_core import AllAttemptsFailedError, RetryPolicy, Router

KEY = "sk-test-E2ETELEMETRY0123456789abcdef"
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, jitter=0)
MSG = [{"role": "user", "content": "What is the capital of France?"}]
USAGE = {"prompt_tokens": 50, "completion_tokens": 7,
         "prompt_tokens_details": {"cached_tokens": 32},
         "completion_tokens_details": {"reasoning_tokens": 2}}


@pytest.fixture
def wire() -> Iterator[OpenAIWire]:
    with OpenAIWire() as w:
        yield w


@pytest.fixture
def otel() -> Iterator[Any]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    yield exporter, reader, tp, mp
    tp.shutdown()
    mp.shutdown()


def _router(wire: OpenAIWire, otel: Any, provider: str = "openai") -> Router:
    _, _, tp, mp = otel
    return Router(providers={provider: {"api_key": KEY, "base_url": wire.base_url}},
                  plugins=["openai"], retry=FAST, tracer_provider=tp, meter_provider=mp)


def _spans(otel: Any) -> list[Any]:
    return list(otel[0].get_finished_spans())


def _points(otel: Any, name: str) -> list[Any]:
    data = otel[1].get_metrics_data()
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == name for p in m.data.data_points]


def _no_key(spans: list[Any]) -> None:
    for s in spans:
        assert KEY not in repr(dict(s.attributes)) and KEY not in str(s.status.description)


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_openai_chat_through_the_sdk(wire: OpenAIWire, otel: Any, mode: str) -> None:
    wire.chat_reply("Paris.", id="chatcmpl-wire42", model="gpt-4o-2024-08-06", usage=USAGE)
    router = _router(wire, otel)
    if mode == "sync":
        r = router.chat(model="gpt-4o", messages=MSG, temperature=0.0, max_tokens=16)
    elif mode == "async":
        r = asyncio.run(router.achat(model="gpt-4o", messages=MSG, temperature=0.0,
                                     max_tokens=16))
    elif mode == "stream":
        with router.chat_stream(model="gpt-4o", messages=MSG, temperature=0.0,
                                max_tokens=16) as s:
            s.text()
        r = s.response
    else:
        async def run() -> Any:
            async with router.achat_stream(model="gpt-4o", messages=MSG, temperature=0.0,
                                           max_tokens=16) as s:
                await s.text()
            return s.response

        r = asyncio.run(run())
    assert r.content == "Paris."
    assert wire.last("/chat/completions").json["model"] == "gpt-4o"

    spans = {s.name: s for s in _spans(otel)}
    assert set(spans) == {"chat gpt-4o", "attempt 1"}
    call = spans["chat gpt-4o"]
    a = call.attributes
    assert call.kind is SpanKind.CLIENT
    assert a["gen_ai.provider.name"] == "openai"
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == wire.server.port
    assert a["gen_ai.request.temperature"] == 0.0 and a["gen_ai.request.max_tokens"] == 16
    assert a["gen_ai.response.id"] == "chatcmpl-wire42"
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 50
    assert a["gen_ai.usage.cache_read.input_tokens"] == 32
    assert a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.usage.reasoning.output_tokens"] == 2
    assert a["cencori.usage.source"] == "provider"
    assert r.cost is not None and a["cencori.cost_usd"] == pytest.approx(float(r.cost.total))
    _no_key(list(spans.values()))

    tokens = {p.attributes["gen_ai.token.type"]: p.sum
              for p in _points(otel, "gen_ai.client.token.usage")}
    assert tokens == {"input": 50, "output": 7}
    (duration,) = _points(otel, "gen_ai.client.operation.duration")
    assert duration.attributes["server.address"] == "127.0.0.1"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_server_errors_then_success(wire: OpenAIWire, otel: Any, mode: str) -> None:
    wire.fail(500, "upstream hiccup", times=2)
    wire.chat_reply("ok", usage={"prompt_tokens": 3, "completion_tokens": 1})
    router = _router(wire, otel)
    if mode == "sync":
        router.chat(model="gpt-4o", messages=MSG)
    else:
        asyncio.run(router.achat(model="gpt-4o", messages=MSG))
    assert wire.hits_to("/chat/completions") == 3
    spans = sorted(_spans(otel), key=lambda s: s.name)
    names = [s.name for s in spans]
    assert names == ["attempt 1", "attempt 2", "attempt 3", "chat gpt-4o"]
    for failed in spans[:2]:
        assert failed.status.status_code is StatusCode.ERROR
        assert failed.attributes["error.type"] == "ProviderServerError"
        assert failed.attributes["cencori.attempt.status_code"] == 500
    assert spans[2].attributes["cencori.attempt.status"] == "ok"
    assert spans[3].attributes["cencori.attempts"] == 3
    assert "error.type" not in spans[3].attributes


def test_all_attempts_fail(wire: OpenAIWire, otel: Any) -> None:
    wire.fail(503, "overloaded", times=3)
    router = _router(wire, otel)
    with pytest.raises(AllAttemptsFailedError):
        router.chat(model="gpt-4o", messages=MSG)
    call = next(s for s in _spans(otel) if s.kind is SpanKind.CLIENT)
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "AllAttemptsFailedError"
    (duration,) = _points(otel, "gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "AllAttemptsFailedError"
    _no_key(_spans(otel))


def test_embeddings_through_the_sdk(wire: OpenAIWire, otel: Any) -> None:
    router = _router(wire, otel)
    r = router.embed("text-embedding-3-small", ["a", "b"], dimensions=8)
    assert len(r.vectors) == 2
    call = next(s for s in _spans(otel) if s.kind is SpanKind.CLIENT)
    assert call.name == "embeddings text-embedding-3-small"
    assert call.attributes["gen_ai.operation.name"] == "embeddings"
    assert call.attributes["gen_ai.embeddings.dimension.count"] == 8
    assert call.attributes["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens
    assert wire.last("/embeddings").json["dimensions"] == 8


def test_openai_compatible_provider_names(wire: OpenAIWire, otel: Any) -> None:
    wire.chat_reply("hi from grok", usage={"prompt_tokens": 4, "completion_tokens": 3})
    router = _router(wire, otel, provider="xai")
    router.chat(model="grok-4", messages=MSG)
    call = next(s for s in _spans(otel) if s.kind is SpanKind.CLIENT)
    assert call.attributes["gen_ai.provider.name"] == "x_ai"
    assert call.attributes["server.address"] == "127.0.0.1"


@pytest.mark.parametrize(("provider", "options", "model", "name", "address"), [
    ("openai", {}, "gpt-4o", "openai", "api.openai.com"),
    ("anthropic", {}, "claude-sonnet-4-5", "anthropic", "api.anthropic.com"),
    ("google", {}, "gemini-2.5-flash", "gcp.gemini", "generativelanguage.googleapis.com"),
    ("google", {"vertexai": True}, "gemini-2.5-flash", "gcp.vertex_ai", None),
    ("mistral", {}, "mistral-large-latest", "mistral_ai", "api.mistral.ai"),
    ("cohere", {}, "command-a-03-2025", "cohere", "api.cohere.com"),
    ("deepseek", {}, "deepseek-chat", "deepseek", "api.deepseek.com"),
])
def test_default_endpoints_name_provider_and_server(otel: Any, provider: str,
                                                    options: dict[str, Any], model: str,
                                                    name: str, address: str | None) -> None:
    from cencori_core.errors import ProviderConnectionError
    from cencori_core.testing import no_network

    _, _, tp, mp = otel
    plugin = "openai" if provider == "deepseek" else provider
    router = Router(providers={provider: {"api_key": KEY, **options}}, plugins=[plugin],
                    tracer_provider=tp, meter_provider=mp)
    with no_network(), pytest.raises(ProviderConnectionError):
        router.chat(model=model, messages=MSG)  # refused before anything is sent
    call = next(s for s in _spans(otel) if s.kind is SpanKind.CLIENT)
    assert call.attributes["gen_ai.provider.name"] == name
    assert call.attributes.get("server.address") == address
    if address:
        assert call.attributes["server.port"] == 443
