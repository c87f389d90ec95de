"""Pure translation between cencori types and Cohere's v2 API shapes (no SDK import, no I/O).

Requests become keyword arguments of ``ClientV2.chat`` / ``chat_stream`` / ``embed`` plus their
``request_options``; responses and stream events (the SDK's parsed objects, read by attribute
only) become our normalized types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cencori_core.errors import InvalidRequestError, ProviderResponseError, ProviderServerError
from cencori_core.provider import StreamState, refuse, rerank_results, thinking_budget
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    RerankRequest,
    RerankResponse,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["chat_request", "request_options", "chat_response", "CohereStream", "usage_from",
           "embed_request", "embed_response", "finish_reason", "DEFAULT_INPUT_TYPE",
           "EMBED_BATCH", "rerank_request", "rerank_response"]

DEFAULT_INPUT_TYPE = "search_document"
"""Sent when the caller gives no ``input_type``: Cohere requires one, and indexing documents is
the common case."""

EMBED_BATCH = 96
"""Cohere's limit of texts per embed call; longer inputs are sent in several calls."""

KEY = "cohere"
"""Our key in ``provider_data``: the tool plan and thinking text to send back next turn."""

_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "error",
    "TIMEOUT": "error",
}

_EMPTY_SCHEMA = {"type": "object", "properties": {}}


# ---------------------------------------------------------------------------- requests


def chat_request(request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``ClientV2.chat`` / ``chat_stream`` (``request_options`` aside)."""
    kw: dict[str, Any] = {"model": request.model, "messages": messages(request.messages)}
    tools = [_tool(t) for t in request.tools or ()]
    choice = request.tool_choice
    if isinstance(choice, Mapping):
        # Cohere cannot force one named function; offering only that one and requiring a call
        # has the same effect.
        name = choice["function"]["name"]
        tools = [t for t in tools if t["function"]["name"] == name]
        if not tools:
            raise InvalidRequestError(f"tool_choice names {name!r}, which is not in tools",
                                      param="tool_choice")
        choice = "required"
    if tools:
        kw["tools"] = tools
        if choice in ("none", "required"):
            kw["tool_choice"] = choice.upper()
        if any(t.get("function", {}).get("strict") for t in request.tools or ()):
            kw["strict_tools"] = True
    if request.response_format is not None:
        kw["response_format"] = _response_format(request.response_format)
    if request.temperature is not None:
        kw["temperature"] = request.temperature
    if request.max_tokens is not None:
        kw["max_tokens"] = request.max_tokens
    if request.stop:
        kw["stop_sequences"] = list(request.stop)
    if request.top_p is not None:
        kw["p"] = request.top_p
    if request.seed is not None:
        kw["seed"] = request.seed
    if request.reasoning_effort is not None or request.n is not None \
            or request.logprobs is not None or request.parallel_tool_calls is not None \
            or request.presence_penalty is not None or request.frequency_penalty is not None:
        _common(request, kw)
    return kw


def _common(request: ChatRequest, kw: dict[str, Any]) -> None:
    """The common parameters (issue 17): the penalties and logprobs as they are,
    reasoning_effort as a thinking token budget; n, top_logprobs and
    parallel_tool_calls=False refused."""
    served = ["reasoning_effort", "logprobs", "presence_penalty", "frequency_penalty"]
    if request.parallel_tool_calls:  # True is Cohere's behaviour already
        served.append("parallel_tool_calls")
    refuse(request, served, "Cohere", {
        "n": "call several times instead",
        "top_logprobs": "Cohere returns the chosen tokens' log probabilities only",
        "parallel_tool_calls": "Cohere may always call several tools at once"})
    for name in ("presence_penalty", "frequency_penalty", "logprobs"):
        value = getattr(request, name)
        if value is not None:
            kw[name] = value
    if request.reasoning_effort is not None:
        kw["thinking"] = {"type": "enabled",
                          "token_budget": thinking_budget(request.reasoning_effort,
                                                          request.max_tokens)}


def request_options(request: Any,
                    headers: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The SDK's per-call ``request_options``: the call's timeout, configured extra headers, and
    ``provider_options`` merged into the JSON body as written (any Cohere field, typed or not)."""
    opts: dict[str, Any] = {}
    if request.timeout is not None:
        opts["timeout"] = request.timeout
    if headers:
        opts["additional_headers"] = dict(headers)
    if request.provider_options:
        opts["additional_body_parameters"] = dict(request.provider_options)
    return opts or None


def messages(msgs: list[Message]) -> list[dict[str, Any]]:
    """Our messages as Cohere v2 chat messages."""
    return [_message(m, f"messages[{i}]") for i, m in enumerate(msgs)]


def _message(m: Message, where: str) -> dict[str, Any]:
    if m.role in ("system", "developer"):
        return {"role": "system", "content": m.text}
    if m.role == "user":
        return {"role": "user", "content": _user_content(m.content, where)}
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id,
                "content": _tool_content(m.content, where)}
    return _assistant(m)


