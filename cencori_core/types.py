"""Normalized requests, responses, stream events, usage and cost.

Every type is a frozen, slotted, keyword-only dataclass. ``raw`` keeps the provider SDK's object
(excluded from repr and equality). ``to_dict()`` returns every public attribute under its own
name with JSON-safe values (``Decimal`` as a string, ``bytes`` as base64, ``raw`` left out).
"""

from __future__ import annotations

import base64
import json
from dataclasses import field
from decimal import Decimal
from typing import Any, Literal

# the machinery (frozen_type, evolve, to_dict), imported by name by the modules that use it
from ._frozen import _DictMixin as _DictMixin
from ._frozen import _jsonable as _jsonable
from ._frozen import evolve as evolve
from ._frozen import frozen_type as frozen_type
from ._openai_shape import (
    choice_to_openai,
    chunk_to_openai,
    response_to_openai,
)

__all__ = [
    "Message",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "Cost",
    "Attempt",
    "PolicyDecision",
    "ChatRequest",
    "ChatResponse",
    "ChatChunk",
    "Choice",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "ImageRequest",
    "GeneratedImage",
    "ImageResponse",
    "TranscriptionRequest",
    "Transcription",
    "SpeechRequest",
    "Speech",
    "ModerationRequest",
    "ModerationResult",
    "ModerationResponse",
    "RerankRequest",
    "RerankResult",
    "RerankResponse",
    "UsageRecord",
    "Route",
    "FinishReason",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]

# ---------------------------------------------------------------------------- messages


@frozen_type
class ToolCall(_DictMixin):
    """A complete tool call requested by the model."""

    id: str
    """The provider's id for the call; send it back as ``tool_call_id``."""
    name: str
    """The function name."""
    arguments_raw: str = ""
    """The arguments exactly as the model wrote them (JSON text)."""
    arguments: dict[str, Any] | None = None
    """The parsed arguments; ``None`` when ``arguments_raw`` is not a JSON object."""
    parse_error: str | None = None
    """Why ``arguments_raw`` could not be parsed, when it could not."""
    provider_data: dict[str, Any] | None = None
    """Opaque provider state to send back on the next turn (e.g. Gemini thought signatures)."""

    @classmethod
    def from_raw(
        cls, *, id: str, name: str, arguments_raw: str | None,
        provider_data: dict[str, Any] | None = None,
    ) -> ToolCall:
        """Build a call, parsing ``arguments_raw``; malformed JSON is kept, never raised."""
        raw = arguments_raw or ""
        args: dict[str, Any] | None = None
        error: str | None = None
        if not raw.strip():
            args = {}
        else:
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                error = f"arguments are not valid JSON: {exc}"
            else:
                if isinstance(parsed, dict):
                    args = parsed
                else:
                    error = f"arguments are JSON {type(parsed).__name__}, not an object"
        return cls(id=id, name=name, arguments_raw=raw, arguments=args, parse_error=error,
                   provider_data=provider_data)

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments_raw}}


