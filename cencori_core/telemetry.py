"""OpenTelemetry GenAI spans and metrics (the ``otel`` extra).

Nothing here imports OpenTelemetry at module import. ``Router(telemetry=None)`` (the default)
turns telemetry on when OpenTelemetry is installed, importing it on the first call and sending to
the global tracer and meter providers (a no-op until the application configures them);
``telemetry=True`` requires it (``pip install "cencori-core[otel]"``) and imports it when the
router is built; ``telemetry=False`` never imports it. ``Router(tracer_provider=...,
meter_provider=...)`` sends to those providers instead of the global ones (tests, multi-tenant
apps).

Spans, following the GenAI semantic conventions (client inference and embeddings spans)::

    chat gpt-4o        CLIENT    one per logical call, covering retries and fallbacks;
    │                            a stream's span ends when the stream does
    ├── attempt 1      INTERNAL  one per provider attempt: its status and the delay before it
    └── attempt 2

The call span carries ``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.*``
(model, temperature, max_tokens, top_p, seed, stop_sequences), ``gen_ai.output.type``,
``gen_ai.response.model`` / ``id`` / ``finish_reasons``, ``gen_ai.usage.input_tokens`` /
``output_tokens`` (input includes cache reads and writes, as the conventions ask) and the
``cache_read`` / ``cache_creation`` / ``reasoning`` breakdown, ``server.address`` /
``server.port`` (from the provider's ``base_url``, else the SDK's default host),
``error.type``; and our own
``cencori.cost_usd``, ``cencori.project``, ``cencori.attempts`` (int), ``cencori.policy_decisions``
(``policy:rule:action:count`` strings), ``cencori.status``, ``cencori.operation``,
``cencori.request_id``, ``cencori.usage.source``, ``cencori.deployment``, and when the response
cache was consulted ``cencori.cache.hit`` (bool; the GenAI conventions have no attribute for a
response cache) with ``cencori.cache.saved_usd`` on a hit. Attempt spans carry no
``gen_ai.operation.name`` (they are not GenAI operations of their own) but
``cencori.attempt.number``, ``.provider``, ``.model``, ``.delay_s``, ``.status``,
``.status_code``, ``.retryable`` and ``error.type``.

Operation names: ``chat`` → ``chat`` (for every provider: a call may fall back across providers),
``embed`` → ``embeddings``; ``generate_image``, ``speech`` and ``transcribe`` →
``generate_content`` with ``gen_ai.output.type`` ``image`` / ``speech`` / ``text``;
``moderate`` → ``moderation`` (no conventional value applies). ``error.type`` is the class name of
the error the caller receives (``ProviderServerError``, ``AllAttemptsFailedError``,
``PolicyViolationError``, ...); a stream the caller closed early is ``cencori.status=cancelled``
without an error.

Metrics: ``gen_ai.client.operation.duration`` (s) for every call, ``gen_ai.client.token.usage``
(``{token}``, ``gen_ai.token.type`` input / output) only when the provider reported the usage (the
conventions forbid reporting estimates; a cache hit used no tokens), both with the conventional
bucket boundaries, and
``cencori.client.cost`` (a counter in US dollars, with ``cencori.project``) for priced calls.

Content capture is off by default. ``Router(telemetry_capture_content=True)`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` adds ``gen_ai.input.messages`` and
``gen_ai.output.messages`` (JSON, the conventions' message schema) to chat spans, taken after the
policies ran: the input only once the pre-request policies passed it, the output only for a call
that succeeded (after the response policies). Error messages on spans go through the same secret
mask as the logs.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ._logging import log, mask
from .errors import MissingDependencyError

if TYPE_CHECKING:
    from .config import ProviderConfig
    from .context import CallContext
    from .resilience import Target

__all__ = ["Telemetry", "AttemptScope", "NO_SPAN", "make_telemetry", "capture_content_from_env",
           "OPERATION_NAMES", "PROVIDER_NAMES", "DEFAULT_HOSTS", "CAPTURE_ENV"]

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# The GenAI conventions with gen_ai.provider.name (semantic conventions 1.37 and later).
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"

OPERATION_NAMES = {
    "chat": "chat",
    "embed": "embeddings",
    "generate_image": "generate_content",
    "speech": "generate_content",
    "transcribe": "generate_content",
    "moderate": "moderation",
    "rerank": "rerank",
}
_OUTPUT_TYPES = {"generate_image": "image", "speech": "speech", "transcribe": "text"}

#: Our provider (type) names → the conventions' ``gen_ai.provider.name`` values; other names are
#: used as they are (``meta`` has no conventional value yet).
PROVIDER_NAMES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gcp.gemini",
    "xai": "x_ai",
    "mistral": "mistral_ai",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "meta": "meta",
    "azure": "azure.ai.openai",
    "vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
}

#: The host each first-party SDK talks to when no ``base_url`` is configured (plugins that
#: register a ``default_base_url`` need no entry).
DEFAULT_HOSTS = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "google": "generativelanguage.googleapis.com",
    "mistral": "api.mistral.ai",
    "cohere": "api.cohere.com",
}

# Bucket boundaries the conventions ask for.
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                  16777216, 67108864)
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                     40.96, 81.92)

_ERROR_STATUSES = frozenset({"error", "blocked", "interrupted"})
_CAPTURE_ON = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event"})
_init_lock = threading.Lock()
_KEY_STATE = "cencori.telemetry.instance"
_SKIP_STATE = "cencori.telemetry.skip"


def capture_content_from_env() -> bool:
    """Whether ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` asks for content."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in _CAPTURE_ON


def make_telemetry(enabled: bool | None, *, capture_content: bool | None = None,
                   tracer_provider: Any = None, meter_provider: Any = None) -> Telemetry | None:
    """The router's telemetry component, or None when it is switched off (nothing imported)."""
    if enabled is False:
        return None
    if capture_content is None:
        capture_content = capture_content_from_env()
    explicit = enabled is True or tracer_provider is not None or meter_provider is not None
    tel = Telemetry(capture_content=capture_content, tracer_provider=tracer_provider,
                    meter_provider=meter_provider, required=explicit)
    if explicit:
        tel.load()  # a missing dependency is a configuration error, reported now
    return tel


class Telemetry:
    """Spans and metrics of one router. The router calls :meth:`start` when a call begins,
    :meth:`attempt` around each provider attempt and :meth:`end` exactly once when it ends."""

    def __init__(self, *, capture_content: bool = False, tracer_provider: Any = None,
                 meter_provider: Any = None, required: bool = False) -> None:
        self.capture_content = capture_content
        self.enabled = True
        self._required = required
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._loaded = False
        self._servers: dict[tuple[str, str], dict[str, Any]] = {}
        self.config: Callable[[str], ProviderConfig | None] = lambda key: None
        """The provider configuration under a key (a provider name or a deployment's key): set
        by the router that owns this telemetry."""

    def load(self) -> bool:
        """Import OpenTelemetry and create the tracer and instruments (once)."""
        if self._loaded:
            return self.enabled
        with _init_lock:
            if self._loaded:
                return self.enabled
            try:
                from opentelemetry import context, metrics, trace
            except ImportError:
                if self._required:
                    raise MissingDependencyError(
                        'telemetry needs OpenTelemetry: pip install "cencori-core[otel]"',
                        extra="otel") from None
                self.enabled = False
                self._loaded = True
                return False
            from . import __version__

            self._context = context
            self._trace_module = trace
            self._metrics_module = sys.modules.get("opentelemetry.metrics._internal")
            # Providers named by environment variables are loaded by OpenTelemetry on first use;
            # without them the globals alone say whether the application configured anything.
            self._env_providers = bool({"OTEL_PYTHON_TRACER_PROVIDER",
                                        "OTEL_PYTHON_METER_PROVIDER"} & set(os.environ))
            self._get_tp = trace.get_tracer_provider
            self._proxy_tp = trace.ProxyTracerProvider
            self._get_mp = metrics.get_meter_provider
            self._set_span_in_context = trace.set_span_in_context
            self._client = trace.SpanKind.CLIENT
            self._internal = trace.SpanKind.INTERNAL
            self._status = trace.Status
            self._error_code = trace.StatusCode.ERROR
            self._tracer = trace.get_tracer("cencori_core", __version__,
                                            tracer_provider=self._tracer_provider,
                                            schema_url=SCHEMA_URL)
            meter = metrics.get_meter("cencori_core", __version__,
                                      meter_provider=self._meter_provider, schema_url=SCHEMA_URL)
            self._duration = meter.create_histogram(
                "gen_ai.client.operation.duration", unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS)
            self._tokens = meter.create_histogram(
                "gen_ai.client.token.usage", unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS)
            self._cost = meter.create_counter(
                "cencori.client.cost", unit="{USD}",
                description="Cost of GenAI operations in US dollars (from genai-prices).")
            self._loaded = True
        return True

    # ------------------------------------------------------------------ the call's span

    def _unconfigured(self) -> bool:
        """True while the application has configured neither a tracer nor a meter provider
        (both globals are still OpenTelemetry's proxies): then every span and metric would be
        dropped, so the call skips telemetry altogether. Checked per call, so configuring the
        SDK later takes effect at once."""
        if self._tracer_provider is not None or self._meter_provider is not None:
            return False
        # Fast path (this runs on every call): the API's own globals, still unset, answer
        # without the environment look-ups that get_tracer_provider() makes each time.
        mm = self._metrics_module
        if (not self._env_providers and mm is not None
                and getattr(self._trace_module, "_TRACER_PROVIDER", False) is None
                and getattr(mm, "_METER_PROVIDER", False) is None):
            return True
        return (isinstance(self._get_tp(), self._proxy_tp)
                and type(self._get_mp()).__name__ == "_ProxyMeterProvider")

    def start(self, ctx: CallContext) -> None:
        """Open the call's CLIENT span (``ctx._call.span``) with what the request says."""
        if not self.load():  # the first call imports OpenTelemetry (when the default is on)
            return
        if self._unconfigured():
            ctx._call.tags[_SKIP_STATE] = True
            return
        try:
            op = OPERATION_NAMES.get(ctx.operation, ctx.operation)
            req = ctx.request
            model = getattr(req, "model", "") or ""
            attrs: dict[str, Any] = {"gen_ai.operation.name": op, "gen_ai.request.model": model,
                                     "cencori.operation": ctx.operation,
                                     "cencori.request_id": ctx.request_id}
            _request_attributes(ctx, attrs)
            ctx._call.span = self._tracer.start_span(f"{op} {model}", kind=self._client,
                                               attributes=attrs)
        except Exception:  # noqa: BLE001 - telemetry must never fail the call
            log.exception("telemetry: starting the call span failed")

    def attempt(self, ctx: CallContext, target: Target) -> AttemptScope:
        """A context manager around one provider attempt: the INTERNAL ``attempt <n>`` span,
        current while the provider runs (so HTTP client spans nest under it). None when the
        call's span is not recorded (no SDK configured, or sampled out): its children would not
        be either, and skipping them keeps the unconfigured default cheap."""
        # The provider instance's key (a deployment has its own base_url) for server.address.
        ctx._call.tags[_KEY_STATE] = target.key
        span = ctx._call.span
        if span is None or not span.is_recording():
            return NO_SPAN
        return _AttemptSpan(self, ctx, target)

    def end(self, ctx: CallContext, status: str, resp: Any) -> None:
        """Finish the call: response attributes, error, metrics; end the span."""
        if not self.enabled or not self._loaded or _SKIP_STATE in ctx._call.tags:
            return
        try:
            self._end(ctx, status, resp)
        except Exception:  # noqa: BLE001 - telemetry must never fail the call
            log.exception("telemetry: ending the call span failed")

    def _end(self, ctx: CallContext, status: str, resp: Any) -> None:
        op = OPERATION_NAMES.get(ctx.operation, ctx.operation)
        route = ctx.route
        last = ctx.attempts[-1] if ctx.attempts else None
        provider = (getattr(resp, "provider", None) or (last.provider if last else None)
                    or (route.provider if route else None))
        request_model = route.model if route else (getattr(ctx.request, "model", "") or "")
        metric: dict[str, Any] = {"gen_ai.operation.name": op,
                                  "gen_ai.request.model": request_model}
        if provider:
            metric.update(self._server(provider, ctx._call.tags.get(_KEY_STATE)))
        response_model = getattr(resp, "model", None) if resp is not None else None
        if response_model:
            metric["gen_ai.response.model"] = response_model
        error = ctx._call.error if status in _ERROR_STATUSES else None
        if error is not None:
            metric["error.type"] = type(error).__qualname__

        usage = getattr(resp, "usage", None)
        cost = getattr(resp, "cost", None)
        span = ctx._call.span
        if span is not None and span.is_recording():
            attrs = dict(metric)
            attrs["cencori.status"] = status
            attrs["cencori.attempts"] = len(ctx.attempts)
            if ctx.project is not None:
                attrs["cencori.project"] = ctx.project
            if ctx.decisions:
                attrs["cencori.policy_decisions"] = [
                    f"{d.policy}:{d.rule}:{d.action}:{d.count}" for d in ctx.decisions]
            deployment = getattr(resp, "deployment", None) or (last.deployment if last else None)
            if deployment:
                attrs["cencori.deployment"] = deployment
            look = ctx._call.cache
            if look is not None:  # the response cache was consulted (or refreshed)
                attrs["cencori.cache.hit"] = look.hit
                if look.hit and look.saved is not None:
                    attrs["cencori.cache.saved_usd"] = float(look.saved.total)
            if status == "ok" and resp is not None:
                _response_attributes(ctx, resp, attrs)
            if usage is not None:
                _usage_attributes(ctx.operation, usage, attrs)
            if cost is not None:
                attrs["cencori.cost_usd"] = float(cost.total)
            if self.capture_content and ctx.operation == "chat":
                # Only what the policies have seen: the request once pre-request policies passed
                # it (an attempt was made, or the call succeeded), the response only on success.
                if ctx.attempts or status == "ok":
                    attrs["gen_ai.input.messages"] = _input_messages(ctx.request)
                if status == "ok" and resp is not None:
                    attrs["gen_ai.output.messages"] = _output_messages(resp)
            span.set_attributes(attrs)
            if route is not None and route.model != getattr(ctx.request, "model", None):
                span.update_name(f"{op} {route.model}")
            if error is not None:
                span.set_status(self._status(self._error_code, _describe(error)))
        if span is not None:
            span.end()

        self._duration.record(ctx.elapsed_ms / 1000.0, metric)
        if usage is not None and usage.source == "provider" and not getattr(resp, "cache_hit",
                                                                             False):
            self._tokens.record(usage.prompt_tokens, {**metric, "gen_ai.token.type": "input"})
            if ctx.operation != "embed":
                self._tokens.record(usage.completion_tokens,
                                    {**metric, "gen_ai.token.type": "output"})
        if cost is not None:
            labels = dict(metric)
            if ctx.project is not None:
                labels["cencori.project"] = ctx.project
            self._cost.add(float(cost.total), labels)

    def _server(self, provider: str, key: str | None) -> dict[str, Any]:
        """``gen_ai.provider.name`` and ``server.*`` of the provider instance that served
        (a deployment's own configuration when there is one; cached)."""
        cfg = self.config(key or provider) or self.config(provider)
        kind = cfg.type if cfg is not None else provider
        base_url = cfg.base_url if cfg is not None else None
        if cfg is not None and not base_url and isinstance(cfg.options.get("endpoint"), str):
            base_url = cfg.options["endpoint"]  # Azure OpenAI's resource endpoint
        cache_key = (key or provider, base_url or "")
        cached = self._servers.get(cache_key)
        if cached is not None:
            return cached
        known = kind if kind in PROVIDER_NAMES else provider
        name = PROVIDER_NAMES.get(known, kind)
        vertex = known == "google" and cfg is not None and cfg.options.get("vertexai")
        if vertex:
            name = "gcp.vertex_ai"
        out: dict[str, Any] = {"gen_ai.provider.name": name}
        if not base_url and not vertex and known in DEFAULT_HOSTS:
            out["server.address"] = DEFAULT_HOSTS[known]
            out["server.port"] = 443
        elif base_url:
            try:
                parts = urlsplit(base_url)
                if parts.hostname:
                    out["server.address"] = parts.hostname
                    out["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                pass  # a malformed URL fails in the SDK with a proper error; no address here
        self._servers[cache_key] = out
        return out


class AttemptScope(Protocol):
    """What the router's attempt loops enter around a provider attempt. Its ``__exit__``
    returns None: it never swallows the attempt's exception."""

    def __enter__(self) -> None: ...

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None: ...


class _NoSpan:
    """The attempt context when the call has no span (telemetry off or unavailable)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        return None


NO_SPAN = _NoSpan()


class _AttemptSpan:
    __slots__ = ("tel", "ctx", "target", "span", "token")

    def __init__(self, tel: Telemetry, ctx: CallContext, target: Target) -> None:
        self.tel = tel
        self.ctx = ctx
        self.target = target

    def __enter__(self) -> None:
        tel, ctx, route = self.tel, self.ctx, self.target.route
        n = len(ctx.attempts) + 1
        attrs: dict[str, Any] = {"cencori.attempt.number": n,
                                 "cencori.attempt.provider": route.provider,
                                 "cencori.attempt.model": route.model,
                                 "cencori.attempt.delay_s": float(self.target.delay)}
        if route.deployment:
            attrs["cencori.attempt.deployment"] = route.deployment
        parent = tel._set_span_in_context(ctx._call.span)
        self.span = tel._tracer.start_span(f"attempt {n}", context=parent, kind=tel._internal,
                                           attributes=attrs)
        self.token = tel._context.attach(tel._set_span_in_context(self.span, parent))

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.tel._context.detach(self.token)
        span = self.span
        # A provider stream that ends before its first chunk is a success, not an error.
        if exc is None or isinstance(exc, (StopIteration, StopAsyncIteration)):
            span.set_attribute("cencori.attempt.status", "ok")
        elif isinstance(exc, Exception):
            attrs: dict[str, Any] = {"cencori.attempt.status": type(exc).__name__,
                                     "error.type": type(exc).__qualname__}
            code = getattr(exc, "status_code", None)
            if code is not None:
                attrs["cencori.attempt.status_code"] = code
            retryable = getattr(exc, "retryable", None)
            if retryable is not None:
                attrs["cencori.attempt.retryable"] = bool(retryable)
            span.set_attributes(attrs)
            span.set_status(self.tel._status(self.tel._error_code, _describe(exc)))
        else:  # cancelled (CancelledError, GeneratorExit, KeyboardInterrupt)
            span.set_attribute("cencori.attempt.status", "cancelled")
        span.end()


# ---------------------------------------------------------------------------- attributes


def _request_attributes(ctx: CallContext, attrs: dict[str, Any]) -> None:
    req = ctx.request
    if ctx.operation == "chat":
        for name, value in (("temperature", req.temperature), ("max_tokens", req.max_tokens),
                            ("top_p", req.top_p), ("seed", req.seed)):
            if value is not None:
                attrs["gen_ai.request." + name] = value
        if req.stop:
            attrs["gen_ai.request.stop_sequences"] = list(req.stop)
        if req.response_format:
            kind = req.response_format.get("type")
            attrs["gen_ai.output.type"] = "json" if kind in ("json_object",
                                                             "json_schema") else "text"
        if ctx.stream:
            attrs["cencori.stream"] = True
    elif ctx.operation == "embed":
        if req.dimensions is not None:
            attrs["gen_ai.embeddings.dimension.count"] = req.dimensions
    else:
        output = _OUTPUT_TYPES.get(ctx.operation)
        if output:
            attrs["gen_ai.output.type"] = output
        n = getattr(req, "n", 1)
        if n != 1:
            attrs["gen_ai.request.choice.count"] = n


def _response_attributes(ctx: CallContext, resp: Any, attrs: dict[str, Any]) -> None:
    rid = getattr(resp, "id", None)
    if rid and rid != ctx.request_id:  # the router's own id is not the provider's
        attrs["gen_ai.response.id"] = rid
    finish = getattr(resp, "finish_reason", None)
    if finish:
        attrs["gen_ai.response.finish_reasons"] = [finish]


def _usage_attributes(operation: str, usage: Any, attrs: dict[str, Any]) -> None:
    # Our prompt_tokens already include cache reads and writes, completion_tokens include
    # reasoning: exactly what gen_ai.usage.input_tokens / output_tokens mean.
    attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
    if operation != "embed":
        attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
    if usage.cached_tokens:
        attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
    if usage.cache_write_tokens:
        attrs["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        attrs["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    attrs["cencori.usage.source"] = usage.source


def _describe(exc: BaseException) -> str:
    text = mask(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= 500 else text[:497] + "..."


# ---------------------------------------------------------------------------- content capture


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    for p in content:
        kind = p.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": p.get("text", "")})
        elif kind == "image_url":
            url = (p.get("image_url") or {}).get("url", "")
            if url.startswith("data:"):
                head, _, data = url.partition(",")
                mime = head[5:].split(";")[0] or None
                parts.append({"type": "blob", "modality": "image", "mime_type": mime,
                              "content": data})
            else:
                parts.append({"type": "uri", "modality": "image", "uri": url})
        elif kind == "input_audio":
            audio = p.get("input_audio") or {}
            fmt = audio.get("format")
            parts.append({"type": "blob", "modality": "audio",
                          "mime_type": f"audio/{fmt}" if fmt else None,
                          "content": audio.get("data", "")})
        else:
            parts.append({"type": str(kind)})
    return parts


def _input_messages(req: Any) -> str:
    out = []
    for m in req.messages:
        parts = _parts(m.content)
        if m.role == "tool":
            parts = [{"type": "tool_call_response", "id": m.tool_call_id, "response": m.text}]
        for tc in m.tool_calls:
            parts.append({"type": "tool_call", "id": tc.id, "name": tc.name,
                          "arguments": tc.arguments if tc.arguments is not None
                          else tc.arguments_raw})
        msg: dict[str, Any] = {"role": m.role, "parts": parts}
        if m.name:
            msg["name"] = m.name
        out.append(msg)
    return json.dumps(out, ensure_ascii=False)


def _output_messages(resp: Any) -> str:
    parts: list[dict[str, Any]] = []
    if getattr(resp, "reasoning", None):
        parts.append({"type": "reasoning", "content": resp.reasoning})
    if resp.content:
        parts.append({"type": "text", "content": resp.content})
    for tc in resp.tool_calls:
        parts.append({"type": "tool_call", "id": tc.id, "name": tc.name,
                      "arguments": tc.arguments if tc.arguments is not None
                      else tc.arguments_raw})
    return json.dumps([{"role": "assistant", "parts": parts,
                        "finish_reason": resp.finish_reason}], ensure_ascii=False)