def _user_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for j, p in enumerate(content or ()):
        kind = p.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": p["text"]})
        elif kind == "image_url":
            image = {"url": p["image_url"]["url"]}
            if p["image_url"].get("detail"):
                image["detail"] = p["image_url"]["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise InvalidRequestError(
                f"{where}.content[{j}]: Cohere accepts text and image_url parts, not {kind!r}",
                param=f"{where}.content[{j}]")
    return parts


def _tool_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts = []
    for j, p in enumerate(content or ()):
        if p.get("type") != "text":
            raise InvalidRequestError(
                f"{where}.content[{j}]: Cohere tool results take text parts only",
                param=f"{where}.content[{j}]")
        parts.append({"type": "text", "text": p["text"]})
    return parts


def _assistant(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    data = m.provider_data or {}
    saved = data.get(KEY) if isinstance(data.get(KEY), Mapping) else None
    text = m.text
    thinking = saved.get("thinking") if saved else None
    if thinking:
        # A reasoning model's thinking goes back as it came: a content item before the text.
        items: list[dict[str, Any]] = [{"type": "thinking", "thinking": thinking}]
        if text:
            items.append({"type": "text", "text": text})
        out["content"] = items
    elif text or not m.tool_calls:
        out["content"] = text
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": tc.id, "type": "function",
             "function": {"name": tc.name, "arguments": tc.arguments_raw or "{}"}}
            for tc in m.tool_calls
        ]
        # Our own answers carry the exact plan; a hand-built or foreign message offers its
        # reasoning as the plan.
        plan = saved.get("tool_plan") if saved is not None else m.reasoning
        if plan:
            out["tool_plan"] = plan
    return out


def _tool(t: Mapping[str, Any]) -> dict[str, Any]:
    fn = t["function"]
    out: dict[str, Any] = {"name": fn["name"], "parameters": fn.get("parameters") or _EMPTY_SCHEMA}
    if fn.get("description"):
        out["description"] = fn["description"]
    return {"type": "function", "function": out}


def _response_format(rf: Mapping[str, Any]) -> dict[str, Any]:
    if rf["type"] == "json_schema":
        return {"type": "json_object", "json_schema": dict(rf["json_schema"]["schema"])}
    return {"type": rf["type"]}


def embed_request(request: EmbeddingRequest) -> list[dict[str, Any]]:
    """Keyword arguments of ``ClientV2.embed``, one call per batch of at most 96 texts."""
    base: dict[str, Any] = {"model": request.model,
                            "input_type": request.input_type or DEFAULT_INPUT_TYPE,
                            "embedding_types": ["float"]}
    if request.dimensions is not None:
        base["output_dimension"] = request.dimensions
    texts = list(request.input)
    return [{**base, "texts": texts[i:i + EMBED_BATCH]}
            for i in range(0, len(texts), EMBED_BATCH)]


# ---------------------------------------------------------------------------- responses


def finish_reason(value: Any, has_calls: bool) -> str:
    """Cohere's finish reason in our vocabulary."""
    mapped = _FINISH.get(str(value).upper()) if value else None
    return mapped or ("tool_calls" if has_calls else "stop")


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK object or of a JSON object (stream events are read as dicts)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    if isinstance(obj, (str, bytes, int, float, list, tuple)):
        # A scalar or a list where an object belongs: a malformed answer, not "no field".
        raise TypeError(f"expected an object, got {type(obj).__name__}")
    return getattr(obj, name, None)


