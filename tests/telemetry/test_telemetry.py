"""OpenTelemetry GenAI spans and metrics, read back with the SDK's in-memory exporter and reader.

Every router here gets its own TracerProvider / MeterProvider (``Router(tracer_provider=...,
meter_provider=...)``): the global providers are only touched inside subprocesses.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cencori_core import (
    AllAttemptsFailedError,
    ChatResponse,
    EmbeddingResponse,
    Message,
    PolicyViolationError,
    RetryPolicy,
    Router,
    Usage,
    hookimpl,
)
from cencori_core.errors import ProviderBadRequestError
from cencori_core.testing import FakeProvider, FunctionProvider, http_error

KEY = "sk-test-TELEMETRYSECRET0123456789"
PROMPT = "the launch code is swordfish"
ANSWER = "noted, captain"
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, jitter=0)


@pytest.fixture
def otel() -> Any:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    ns = SimpleNamespace(exporter=exporter, reader=reader, tp=tracer_provider, mp=meter_provider)
    ns.spans = lambda: list(exporter.get_finished_spans())
    ns.metrics = lambda: _metrics(reader)
    yield ns
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _metrics(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Metric name → its data points."""
    out: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


def _fake(**kw: Any) -> FakeProvider:
    fake = FakeProvider(models=["gpt-4o", "text-embedding-3-small"], **kw)
    # server.address and server.port come from the provider configuration's base_url
    fake.config.base_url = "https://api.openai.com/v1"
    return fake


def _router(otel: Any, fake: FakeProvider, **kw: Any) -> Router:
    return Router(providers={"openai": fake, "vault": {"type": "echo", "api_key": KEY}},
                  load_entrypoints=False, tracer_provider=otel.tp, meter_provider=otel.mp,
                  retry=FAST, **kw)


def _reply(**kw: Any) -> ChatResponse:
    fields: dict[str, Any] = {
        "content": ANSWER, "finish_reason": "stop", "id": "chatcmpl-abc123",
        "model": "gpt-4o-2024-08-06",
        "usage": Usage.of(120, 30, cached_tokens=100, reasoning_tokens=10)}
    fields.update(kw)
    return ChatResponse(**fields)


def _by_name(spans: list[Any]) -> dict[str, Any]:
    return {s.name: s for s in spans}


def _all_text(spans: list[Any]) -> str:
    """Everything a span exporter would ship: names, attributes, status, events."""
    parts = []
    for s in spans:
        parts.append(s.name)
        parts.append(json.dumps({k: v if isinstance(v, (str, int, float, bool)) else list(v)
                                 for k, v in s.attributes.items()}))
        parts.append(str(s.status.description))
        parts.extend(str(e.attributes) for e in s.events)
    return "\n".join(parts)


class Decide:
    """A policy that records a decision (as the PII policy would after redacting)."""

    @hookimpl
    def cencori_pre_request(self, context: Any) -> None:
        context.decide("pii", "email", "redact", 2)


def _chat(router: Router, mode: str, **kw: Any) -> ChatResponse:
    args: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}]}
    args.update(kw)
    if mode == "sync":
        return router.chat(**args)
    return asyncio.run(router.achat(**args))


