"""Pure translation between our normalized types and the OpenAI wire format (both ways).

No I/O and no SDK import: chat requests become the JSON body the SDK sends (or the keyword
arguments of its ``create`` call, when ``provider_options`` need the SDK's own handling), other
requests the keyword arguments of the SDK's calls. Chat answers are read from the JSON the API
sent (the provider skips building the SDK's response models: most of the SDK's cost per call and
per stream chunk), other answers from the SDK's response objects. The differences between
OpenAI and the compatible APIs live in :class:`Dialect`.

Usage convention (see :class:`cencori_core.Usage`): ``prompt_tokens`` includes cached tokens,
``completion_tokens`` includes reasoning tokens.

The operations other than chat (embeddings, images, audio, moderation) are in
:mod:`._convert_ops`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from cencori_core.errors import InvalidRequestError
from cencori_core.provider import (
    StreamState,
    openai_logprobs,
    provider_options,
    refuse,
)
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["Dialect", "DIALECTS", "ChatStream", "chat_request", "chat_kwargs", "chat_response",
           "chat_chunk", "usage_from"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between OpenAI and an OpenAI-compatible API."""

    name: str
    max_tokens_param: str
    """OpenAI (and xAI) deprecated ``max_tokens`` for ``max_completion_tokens``, which reasoning
    models require; DeepSeek, the Llama API and local servers document ``max_tokens``."""
    developer_role: bool
    """Whether the API knows the ``developer`` role; elsewhere it is sent as ``system``."""
    all_operations: bool
    """Embeddings, images, audio and moderation besides chat."""
    openai_env: bool = False
    """Take organization and project from ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``."""
    reasoning_on_tool_turns: bool = False
    """Send an assistant tool-call turn's reasoning back as ``reasoning_content``: DeepSeek's
    thinking mode requires it on tool-call turns (and answers 400 without it)."""
    params: frozenset[str] = frozenset()
    """The common chat parameters (``_params.COMMON``) the API serves; the rest are refused."""
    json_schema: bool = True
    """Whether the API takes ``response_format`` ``json_schema``; DeepSeek takes only
    ``json_object``: the schema then travels in a system message (DeepSeek's JSON mode also
    wants the word "json" in the prompt, which that message has)."""


_ALL = frozenset({"reasoning_effort", "n", "logprobs", "top_logprobs", "parallel_tool_calls",
                  "presence_penalty", "frequency_penalty"})

DIALECTS: dict[str, Dialect] = {
    "openai": Dialect("openai", "max_completion_tokens", True, True, openai_env=True,
                      params=_ALL),
    "xai": Dialect("xai", "max_completion_tokens", False, False, params=_ALL),
    # DeepSeek's API has no n or parallel_tool_calls; deepseek-reasoner always reasons
    "deepseek": Dialect("deepseek", "max_tokens", False, False, reasoning_on_tool_turns=True,
                        params=_ALL - {"n", "parallel_tool_calls"}, json_schema=False),
    # the Llama API documents none of them
    "meta": Dialect("meta", "max_tokens", False, False),
    # Custom servers (vLLM, Ollama, ...) may serve embeddings or audio too: let them try.
    "openai_compatible": Dialect("openai_compatible", "max_tokens", False, True, params=_ALL),
}

_SCHEMA_PROMPT = ("Reply with a single JSON object, and nothing else, that validates against "
                  "this JSON schema: ")

_WHY = {
    "deepseek": {"n": "call several times instead",
                 "parallel_tool_calls": "leave it out (DeepSeek decides)"},
}