def usage_from(u: Any) -> Usage:
    """Our Usage from Cohere's ``usage`` (chat) or ``meta`` (embed): billed units first."""
    if u is None:
        return Usage(source="estimated")
    billed = _get(u, "billed_units")
    tokens = _get(u, "tokens")
    prompt = _count(billed, tokens, "input_tokens")
    completion = _count(billed, tokens, "output_tokens")
    if prompt is None and completion is None:
        return Usage(source="estimated")
    prompt = prompt or 0
    completion = completion or 0
    cached = int(_get(u, "cached_tokens") or 0)
    seen = _get(tokens, "input_tokens")
    if billed is not None and seen is not None:
        # Cohere counts cached tokens among all it read (``tokens``), template included; the
        # cache holds a prefix, and the unbilled template and tool definitions lead the prompt,
        # so only what it covers past them is billed input (recorded: 1,008 cached of 1,494
        # read, 80 billed: none of the billed tokens came from the cache).
        cached -= max(int(seen) - prompt, 0)
    cached = min(max(cached, 0), prompt)
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=prompt + completion, cached_tokens=cached)


def _count(billed: Any, tokens: Any, field: str) -> int | None:
    for source in (billed, tokens):
        value = _get(source, field)
        if value is not None:
            return int(value)
    return None


def _saved(tool_plan: str, thinking: str) -> dict[str, Any] | None:
    saved = {k: v for k, v in (("tool_plan", tool_plan), ("thinking", thinking)) if v}
    return {KEY: saved} if saved else None


def tool_call(tc: Any) -> ToolCall:
    fn = getattr(tc, "function", None)
    return ToolCall.from_raw(id=tc.id, name=getattr(fn, "name", None) or "",
                             arguments_raw=getattr(fn, "arguments", None))


def chat_response(resp: Any, *, provider: str, model: str, raw: Any = None) -> ChatResponse:
    """A ``V2ChatResponse`` as our ChatResponse (Cohere does not echo the model: ours is kept).
    Read inside the converter boundary: an answer of the wrong shape raises, and becomes
    ``ProviderResponseError``."""
    msg = getattr(resp, "message", None)
    if msg is None:
        raise ProviderResponseError("Cohere answered a chat response without a message",
                                    provider=provider, model=model, retryable=True)
    texts: list[str] = []
    thinking: list[str] = []
    for item in msg.content or ():
        kind = getattr(item, "type", None)
        if kind == "text":
            texts.append(item.text or "")
        elif kind == "thinking":
            thinking.append(item.thinking or "")
    calls = [tool_call(tc) for tc in msg.tool_calls or ()]
    plan = msg.tool_plan or ""
    think = "".join(thinking)
    return ChatResponse(
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=finish_reason(resp.finish_reason, bool(calls)),
        usage=usage_from(resp.usage),
        model=model,
        provider=provider,
        id=resp.id or "",
        reasoning=(think + plan) or None,
        provider_data=_saved(plan, think),
        logprobs=_logprobs(getattr(resp, "logprobs", None)),
        raw=resp if raw is None else raw,
    )


def _logprobs(items: Any) -> list[dict[str, Any]] | None:
    """Cohere's ``logprobs`` (one item per text piece, with its tokens' log probabilities) in
    the normalized shape: one entry per piece, its log probability the sum of its tokens'."""
    if not items:
        return None
    return [{"token": getattr(it, "text", None) or "",
             "logprob": float(sum(getattr(it, "logprobs", None) or ())),
             "bytes": None, "top_logprobs": []} for it in items]


def _path(obj: Any, *names: str) -> Any:
    for name in names:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