# ---------------------------------------------------------------------------- chat


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_chat_span_carries_genai_attributes(otel: Any, mode: str) -> None:
    fake = _fake().script(_reply())
    router = _router(otel, fake, policies=[Decide()])
    r = _chat(router, mode, temperature=0.2, max_tokens=50, top_p=0.9, seed=7, stop=["END"],
              project="acme")

    spans = otel.spans()
    assert [s.name for s in spans] == ["attempt 1", "chat gpt-4o"]
    call, attempt = _by_name(spans)["chat gpt-4o"], _by_name(spans)["attempt 1"]
    assert call.kind is SpanKind.CLIENT and attempt.kind is SpanKind.INTERNAL
    assert attempt.parent.span_id == call.context.span_id
    a = call.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.seed"] == 7
    assert tuple(a["gen_ai.request.stop_sequences"]) == ("END",)
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert a["gen_ai.response.id"] == "chatcmpl-abc123"
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    # input includes the cache reads, output includes the reasoning (as the conventions ask)
    assert a["gen_ai.usage.input_tokens"] == 120
    assert a["gen_ai.usage.output_tokens"] == 30
    assert a["gen_ai.usage.cache_read.input_tokens"] == 100
    assert a["gen_ai.usage.reasoning.output_tokens"] == 10
    assert a["server.address"] == "api.openai.com"
    assert a["server.port"] == 443
    assert "error.type" not in a
    assert r.cost is not None and a["cencori.cost_usd"] == pytest.approx(float(r.cost.total))
    assert a["cencori.project"] == "acme"
    assert a["cencori.attempts"] == 1 and isinstance(a["cencori.attempts"], int)
    assert tuple(a["cencori.policy_decisions"]) == ("pii:email:redact:2",)
    assert a["cencori.status"] == "ok"
    assert call.status.status_code is StatusCode.UNSET

    # attempt spans are not GenAI operations of their own
    assert "gen_ai.operation.name" not in attempt.attributes
    assert attempt.attributes["cencori.attempt.status"] == "ok"
    assert attempt.attributes["cencori.attempt.delay_s"] == 0.0
    assert attempt.attributes["cencori.attempt.model"] == "gpt-4o"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_chat_metrics(otel: Any, mode: str) -> None:
    fake = _fake().script(_reply())
    router = _router(otel, fake)
    r = _chat(router, mode, project="acme")

    m = otel.metrics()
    (duration,) = m["gen_ai.client.operation.duration"]
    assert duration.count == 1 and duration.sum > 0
    # the conventions' bucket boundaries
    assert duration.explicit_bounds[:3] == (0.01, 0.02, 0.04)
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
        "server.address": "api.openai.com", "server.port": 443}
    tokens = {p.attributes["gen_ai.token.type"]: p for p in m["gen_ai.client.token.usage"]}
    assert tokens["input"].sum == 120 and tokens["output"].sum == 30
    assert tokens["input"].explicit_bounds[:3] == (1, 4, 16)
    assert tokens["input"].attributes["gen_ai.operation.name"] == "chat"
    (cost,) = m["cencori.client.cost"]
    assert r.cost is not None and cost.value == pytest.approx(float(r.cost.total))
    assert cost.attributes["cencori.project"] == "acme"