def _common(request: ChatRequest, dialect: Dialect, body: dict[str, Any]) -> None:
    """The common parameters (issue 17) into the body, or refused before sending."""
    # streams serve them too: each event names its choice and carries its log probabilities
    refuse(request, dialect.params, dialect.name, _WHY.get(dialect.name),
           streamed=dialect.params)
    effort = request.reasoning_effort
    if effort is not None:
        if dialect.name == "deepseek":
            if not request.model.startswith("deepseek-reasoner"):
                raise InvalidRequestError(
                    f"DeepSeek model {request.model!r} takes no reasoning_effort: use "
                    "deepseek-reasoner, which always reasons", param="reasoning_effort")
            # deepseek-reasoner's depth is not adjustable: nothing to send
        elif dialect.name == "xai" and effort not in ("low", "high"):
            raise InvalidRequestError(
                f"xAI takes reasoning_effort 'low' or 'high', not {effort!r}",
                param="reasoning_effort")
        else:
            body["reasoning_effort"] = effort
    for name in ("n", "logprobs", "top_logprobs", "parallel_tool_calls", "presence_penalty",
                 "frequency_penalty"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value

# Keyword arguments of the SDK calls that are not request fields.
_SDK_EXTRAS = frozenset({"extra_headers", "extra_query", "extra_body"})


# ---------------------------------------------------------------------------- requests


def message_to_openai(m: Message, dialect: Dialect | None = None) -> dict[str, Any]:
    """One message in the OpenAI shape. ``provider_data`` is never sent, nor ``reasoning``
    except on an assistant tool-call turn for a dialect that needs it back (DeepSeek's
    thinking mode; it refuses ``reasoning_content`` on other turns, others ignore or refuse
    it)."""
    role = m.role
    if role == "developer" and dialect is not None and not dialect.developer_role:
        role = "system"
    out: dict[str, Any] = {"role": role, "content": m.content}
    if m.name:
        out["name"] = m.name
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": tc.id, "type": "function",
             "function": {"name": tc.name, "arguments": tc.arguments_raw}}
            for tc in m.tool_calls
        ]
        if m.reasoning and dialect is not None and dialect.reasoning_on_tool_turns:
            out["reasoning_content"] = m.reasoning
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


def split_options(opts: dict[str, Any], known: Collection[str], kwargs: dict[str, Any]) -> None:
    """Merge ``provider_options`` into SDK ``kwargs``: parameters the SDK call knows (and its
    ``extra_*`` arguments) go as keyword arguments, anything else into ``extra_body`` so new or
    provider-specific fields (DeepSeek ``thinking``, xAI ``search_parameters``) still reach the
    API."""
    extra_body: dict[str, Any] = {}
    for key, value in opts.items():
        if key == "extra_body":
            extra_body = {**(value or {}), **extra_body}
        elif key in known or key in _SDK_EXTRAS:
            kwargs[key] = value
        else:
            extra_body[key] = value
    if extra_body:
        kwargs["extra_body"] = extra_body