@frozen_type
class Message(_DictMixin):
    """One conversation message (OpenAI roles: system, developer, user, assistant, tool)."""

    role: str
    content: str | list[dict[str, Any]] | None = None
    """Text, or OpenAI-style content parts (text, image_url, input_audio)."""
    name: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    reasoning: str | None = None
    """Reasoning text the model returned (thinking), when the provider exposes it."""
    provider_data: dict[str, Any] | None = None
    """Opaque provider state for the next turn (e.g. Anthropic thinking blocks and signatures)."""

    @property
    def text(self) -> str:
        """The message's text: the content string, or its text parts joined."""
        c = self.content
        if c is None:
            return ""
        if isinstance(c, str):
            return c
        return "".join(p.get("text", "") for p in c if p.get("type") == "text")

    def to_openai(self) -> dict[str, Any]:
        """The message as an OpenAI chat message dict."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [tc.to_openai() for tc in self.tool_calls]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out


# ---------------------------------------------------------------------------- accounting


@frozen_type
class Usage(_DictMixin):
    """Token usage of one call. ``cached_tokens`` and ``cache_write_tokens`` are part of
    ``prompt_tokens``; ``reasoning_tokens`` are part of ``completion_tokens``."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens read from the provider's cache."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's cache."""
    reasoning_tokens: int = 0
    audio_seconds: float | None = None
    characters: int | None = None
    images: int | None = None
    source: Literal["provider", "estimated"] = "provider"
    search_units: int | None = None
    """Rerank calls: the search units the provider billed (Cohere: one per query and up to
    100 documents)."""

    @classmethod
    def of(
        cls, prompt_tokens: int = 0, completion_tokens: int = 0, *, total_tokens: int | None = None,
        **kw: Any,
    ) -> Usage:
        total = prompt_tokens + completion_tokens if total_tokens is None else total_tokens
        return cls(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   total_tokens=total, **kw)

    def __add__(self, other: Usage) -> Usage:
        def opt(a: Any, b: Any) -> Any:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            audio_seconds=opt(self.audio_seconds, other.audio_seconds),
            characters=opt(self.characters, other.characters),
            images=opt(self.images, other.images),
            source="estimated" if "estimated" in (self.source, other.source) else "provider",
            search_units=opt(self.search_units, other.search_units),
        )


@frozen_type
class Cost(_DictMixin):
    """Cost in USD as exact ``Decimal`` values (from genai-prices, unrounded)."""

    input: Decimal = Decimal(0)
    """Uncached input plus cached input and cache writes."""
    output: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    cached_input: Decimal = Decimal(0)
    """Of ``input``: the part charged for cache reads."""
    cache_write: Decimal = Decimal(0)
    """Of ``input``: the part charged for cache writes."""


@frozen_type
class Attempt(_DictMixin):
    """One try of a call against one route."""

    model: str
    """The model name as asked for that route (the call's, or the fallback's); the id sent to
    the provider is on the response (``response.model``)."""
    provider: str
    deployment: str | None = None
    status: str = "ok"
    """``ok``, or the error's class name."""
    status_code: int | None = None
    error: str | None = None
    delay: float = 0.0
    """Seconds slept before this attempt."""
    latency_ms: float = 0.0


@frozen_type
class PolicyDecision(_DictMixin):
    """What a policy did to a call: never the sensitive value itself."""

    policy: str
    rule: str
    action: str
    """The mode that acted: ``redact``, ``block``, ``flag`` (or another policy-defined word)."""
    count: int = 1


@frozen_type
class Route(_DictMixin):
    """How a model name resolves: alias → canonical model → provider → deployment."""

    alias: str | None
    """The name as asked when it was an alias, else None."""
    model: str
    """The model id sent to the provider."""
    provider: str
    deployment: str | None = None
    via: str = "catalog"
    """How the name matched: ``explicit``, ``catalog``, ``alias``, ``prefix`` or ``deployment``."""
    requested: str = ""

    def __str__(self) -> str:
        parts = []
        if self.alias:
            parts.append(f"alias {self.alias!r}")
        parts.append(f"model {self.model!r}")
        parts.append(f"provider {self.provider!r}")
        if self.deployment:
            parts.append(f"deployment {self.deployment!r}")
        return " -> ".join(parts) + f" (matched by {self.via})"


# ---------------------------------------------------------------------------- chat


# ---------------------------------------------------------------------------- shared parts


@frozen_type
class _Request(_DictMixin):
    """What every request carries (a request type adds its own fields)."""

    model: str
    """The model id to send."""
    timeout: float | None = None
    provider_options: dict[str, Any] | None = None
    idempotency_key: str | None = None
    """The same on every retry of one logical call; send it where the provider accepts one."""


@frozen_type
class _Response(_DictMixin):
    """The envelope every response carries: usage, cost, who served it, how it went."""

    usage: Usage = field(default_factory=Usage)
    cost: Cost | None = None
    model: str = ""
    provider: str = ""
    id: str = ""
    latency_ms: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    deployment: str | None = None
    policy_decisions: list[PolicyDecision] = field(default_factory=list)
    cache_hit: bool = False
    """True when the response cache answered (no provider call; ``cost`` is zero)."""
    raw: Any = field(default=None, repr=False, compare=False)