def test_estimated_usage_is_not_reported_as_token_metric(otel: Any) -> None:
    # The conventions: without the provider's counts, instrumentation MUST NOT report usage.
    fake = _fake().script("plain answer")  # no usage from the provider: the router estimates
    router = _router(otel, fake)
    r = router.chat(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert r.usage.source == "estimated"
    m = otel.metrics()
    assert "gen_ai.client.token.usage" not in m
    assert len(m["gen_ai.client.operation.duration"]) == 1
    call = _by_name(otel.spans())["chat gpt-4o"]
    assert call.attributes["cencori.usage.source"] == "estimated"


def test_alias_names_the_span_after_the_model_sent(otel: Any) -> None:
    fake = _fake().script(_reply())
    router = _router(otel, fake)
    router.catalog.aliases["smart"] = "gpt-4o"
    router.chat(model="smart", messages=[{"role": "user", "content": "hi"}])
    call = _by_name(otel.spans())["chat gpt-4o"]
    assert call.attributes["gen_ai.request.model"] == "gpt-4o"


def test_call_span_is_a_child_of_the_applications_span(otel: Any) -> None:
    router = _router(otel, _fake().script(_reply()))
    with otel.tp.get_tracer("app").start_as_current_span("handle request") as app:
        router.chat(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    call = _by_name(otel.spans())["chat gpt-4o"]
    assert call.parent.span_id == app.get_span_context().span_id


@pytest.mark.parametrize("stream", [False, True])
def test_attempt_span_is_current_while_the_provider_runs(otel: Any, stream: bool) -> None:
    seen = []

    def handler(request: Any) -> str:
        span = trace.get_current_span()
        seen.append((span.name, span.kind))  # type: ignore[attr-defined]
        return "ok"

    fn = FunctionProvider(handler, models=["gpt-4o"])
    router = Router(providers={"openai": fn}, load_entrypoints=False,
                    tracer_provider=otel.tp, meter_provider=otel.mp)
    if stream:
        with router.chat_stream(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) as s:
            s.text()
    else:
        router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert seen == [("attempt 1", SpanKind.INTERNAL)]
    assert trace.get_current_span() is trace.INVALID_SPAN  # detached afterwards


# ---------------------------------------------------------------------------- streaming


def test_stream_span_ends_when_the_stream_does(otel: Any) -> None:
    fake = _fake().script(_reply(content="one two three four"))
    router = _router(otel, fake)
    stream = router.chat_stream(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}],
                                max_tokens=20)
    first = next(stream)
    assert first.delta == "one"
    # the attempt (open + first chunk) is over; the call is not
    assert [s.name for s in otel.spans()] == ["attempt 1"]
    rest = "".join(c.delta for c in stream)
    assert rest == " two three four"
    call = _by_name(otel.spans())["chat gpt-4o"]
    a = call.attributes
    assert a["cencori.stream"] is True
    assert a["gen_ai.usage.input_tokens"] == 120 and a["gen_ai.usage.output_tokens"] == 30
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert a["gen_ai.request.max_tokens"] == 20
    assert a["cencori.attempts"] == 1
    assert stream.response is not None
    assert a["cencori.cost_usd"] == pytest.approx(float(stream.response.cost.total))
    m = otel.metrics()
    assert {p.attributes["gen_ai.token.type"] for p in m["gen_ai.client.token.usage"]} == {
        "input", "output"}
    assert m["gen_ai.client.operation.duration"][0].count == 1


def test_async_stream_span(otel: Any) -> None:
    fake = _fake().script(_reply(content="alpha beta"))
    router = _router(otel, fake)

    async def run() -> str:
        async with router.achat_stream(model="gpt-4o",
                                       messages=[{"role": "user", "content": PROMPT}]) as s:
            return await s.text()

    assert asyncio.run(run()) == "alpha beta"
    spans = _by_name(otel.spans())
    call, attempt = spans["chat gpt-4o"], spans["attempt 1"]
    assert attempt.parent.span_id == call.context.span_id
    assert call.attributes["gen_ai.usage.output_tokens"] == 30
    assert call.attributes["cencori.status"] == "ok"


def test_stream_closed_early_is_cancelled_not_an_error(otel: Any) -> None:
    fake = _fake().script(_reply(content="one two three four"))
    router = _router(otel, fake)
    with router.chat_stream(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) as s:
        next(s)
    call = _by_name(otel.spans())["chat gpt-4o"]
    assert call.attributes["cencori.status"] == "cancelled"
    assert "error.type" not in call.attributes
    assert call.status.status_code is StatusCode.UNSET


def test_stream_retries_before_the_first_chunk(otel: Any) -> None:
    fake = _fake()
    fake.fail(503, times=1).script(_reply(content="late but fine"))
    router = _router(otel, fake)
    with router.chat_stream(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) as s:
        assert s.text() == "late but fine"
    spans = _by_name(otel.spans())
    assert spans["attempt 1"].status.status_code is StatusCode.ERROR
    assert spans["attempt 2"].attributes["cencori.attempt.status"] == "ok"
    assert spans["chat gpt-4o"].attributes["cencori.attempts"] == 2