class CohereStream(StreamState):
    """Folds the events of one Cohere v2 stream (the JSON of each SSE ``data``, read strictly:
    an event that is not JSON, or not an object, is a malformed answer) into chunks.

    Text and thinking deltas become ``delta`` / ``reasoning``; tool-plan deltas become
    ``reasoning``; tool calls get our own stable index (Cohere's event index is mapped, so it
    may count content blocks too); ``message-end``, the closing event, carries the finish
    reason, the usage and the provider data for the next turn. A ``message-end`` with an
    ``error`` raises; a stream that ends without ``message-end`` was cut.
    """

    closing_event = "a message-end event"

    def __init__(self, *, provider: str, model: str, scrubber: Any = None) -> None:
        super().__init__(provider=provider, model=model, scrubber=scrubber)
        self.plan: list[str] = []
        self.thinking: list[str] = []
        self.calls: dict[Any, int] = {}
        self.last_call = 0

    def fold(self, event: Any) -> ChatChunk | None:
        """The chunk for one event (its SSE data), or None for events that carry nothing."""
        if isinstance(event, (str, bytes)):
            event = self.decode(event)
        kind = event["type"]
        if kind in ("content-delta", "content-start"):
            content = event["delta"]["message"]["content"]
            text = content.get("text") or ""
            thinking = content.get("thinking") or ""
            if thinking:
                self.thinking.append(thinking)
            if not (text or thinking):
                return None
            return ChatChunk(delta=text, reasoning=thinking, raw=event)
        if kind == "tool-plan-delta":
            plan = event["delta"]["message"].get("tool_plan") or ""
            if not plan:
                return None
            self.plan.append(plan)
            return ChatChunk(reasoning=plan, raw=event)
        if kind == "tool-call-start":
            call = event["delta"]["message"]["tool_calls"]
            fn = call.get("function") or {}
            index = len(self.calls)
            key = event.get("index")
            self.calls[key if key is not None else ("start", index)] = self.last_call = index
            return ChatChunk(tool_calls=[ToolCallDelta(
                index=index, id=call.get("id"), name=fn.get("name"),
                arguments=fn.get("arguments") or "")], raw=event)
        if kind == "tool-call-delta":
            args = (event["delta"]["message"]["tool_calls"].get("function") or {}).get(
                "arguments")
            if not args:
                return None
            index = self.calls.get(event.get("index"), self.last_call)
            return ChatChunk(tool_calls=[ToolCallDelta(index=index, arguments=args)], raw=event)
        if kind == "message-start":
            return ChatChunk(id=event.get("id"), raw=event)
        if kind == "message-end":
            return self._end(event)
        return None  # content-end, tool-call-end, citations, debug, types added later

    def _end(self, event: dict[str, Any]) -> ChatChunk:
        delta = event.get("delta") or {}
        error = delta.get("error")
        if error:
            raise ProviderServerError(f"Cohere ended the stream with an error: {error}",
                                      provider=self.provider, model=self.model)
        self.done = True
        raw_usage = delta.get("usage")
        return ChatChunk(
            finish_reason=finish_reason(delta.get("finish_reason"), bool(self.calls)),
            usage=usage_from(raw_usage) if raw_usage is not None else None,
            provider_data=_saved("".join(self.plan), "".join(self.thinking)),
            raw=event,
        )


def embed_response(responses: list[Any], *, provider: str, model: str,
                       count: int) -> EmbeddingResponse:
    """The float vectors and summed usage of one or more ``EmbedByTypeResponse``."""
    vectors: list[list[float]] = []
    total: Usage | None = None
    for resp in responses:
        floats = _path(resp, "embeddings", "float_")
        if floats is None:
            raise ProviderResponseError("Cohere answered without float embeddings",
                                        provider=provider, model=model, retryable=True)
        vectors.extend(floats)
        u = usage_from(getattr(resp, "meta", None))
        total = u if total is None else total + u
    if len(vectors) != count:
        raise ProviderResponseError(f"Cohere returned {len(vectors)} embeddings for {count} inputs",
                                    provider=provider, model=model, retryable=True)
    return EmbeddingResponse(vectors=vectors, usage=total or Usage(source="estimated"),
                             model=model, provider=provider,
                             id=getattr(responses[0], "id", None) or "",
                             raw=responses[0] if len(responses) == 1 else responses)


# ---------------------------------------------------------------------------- rerank


def rerank_request(request: RerankRequest) -> dict[str, Any]:
    """Keyword arguments of ``ClientV2.rerank``."""
    kw: dict[str, Any] = {"model": request.model, "query": request.query,
                          "documents": list(request.documents)}
    if request.top_n is not None:
        kw["top_n"] = request.top_n
    return kw


def rerank_response(resp: Any, request: RerankRequest, *, provider: str) -> RerankResponse:
    """A ``V2RerankResponse`` as our RerankResponse. Cohere bills rerank by search units
    (``meta.billed_units.search_units``: one per query and up to 100 documents); tokens, when
    it reports them, are kept as prompt tokens."""
    results = rerank_results(_get(resp, "results"), request.documents, top_n=request.top_n,
                             provider=provider, model=request.model)
    meta = _get(resp, "meta")
    usage = usage_from(meta)
    units = _get(_get(meta, "billed_units"), "search_units")
    if units is not None:
        usage = Usage(prompt_tokens=usage.prompt_tokens, total_tokens=usage.prompt_tokens,
                      search_units=int(units))
    return RerankResponse(results=results, usage=usage, model=request.model, provider=provider,
                          id=_get(resp, "id") or "", raw=resp)