@frozen_type
class ChatRequest(_Request):
    """A validated chat request as the provider plugin receives it (``model`` is the id to send)."""

    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    stop: list[str] | None = None
    top_p: float | None = None
    seed: int | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None
    stream: bool = False
    # --- common parameters (issue 17): each plugin maps them or refuses them before sending
    reasoning_effort: str | None = None
    """``minimal``, ``low``, ``medium`` or ``high``."""
    n: int | None = None
    """How many choices to generate (``ChatResponse.choices``)."""
    logprobs: bool | None = None
    top_logprobs: int | None = None
    parallel_tool_calls: bool | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


@frozen_type
class ToolCallDelta(_DictMixin):
    """A piece of a streamed tool call; pieces with the same ``index`` belong together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    """The next fragment of the JSON arguments text."""
    provider_data: dict[str, Any] | None = None


@frozen_type
class ChatChunk(_DictMixin):
    """One streamed event. ``delta`` is "" when the chunk carries no text."""

    delta: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    reasoning: str = ""
    """Reasoning (thinking) text delta."""
    finish_reason: str | None = None
    usage: Usage | None = None
    """Set on the provider's usage event; folded into ``stream.response.usage``."""
    id: str | None = None
    model: str | None = None
    provider_data: dict[str, Any] | None = None
    """Opaque state to keep on the final message (e.g. a thinking signature)."""
    refusal: str = ""
    """Refusal text delta (OpenAI ``delta.refusal``)."""
    final: bool = False
    """True on the router's last event of a stream (policies flush held-back text on it)."""
    raw: Any = field(default=None, repr=False, compare=False)
    index: int = 0
    """The choice the chunk belongs to (``n`` > 1: the choices' chunks interleave)."""
    logprobs: list[dict[str, Any]] | None = None
    """The token log probabilities of this delta when asked, in :attr:`Choice.logprobs`'s
    shape; ``stream.final_response()`` joins them per choice."""

    @property
    def is_empty(self) -> bool:
        return not (self.delta or self.tool_calls or self.reasoning or self.finish_reason
                    or self.refusal or self.logprobs)

    def to_openai(self) -> dict[str, Any]:
        """The chunk in OpenAI ``ChatCompletionChunk`` shape. A chunk that carries only usage
        becomes OpenAI's usage chunk (``choices`` empty), as ``stream_options.include_usage``
        sends it; ``id`` and ``model`` are "" when the chunk has none."""
        return chunk_to_openai(self)


@frozen_type
class Choice(_DictMixin):
    """One of the choices of a response asked with ``n`` (``ChatResponse.choices``)."""

    index: int
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    logprobs: list[dict[str, Any]] | None = None
    """Per output token: ``{"token", "logprob", "bytes", "top_logprobs": [{"token",
    "logprob", "bytes"}]}`` (OpenAI's shape, whoever served it); None unless asked."""
    refusal: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The choice in OpenAI ``choices[i]`` shape."""
        return choice_to_openai(self)

@frozen_type
class ChatResponse(_Response):
    """A normalized chat completion."""

    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    reasoning: str | None = None
    created: int = 0
    provider_data: dict[str, Any] | None = None
    """Opaque provider state carried to ``message`` (thinking signatures and the like)."""
    refusal: str | None = None
    """The model's refusal text (OpenAI ``message.refusal``), else None. Providers that signal a
    refusal only by a stop reason (Anthropic ``refusal``) set ``finish_reason="content_filter"``
    and leave this None unless they also send text explaining it."""
    choices: tuple[Choice, ...] = ()
    """Every choice (``n`` of them when asked); ``content``, ``tool_calls``, ... are the first's.
    The router fills it on every response it returns."""
    logprobs: list[dict[str, Any]] | None = None
    """The first choice's token log probabilities when asked (see :attr:`Choice.logprobs`)."""
    parsed: Any = None
    """The validated object when ``response_format`` was a type (a pydantic model, a dataclass,
    a TypedDict, ``list[X]``, ...), else None."""

    @property
    def message(self) -> Message:
        """The assistant message, ready to append to the conversation."""
        return Message(role="assistant", content=self.content, tool_calls=list(self.tool_calls),
                       reasoning=self.reasoning, provider_data=self.provider_data)

    def to_openai(self) -> dict[str, Any]:
        """The response in OpenAI ChatCompletion shape."""
        return response_to_openai(self)