# ---------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_embeddings_span_and_metrics(otel: Any, mode: str) -> None:
    fake = _fake().script(EmbeddingResponse(vectors=[[0.1, 0.2], [0.3, 0.4]],
                                            usage=Usage.of(9, 0),
                                            model="text-embedding-3-small"))
    router = _router(otel, fake)
    args: dict[str, Any] = {"model": "text-embedding-3-small", "input": [PROMPT, "b"],
                            "dimensions": 2}
    if mode == "sync":
        r = router.embed(**args)
    else:
        r = asyncio.run(router.aembed(**args))
    assert len(r.vectors) == 2

    call = _by_name(otel.spans())["embeddings text-embedding-3-small"]
    a = call.attributes
    assert call.kind is SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "text-embedding-3-small"
    assert a["gen_ai.embeddings.dimension.count"] == 2
    assert a["gen_ai.usage.input_tokens"] == 9
    assert "gen_ai.usage.output_tokens" not in a
    assert "gen_ai.response.finish_reasons" not in a
    assert a["cencori.operation"] == "embed"
    m = otel.metrics()
    assert [p.attributes["gen_ai.token.type"] for p in m["gen_ai.client.token.usage"]] == [
        "input"]
    assert m["gen_ai.client.operation.duration"][0].attributes["gen_ai.operation.name"] == (
        "embeddings")


def test_other_operations_use_conventional_names(otel: Any) -> None:
    router = Router(load_entrypoints=False, tracer_provider=otel.tp, meter_provider=otel.mp)
    router.generate_image("echo/echo", "a red fox")
    router.speech("echo/echo", "hello", voice="alloy")
    router.moderate("echo/echo", "fine text")
    spans = [s for s in otel.spans() if s.kind is SpanKind.CLIENT]
    got = [(s.name, s.attributes.get("gen_ai.output.type"), s.attributes["cencori.operation"])
           for s in spans]
    assert got == [("generate_content echo", "image", "generate_image"),
                   ("generate_content echo", "speech", "speech"),
                   ("moderation echo", None, "moderate")]
    assert all(s.attributes["gen_ai.provider.name"] == "echo" for s in spans)