def _with_options(request: Any, known: Collection[str], kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` plus the request's timeout and ``provider_options`` (see :func:`split_options`)."""
    if request.timeout is not None:
        kw["timeout"] = request.timeout
    opts = provider_options(request)
    if opts:
        split_options(opts, known, kw)
    return kw


def chat_request(request: ChatRequest, dialect: Dialect, stream: bool = False) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request`` (without its
    ``provider_options``: see :func:`chat_kwargs`).

    ``metadata`` stays with the router (OpenAI's own ``metadata`` needs ``store=true``; pass it in
    ``provider_options`` to send it). A stream asks for the final usage chunk.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [message_to_openai(m, dialect) for m in request.messages],
    }
    rf = request.response_format
    if rf is not None and rf["type"] == "json_schema" and not dialect.json_schema:
        body["messages"].append({"role": "system", "content": _SCHEMA_PROMPT + json.dumps(
            rf["json_schema"]["schema"], ensure_ascii=False)})
        rf = {"type": "json_object"}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body[dialect.max_tokens_param] = request.max_tokens
    if request.tools:
        body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
    # tool_choice "none" without tools is already true; OpenAI refuses tool_choice alone.
    if rf is not None:
        body["response_format"] = rf
    if request.stop:
        body["stop"] = request.stop
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.seed is not None:
        body["seed"] = request.seed
    if request.user is not None:
        body["user"] = request.user
    if request.reasoning_effort is not None or request.n is not None \
            or request.logprobs is not None or request.parallel_tool_calls is not None \
            or request.presence_penalty is not None or request.frequency_penalty is not None:
        _common(request, dialect, body)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def chat_kwargs(request: ChatRequest, dialect: Dialect, known: Collection[str],
                stream: bool = False) -> dict[str, Any]:
    """The keyword arguments of ``client.chat.completions.create`` for ``request``: the body of
    :func:`chat_request`, the timeout, and ``provider_options`` (``known`` is the set of parameter
    names ``create`` accepts; see :func:`split_options`)."""
    return _with_options(request, known, chat_request(request, dialect, stream))


# ---------------------------------------------------------------------------- chat responses

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    # Some compatible servers report these:
    "eos": "stop",
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def finish_reason(value: str | None) -> str:
    """Our finish reason; an unknown one (DeepSeek ``insufficient_system_resource``) means the
    generation was cut by the server: ``error``."""
    if not value:
        return "stop"
    return _FINISH.get(value, "error")


def _int(value: Any) -> int:
    return value if type(value) is int else int(value or 0)


def _tokens(value: Any) -> int:
    """A token count from the API: an int (None or absent is 0); anything else is a malformed
    answer (the converter boundary reports it)."""
    if type(value) is int:
        return value
    if value is None:
        return 0
    if type(value) is float and value.is_integer():  # some compatible servers send 12.0
        return int(value)
    raise TypeError(f"a token count is {type(value).__name__}, not int")


def _text(value: Any, field: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise TypeError(f"{field} is {type(value).__name__}, not a string")


def _wire(obj: Any) -> Any:
    """The wire JSON of an SDK response object (the converters below read the JSON the API
    sent, which is what the provider parses; SDK objects are accepted for callers that hold
    one, and on the SDK's public path)."""
    # warnings off: a malformed answer is reported by the converter boundary, not by pydantic
    return obj if obj is None or isinstance(obj, dict) else obj.to_dict(warnings=False)


def usage_from(u: Any) -> Usage:
    """Our :class:`Usage` from an OpenAI-style ``usage`` object (JSON, or the SDK's object).

    Cached prompt tokens come from ``prompt_tokens_details.cached_tokens`` (DeepSeek:
    ``prompt_cache_hit_tokens``), reasoning tokens from
    ``completion_tokens_details.reasoning_tokens``. xAI counts reasoning tokens outside
    ``completion_tokens`` (its total is prompt + completion + reasoning): they are added back so
    ``completion_tokens`` includes them, as it does at OpenAI.
    """
    if u is None:
        return Usage(source="estimated")
    if not isinstance(u, dict):
        u = u.to_dict()
    get = u.get
    prompt = _tokens(get("prompt_tokens"))
    completion = _tokens(get("completion_tokens"))
    total = _tokens(get("total_tokens"))
    pd = get("prompt_tokens_details")
    if pd is not None:
        cached = _tokens(pd.get("cached_tokens"))
    else:  # DeepSeek's own field
        cached = _tokens(get("prompt_cache_hit_tokens"))
    cd = get("completion_tokens_details")
    reasoning = _tokens(cd.get("reasoning_tokens")) if cd is not None else 0
    if reasoning and total == prompt + completion + reasoning:
        completion += reasoning
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=total or prompt + completion, cached_tokens=cached,
                 reasoning_tokens=reasoning)


def tool_call_from(tc: dict[str, Any]) -> ToolCall:
    fn = tc.get("function") if tc.get("type", "function") == "function" else None
    if fn is not None:
        return ToolCall.from_raw(id=tc.get("id") or "", name=fn.get("name") or "",
                                 arguments_raw=_text(fn.get("arguments"), "arguments"))
    # A custom (free-text) tool call: its input is not JSON, the parse error says so.
    custom = tc.get("custom") or {}
    return ToolCall.from_raw(id=tc.get("id") or "", name=custom.get("name") or "",
                             arguments_raw=custom.get("input") or "")


def _reasoning(msg: dict[str, Any]) -> str | None:
    """Reasoning text of a message or delta: DeepSeek (and vLLM) name it
    ``reasoning_content``, OpenRouter and Ollama ``reasoning``."""
    value = msg.get("reasoning_content") or msg.get("reasoning")
    return value if isinstance(value, str) else None


def chat_response(data: Any, *, provider: str, model: str, raw: Any = None) -> ChatResponse:
    """A :class:`ChatResponse` from a chat completion (the first choice): the wire JSON, or
    the SDK's ``ChatCompletion``. ``raw`` (default: ``data``) is kept on the response.

    An answer of the wrong shape raises a plain Python error (``AttributeError``,
    ``TypeError``, ...): the provider reads it inside the converter boundary, which makes it a
    retryable :class:`~cencori_core.errors.ProviderResponseError`.
    """
    completion = data
    data = _wire(data)
    if type(data) is not dict:
        raise TypeError(f"the answer is {type(data).__name__}, not a chat completion object")
    if raw is None:
        raw = completion
    choices = data.get("choices")
    if not choices:
        # OpenRouter and other proxies answer an upstream failure with status 200 and
        # {"error": {...}}; a wrong base URL answers {} or []. Not an answer: a retryable
        # ProviderResponseError (the boundary's), so a fallback can serve the call.
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            raise ValueError(f"the answer is an error, not a chat completion: "
                             f"{err['message'][:200]!r}")
        raise ValueError("the answer has no choices: not a chat completion (is the base_url "
                         "an OpenAI-compatible /v1 endpoint?)")
    choice = choices[0]
    msg = choice.get("message") or {}
    calls = msg.get("tool_calls")
    fr = choice.get("finish_reason")
    refusal = _text(msg.get("refusal"), "message.refusal")
    logprobs = choice.get("logprobs")
    if logprobs or len(choices) > 1:
        # asked with logprobs or n (issue 17)
        return _with_choices(choices, data, provider=provider, model=model, raw=raw)
    return ChatResponse(
        content=_text(msg.get("content"), "message.content"),
        tool_calls=[tool_call_from(tc) for tc in calls] if calls else [],
        finish_reason=_FINISH.get(fr, "error") if fr else "stop",
        usage=usage_from(data.get("usage")),
        model=data.get("model") or model,
        provider=provider,
        id=data.get("id") or "",
        created=data.get("created") or 0,
        reasoning=_reasoning(msg),
        refusal=refusal,
        raw=raw,
    )


def _choice(choice: dict[str, Any], i: int) -> Choice:
    msg = choice.get("message") or {}
    calls = msg.get("tool_calls")
    fr = choice.get("finish_reason")
    return Choice(index=choice.get("index", i), content=_text(msg.get("content"),
                                                               "message.content"),
                  tool_calls=[tool_call_from(tc) for tc in calls] if calls else [],
                  finish_reason=_FINISH.get(fr, "error") if fr else "stop",
                  logprobs=openai_logprobs(choice.get("logprobs")),
                  refusal=_text(msg.get("refusal"), "message.refusal"))


def _with_choices(choices: list[dict[str, Any]], data: dict[str, Any], *, provider: str,
                  model: str, raw: Any) -> ChatResponse:
    """A response with every choice (``n``) and normalized log probabilities."""
    all_ = tuple(_choice(c, i) for i, c in enumerate(choices))
    first = all_[0]
    msg = choices[0].get("message") or {}
    return ChatResponse(
        content=first.content, tool_calls=first.tool_calls, finish_reason=first.finish_reason,
        usage=usage_from(data.get("usage")), model=data.get("model") or model,
        provider=provider, id=data.get("id") or "", created=data.get("created") or 0,
        reasoning=_reasoning(msg), refusal=first.refusal, choices=all_,
        logprobs=first.logprobs, raw=raw)


def chat_chunk(chunk: Any) -> ChatChunk | list[ChatChunk] | None:
    """A :class:`ChatChunk` from a stream event (the wire JSON of a ``chat.completion.chunk``,
    or the SDK's ``ChatCompletionChunk``); None when it carries nothing (the role-only opening
    chunk, keep-alives). An event with several choices (``n``) gives one chunk per choice."""
    data = chunk if type(chunk) is dict else _wire(chunk)
    usage = data.get("usage")
    choices = data.get("choices")
    if not choices:
        if usage is None:
            return None
        return ChatChunk(usage=usage_from(usage), id=data.get("id"), model=data.get("model"),
                         raw=chunk)
    if len(choices) > 1:
        out = [c for k, choice in enumerate(choices)
               if (c := _choice_chunk(data, choice, usage if k == len(choices) - 1 else None,
                                      chunk)) is not None]
        return out or None
    choice = choices[0]
    delta = choice.get("delta") or {}
    text = delta.get("content")
    if (choice.get("finish_reason") is None and usage is None and len(delta) == 1
            and type(text) is str and text and not choice.get("index")
            and not choice.get("logprobs")):
        # The bulk of every stream: a text delta of the first choice and nothing else.
        return ChatChunk(delta=text, id=data.get("id"), model=data.get("model"), raw=chunk)
    return _choice_chunk(data, choice, usage, chunk)


def _choice_chunk(data: dict[str, Any], choice: dict[str, Any], usage: Any,
                  raw: Any) -> ChatChunk | None:
    delta = choice.get("delta") or {}
    fr = choice.get("finish_reason")
    text = _text(delta.get("content"), "delta.content")
    tcs = delta.get("tool_calls")
    reasoning = _reasoning(delta) or ""
    refusal = _text(delta.get("refusal"), "delta.refusal") or ""
    calls = [_tool_delta(t) for t in tcs] if tcs else []
    lp = choice.get("logprobs")
    # the opening chunk's {"content": [], "refusal": null} says nothing yet
    logprobs = openai_logprobs(lp) or None if lp else None
    if lp and logprobs is None:
        refused = lp.get("refusal") if isinstance(lp, dict) else None
        logprobs = openai_logprobs({"content": refused}) or None if refused else None
    if not (text or reasoning or refusal or calls or fr or usage or logprobs):
        return None
    return ChatChunk(
        delta=text or "", reasoning=reasoning, refusal=refusal, tool_calls=calls,
        finish_reason=finish_reason(fr) if fr else None,
        usage=usage_from(usage) if usage is not None else None,
        id=data.get("id"), model=data.get("model"), raw=raw,
        index=_tokens(choice.get("index")), logprobs=logprobs,
    )


def _tool_delta(t: dict[str, Any]) -> ToolCallDelta:
    fn = t.get("function")
    index = _tokens(t.get("index"))
    if fn is None:
        return ToolCallDelta(index=index, id=t.get("id"))
    return ToolCallDelta(index=index, id=t.get("id"), name=fn.get("name"),
                         arguments=_text(fn.get("arguments"), "arguments") or "")


class ChatStream(StreamState):
    """A chat completion stream: events are ``chat.completion.chunk`` JSON objects; the
    closing event is the chunk with a ``finish_reason`` (the usage chunk that follows it, and
    ``[DONE]``, may be missing on a cut stream: usage is then estimated)."""

    closing_event = "a finish_reason (the server closed the stream mid-answer)"
    what = "chat completion chunk"

    def __init__(self, *, provider: str, model: str, scrubber: Any = None, n: int = 1) -> None:
        super().__init__(provider=provider, model=model, scrubber=scrubber)
        self.open = n
        """Choices without their finish_reason yet (``n``): the stream is done at none."""
        self._all_finished = False

    def fold(self, event: Any) -> ChatChunk | list[ChatChunk] | None:
        chunk = chat_chunk(event)
        if chunk is None:
            return None
        for c in (chunk,) if type(chunk) is ChatChunk else chunk:  # type: ignore[union-attr]
            if c.finish_reason is not None:
                self.open -= 1
                if self.open <= 0:
                    self._all_finished = self.done = True
            elif c.delta or c.tool_calls or c.reasoning or c.refusal:
                self.done = self._all_finished
            elif c.usage is not None:
                # The usage chunk is the last before [DONE]: some OpenAI-compatible servers
                # send it but never a finish_reason (recorded: kimi-k2 through OpenRouter).
                self.done = True
        return chunk