# ---------------------------------------------------------------------------- other operations


@frozen_type
class EmbeddingRequest(_Request):
    input: list[str]
    dimensions: int | None = None
    input_type: str | None = None
    user: str | None = None


@frozen_type
class EmbeddingResponse(_Response):
    vectors: list[list[float]]


@frozen_type
class ImageRequest(_Request):
    prompt: str
    size: str | None = None
    n: int = 1
    quality: str | None = None
    user: str | None = None


@frozen_type
class GeneratedImage(_DictMixin):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None
    mime_type: str | None = None

    @property
    def data(self) -> bytes | None:
        """The image bytes when the provider returned them inline."""
        return base64.b64decode(self.b64_json) if self.b64_json else None


@frozen_type
class ImageResponse(_Response):
    images: list[GeneratedImage]


@frozen_type
class TranscriptionRequest(_Request):
    file: bytes
    filename: str = "audio.wav"
    language: str | None = None
    prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = _DictMixin.to_dict(self)
        d["file"] = f"<{len(self.file)} bytes>"
        return d


@frozen_type
class Transcription(_Response):
    text: str
    language: str | None = None
    duration: float | None = None


@frozen_type
class SpeechRequest(_Request):
    input: str
    voice: str
    format: str = "mp3"
    speed: float | None = None


@frozen_type
class Speech(_Response):
    audio: bytes = field(repr=False)
    format: str = "mp3"


@frozen_type
class ModerationRequest(_Request):
    input: list[str]


@frozen_type
class ModerationResult(_DictMixin):
    flagged: bool
    categories: dict[str, bool] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


@frozen_type
class ModerationResponse(_Response):
    flagged: bool
    results: list[ModerationResult] = field(default_factory=list)


@frozen_type
class RerankRequest(_Request):
    """A validated rerank request: the query and the documents to order by relevance to it."""

    query: str
    documents: list[str]
    top_n: int | None = None
    """Return only the best ``top_n`` results (all of them when None)."""


@frozen_type
class RerankResult(_DictMixin):
    """One document's place in the ranking."""

    index: int
    """The document's position in the request's ``documents``."""
    relevance_score: float
    document: str
    """The document's text, as sent."""


@frozen_type
class RerankResponse(_Response):
    results: list[RerankResult] = field(default_factory=list)
    """Best first (highest ``relevance_score``)."""


# ---------------------------------------------------------------------------- records


@frozen_type
class UsageRecord(_DictMixin):
    """Exactly one per logical call, whatever happened. Never holds prompt text or secrets."""

    request_id: str
    project: str | None
    provider: str | None
    model: str | None
    operation: str
    usage: Usage
    cost: Cost | None
    status: str
    """``ok``, ``error``, ``blocked``, ``cancelled`` or ``interrupted``."""
    latency_ms: float
    attempts: list[Attempt]
    time: float = 0.0
    """Unix time when the call started."""
    user: str | None = None
    error: str | None = None
    """The error's class name when the call failed."""
    deployment: str | None = None
    cost_reason: str | None = None
    """Why ``cost`` is None (model unpriced, ...)."""
    tags: dict[str, Any] = field(default_factory=dict)
    cache_hit: bool = False
    """The response cache answered: no provider call, ``cost`` zero."""
    saved_cost: Cost | None = None
    """On a cache hit, what the cached answer cost when the provider produced it."""