# ---------------------------------------------------------------------------- failures


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_retried_call_has_one_attempt_span_per_try(otel: Any, mode: str) -> None:
    fake = _fake()
    fake.fail(500, times=2).script(_reply())
    router = _router(otel, fake)
    r = _chat(router, mode)
    assert r.content == ANSWER and len(r.attempts) == 3

    spans = otel.spans()
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(calls) == 1  # one span per logical call, covering its retries
    call = calls[0]
    attempts = sorted((s for s in spans if s.kind is SpanKind.INTERNAL), key=lambda s: s.name)
    assert [s.name for s in attempts] == ["attempt 1", "attempt 2", "attempt 3"]
    assert all(s.parent.span_id == call.context.span_id for s in attempts)
    first, second, third = attempts
    for failed in (first, second):
        assert failed.status.status_code is StatusCode.ERROR
        assert failed.attributes["error.type"] == "ProviderServerError"
        assert failed.attributes["cencori.attempt.status"] == "ProviderServerError"
        assert failed.attributes["cencori.attempt.status_code"] == 500
        assert failed.attributes["cencori.attempt.retryable"] is True
    assert third.attributes["cencori.attempt.status"] == "ok"
    # the delay slept before each retry (RetryPolicy: 0.001 s, doubling, no jitter)
    assert first.attributes["cencori.attempt.delay_s"] == 0.0
    assert second.attributes["cencori.attempt.delay_s"] == pytest.approx(0.001)
    assert third.attributes["cencori.attempt.delay_s"] == pytest.approx(0.002)
    assert call.attributes["cencori.attempts"] == 3
    assert "error.type" not in call.attributes
    assert call.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failed_call_records_error_type(otel: Any, mode: str) -> None:
    fake = _fake()
    fake.fail(500, times=3)
    router = _router(otel, fake)
    with pytest.raises(AllAttemptsFailedError):
        _chat(router, mode)
    call = _by_name(otel.spans())["chat gpt-4o"]
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "AllAttemptsFailedError"
    assert call.attributes["cencori.status"] == "error"
    assert call.attributes["cencori.attempts"] == 3
    assert call.attributes["gen_ai.provider.name"] == "openai"
    assert "gen_ai.response.model" not in call.attributes
    m = otel.metrics()
    (duration,) = m["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "AllAttemptsFailedError"
    assert "gen_ai.client.token.usage" not in m
    assert "cencori.client.cost" not in m


def test_single_non_retryable_failure(otel: Any) -> None:
    fake = _fake()
    fake.fail(400, times=1)
    router = _router(otel, fake)
    with pytest.raises(ProviderBadRequestError) as info:
        router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    call = _by_name(otel.spans())["chat gpt-4o"]
    assert call.attributes["error.type"] == type(info.value).__qualname__ == (
        "ProviderBadRequestError")
    assert call.attributes["cencori.attempts"] == 1


class Block:
    @hookimpl
    def cencori_pre_request(self, context: Any) -> None:
        raise PolicyViolationError("blocked by test policy", policy="test", rule="no")


def test_blocked_call_has_no_attempt_and_no_content(otel: Any) -> None:
    fake = _fake()
    router = _router(otel, fake, policies=[Block()], telemetry_capture_content=True)
    with pytest.raises(PolicyViolationError):
        router.chat(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    (call,) = otel.spans()
    assert call.name == "chat gpt-4o"
    assert call.attributes["cencori.status"] == "blocked"
    assert call.attributes["error.type"] == "PolicyViolationError"
    assert call.attributes["cencori.attempts"] == 0
    # the policy refused the request: it must not reach telemetry even with capture on
    assert PROMPT not in _all_text([call])
    assert fake.calls == []


def test_unknown_model_still_ends_its_span(otel: Any) -> None:
    router = _router(otel, _fake())
    with pytest.raises(LookupError):
        router.chat(model="no-such-model-xyz", messages=[{"role": "user", "content": "x"}])
    (call,) = otel.spans()
    assert call.name == "chat no-such-model-xyz"
    assert call.attributes["error.type"] == "UnknownModelError"
    assert "gen_ai.provider.name" not in call.attributes


# ---------------------------------------------------------------------------- content and secrets


def test_no_content_captured_by_default(otel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    fake = _fake().script(_reply(), _reply())
    router = _router(otel, fake)
    router.chat(model="gpt-4o", messages=[{"role": "system", "content": "be terse"},
                                          {"role": "user", "content": PROMPT}])
    with router.chat_stream(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}]) as s:
        s.text()
    text = _all_text(otel.spans())
    assert PROMPT not in text and ANSWER not in text and "be terse" not in text
    assert all("messages" not in k for s in otel.spans() for k in s.attributes)


class Redact:
    """Stands in for the PII policy: rewrites the request and the response."""

    @hookimpl
    def cencori_pre_request(self, context: Any) -> None:
        req = context.request
        msgs = [replace(m, content=m.text.replace("swordfish", "[REDACTED]")) for m in req.messages]
        context.request = replace(req, messages=msgs)

    @hookimpl
    def cencori_post_response(self, context: Any) -> None:
        context.response = replace(context.response,
                                   content=context.response.content.replace("captain", "[NAME]"))


@pytest.mark.parametrize("how", ["argument", "env"])
def test_captured_content_is_what_policies_left(otel: Any, monkeypatch: pytest.MonkeyPatch,
                                                how: str) -> None:
    kw: dict[str, Any] = {}
    if how == "env":
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    else:
        monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
        kw["telemetry_capture_content"] = True
    fake = _fake().script(_reply())
    router = _router(otel, fake, policies=[Redact()], **kw)
    router.chat(model="gpt-4o", messages=[
        {"role": "system", "content": "be terse"},
        Message(role="user", content=PROMPT)])

    call = _by_name(otel.spans())["chat gpt-4o"]
    inputs = json.loads(call.attributes["gen_ai.input.messages"])
    outputs = json.loads(call.attributes["gen_ai.output.messages"])
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "be terse"}]},
        {"role": "user", "parts": [{"type": "text", "content": "the launch code is [REDACTED]"}]},
    ]
    assert outputs == [{"role": "assistant", "finish_reason": "stop",
                        "parts": [{"type": "text", "content": "noted, [NAME]"}]}]
    assert "swordfish" not in _all_text(otel.spans()) and "captain" not in _all_text(otel.spans())


def test_captured_tool_calls_follow_the_message_schema(otel: Any) -> None:
    from cencori_core.testing import reply, tool_call

    fake = _fake().script(reply(tool_calls=[tool_call("get_weather", {"city": "Paris"},
                                                      id="call_1")],
                                usage=Usage.of(5, 5)))
    router = _router(otel, fake, telemetry_capture_content=True)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    router.chat(model="gpt-4o", tools=tools, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}])
    call = _by_name(otel.spans())["chat gpt-4o"]
    inputs = json.loads(call.attributes["gen_ai.input.messages"])
    assert inputs[1] == {"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_0", "name": "get_weather",
         "arguments": {"city": "Rome"}}]}
    assert inputs[2] == {"role": "tool", "parts": [
        {"type": "tool_call_response", "id": "call_0", "response": "sunny"}]}
    outputs = json.loads(call.attributes["gen_ai.output.messages"])
    assert outputs == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "id": "call_1", "name": "get_weather",
         "arguments": {"city": "Paris"}}]}]
    assert tuple(call.attributes["gen_ai.response.finish_reasons"]) == ("tool_calls",)


def test_secrets_never_reach_spans(otel: Any) -> None:
    # A provider error that (wrongly) quotes the key: the mask removes it from span statuses.
    fake = _fake()
    fake.script(http_error(500, f"upstream rejected key {KEY}"),
                http_error(500, f"upstream rejected key {KEY}"),
                http_error(500, f"upstream rejected key {KEY}"))
    router = _router(otel, fake)
    with pytest.raises(AllAttemptsFailedError):
        router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    router.chat(model="vault/echo", messages=[{"role": "user", "content": "y"}])
    spans = otel.spans()
    assert len(spans) == 6
    text = _all_text(spans)
    assert KEY not in text
    assert "upstream rejected key *****" in text
    assert "TELEMETRYSECRET" not in repr([dict(s.attributes) for s in spans])


# ---------------------------------------------------------------------------- switches


def test_telemetry_false_emits_nothing(otel: Any) -> None:
    router = Router(load_entrypoints=False, telemetry=False, tracer_provider=otel.tp,
                    meter_provider=otel.mp)
    router.chat(model="echo/echo", messages=[{"role": "user", "content": "x"}])
    assert otel.spans() == [] and otel.metrics() == {}


def test_from_config_telemetry_table(otel: Any, tmp_path: Any) -> None:
    path = tmp_path / "cencori.toml"
    path.write_text("[telemetry]\nenabled = true\ncapture_content = true\n")
    router = Router.from_config(path, load_entrypoints=False, tracer_provider=otel.tp,
                                meter_provider=otel.mp)
    router.chat(model="echo/echo", messages=[{"role": "user", "content": "from toml"}])
    call = _by_name(otel.spans())["chat echo"]
    assert "from toml" in call.attributes["gen_ai.input.messages"]


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_disabled_telemetry_imports_no_opentelemetry() -> None:
    out = _run("""
        import sys
        import cencori_core
        from cencori_core import Router
        r = Router(telemetry=False, load_entrypoints=False)
        r.chat(model="echo/echo", messages=[{"role": "user", "content": "x"}])
        print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
    """)
    assert out == "[]"


def test_default_telemetry_imports_lazily_and_uses_global_providers() -> None:
    out = _run("""
        import sys
        from cencori_core import Router
        r = Router(load_entrypoints=False)
        print("before", any(m.startswith("opentelemetry") for m in sys.modules))
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        r.chat(model="echo/echo", messages=[{"role": "user", "content": "x"}])
        print("spans", sorted(s.name for s in exporter.get_finished_spans()))
    """)
    assert out.splitlines() == ["before False", "spans ['attempt 1', 'chat echo']"]


def test_telemetry_true_without_opentelemetry_names_the_extra() -> None:
    out = _run("""
        import sys
        sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
        from cencori_core import MissingDependencyError, Router
        r = Router(load_entrypoints=False)  # default: silently off
        print(r.chat(model="echo/echo", messages=[{"role": "user", "content": "x"}]).content)
        try:
            Router(telemetry=True, load_entrypoints=False)
        except MissingDependencyError as exc:
            print(exc.extra, "|", exc)
    """)
    lines = out.splitlines()
    assert lines[0] == "echo: x"
    assert lines[1] == 'otel | telemetry needs OpenTelemetry: pip install "cencori-core[otel]"'


def test_cost_attribute_is_a_float_of_the_exact_decimal(otel: Any) -> None:
    fake = _fake().script(_reply())
    router = _router(otel, fake)
    r = router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert isinstance(r.cost.total, Decimal)
    assert _by_name(otel.spans())["chat gpt-4o"].attributes["cencori.cost_usd"] == float(
        r.cost.total)


def test_deployment_spans_name_the_serving_endpoint(otel: Any) -> None:
    router = Router(
        load_entrypoints=False, tracer_provider=otel.tp, meter_provider=otel.mp,
        deployments={"house-model": [
            {"provider": "echo", "model": "echo", "name": "eu",
             "base_url": "https://eu.llm.internal:8443/v1"}]})
    r = router.chat(model="house-model", messages=[{"role": "user", "content": "x"}])
    assert r.deployment == "eu"
    spans = _by_name(otel.spans())
    call = next(s for s in spans.values() if s.kind is SpanKind.CLIENT)
    assert call.attributes["cencori.deployment"] == "eu"
    assert call.attributes["server.address"] == "eu.llm.internal"
    assert call.attributes["server.port"] == 8443
    assert spans["attempt 1"].attributes["cencori.attempt.deployment"] == "eu"


@pytest.mark.parametrize("stream", [False, True])
def test_captured_content_with_the_pii_policy(otel: Any, stream: bool) -> None:
    from cencori_core.policies import PII

    fake = _fake().script(_reply(content="I will write to bob@example.org today"))
    router = _router(otel, fake, policies=[PII(mode="redact", responses=True)],
                     telemetry_capture_content=True)
    msgs = [{"role": "user", "content": "mail alice@example.com please"}]
    if stream:
        with router.chat_stream(model="gpt-4o", messages=msgs) as s:
            s.text()
    else:
        router.chat(model="gpt-4o", messages=msgs)
    call = _by_name(otel.spans())["chat gpt-4o"]
    text = _all_text(otel.spans())
    assert "alice@example.com" not in text and "bob@example.org" not in text
    assert "mail " in call.attributes["gen_ai.input.messages"]
    assert "I will write to " in call.attributes["gen_ai.output.messages"]
    assert any(d.startswith("pii:email:redact:") for d in
               call.attributes["cencori.policy_decisions"])


class Cache:
    """A short circuit (cache hit): the provider is skipped."""

    @hookimpl
    def cencori_short_circuit(self, context: Any) -> Any:
        return ChatResponse(content="cached", usage=Usage.of(3, 1), model="gpt-4o",
                            provider="openai")


@pytest.mark.parametrize("stream", [False, True])
def test_short_circuit_has_no_attempt_span(otel: Any, stream: bool) -> None:
    fake = _fake()
    router = _router(otel, fake, plugins=[Cache()])
    if stream:
        with router.chat_stream(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) as s:
            assert s.text() == "cached"
    else:
        assert router.chat(model="gpt-4o", messages=[{"role": "user", "content": "x"}]).content \
            == "cached"
    (call,) = otel.spans()
    assert call.name == "chat gpt-4o"
    assert call.attributes["cencori.attempts"] == 0
    assert call.attributes["gen_ai.usage.input_tokens"] == 3
    assert fake.calls == []


def test_default_follows_the_global_providers_once_configured():
    # In a subprocess: the global providers can be set only once per process.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from cencori_core import Router

        router = Router(load_entrypoints=False)          # telemetry=None: on when installed
        msg = [{"role": "user", "content": "hi"}]
        router.chat(model="echo", messages=msg)          # nothing configured yet: no span
        exporter = InMemorySpanExporter()
        tp = TracerProvider()
        tp.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tp)                    # the application configures OTel later
        router.chat(model="echo", messages=msg)
        print([s.name for s in exporter.get_finished_spans()])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['attempt 1', 'chat echo']"
