"""Pure translation between cencori's normalized types and the Anthropic Messages API.

Request side: :func:`chat_request` turns a :class:`ChatRequest` into keyword arguments for
``client.messages.create``. Response side: :func:`chat_response` reads a ``message`` and
:class:`AnthropicStream` folds stream events into :class:`ChatChunk` objects (``message_stop``
closes a stream: without it the stream was cut, see
:class:`~cencori_core.provider.StreamState`). No I/O happens here;
answers are read from the JSON the API sent (the provider skips building the SDK's models, most
of the SDK's cost per call and per event); SDK objects are accepted too.

Anthropic's shapes that differ from OpenAI's:

* system (and developer) messages become the top-level ``system`` parameter;
* tool results are ``tool_result`` blocks inside a *user* turn (parallel results share one turn),
  tool calls are ``tool_use`` blocks of the assistant turn with ``input`` as an object;
* extended thinking comes back as ``thinking`` blocks carrying a ``signature``; they are kept in
  ``provider_data["anthropic"]["thinking_blocks"]`` and sent back first in the assistant turn,
  exactly as received, because the API verifies them when tool use continues;
* ``usage.input_tokens`` excludes cache reads and writes, which we count in ``prompt_tokens``;
* a refusal is only a stop reason (``refusal``): it becomes ``finish_reason="content_filter"``
  with ``refusal`` left None (the API sends no refusal text apart from the content); whatever
  text came before it stays in ``content``.

Readers raise plain ``AttributeError`` / ``KeyError`` / ``TypeError`` on an answer of another
shape: the toolkit's converter boundary turns them into ``ProviderResponseError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from cencori_core.errors import InvalidRequestError, ProviderResponseError
from cencori_core.provider import StreamState, provider_options, refuse, thinking_budget
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["PROVIDER_KEY", "STOP_REASONS", "chat_request", "convert_messages", "convert_tool",
           "convert_tool_choice", "chat_response", "usage_from", "AnthropicStream"]

PROVIDER_KEY = "anthropic"
"""Our key in ``provider_data`` (namespaced, so a conversation can move between providers)."""

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # A paused server-tool turn is a complete answer so far; the caller may send it back.
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Keyword arguments of ``messages.create`` besides the request body fields we build ourselves;
# any other provider option is a body field the SDK does not know yet and goes to extra_body.
_SDK_KWARGS = frozenset({"extra_headers", "extra_query", "extra_body"})
_MERGED = ("output_config", "metadata")


@cache
def _create_params() -> frozenset[str]:
    from anthropic.types.message_create_params import MessageCreateParamsBase as P

    return frozenset(P.__required_keys__ | P.__optional_keys__) | _SDK_KWARGS


# ---------------------------------------------------------------------------- request


def chat_request(request: ChatRequest, *, max_tokens: int,
                 sampling: bool = False) -> dict[str, Any]:
    """``messages.create`` keyword arguments for ``request`` (without ``stream``/``timeout``).

    ``max_tokens`` is used when the request has none (the API requires it). ``sampling`` allows
    ``temperature`` / ``top_p``, which the SDK's default API version rejects; they then travel
    in ``extra_body``.
    """
    system, messages = convert_messages(request.messages)
    params: dict[str, Any] = {"model": request.model,
                              "max_tokens": request.max_tokens or max_tokens,
                              "messages": messages}
    if system is not None:
        params["system"] = system
    if request.tools:
        params["tools"] = [convert_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            params["tool_choice"] = convert_tool_choice(request.tool_choice)
    if request.stop:
        params["stop_sequences"] = list(request.stop)
    if request.user:
        params["metadata"] = {"user_id": request.user}
    fmt = _output_format(request.response_format)
    if fmt is not None:
        params["output_config"] = {"format": fmt}
    if request.reasoning_effort is not None or request.parallel_tool_calls is not None \
            or request.n is not None or request.logprobs is not None \
            or request.presence_penalty is not None or request.frequency_penalty is not None:
        _common(request, params)
    extra: dict[str, Any] = {}
    for name in ("temperature", "top_p"):
        value = getattr(request, name)
        if value is None:
            continue
        if not sampling:
            raise InvalidRequestError(
                f"{name} is not accepted by the Anthropic Messages API version this SDK speaks: "
                f"leave it out, or configure an older API version that still takes it, e.g. "
                "Router(providers={'anthropic': {'api_version': '2023-06-01'}})", param=name)
        extra[name] = value
    # seed has no Anthropic counterpart; like OpenAI's, it is only a best-effort hint.
    opts = provider_options(request)
    if opts:
        known = _create_params()
        for key, value in opts.items():
            if key in _MERGED and isinstance(value, Mapping) and key in params:
                params[key] = {**params[key], **value}
            elif key == "extra_body" and isinstance(value, Mapping):
                extra.update(value)
            elif key in known:
                params[key] = value
            else:
                extra[key] = value
    if extra:
        params["extra_body"] = extra
    return params


_SERVED = ("reasoning_effort", "parallel_tool_calls")
_WHY = {"n": "call several times instead",
        "logprobs": "the Messages API returns no token log probabilities",
        "top_logprobs": "the Messages API returns no token log probabilities"}


def _common(request: ChatRequest, params: dict[str, Any]) -> None:
    """The common parameters (issue 17): reasoning_effort as an extended-thinking budget,
    parallel_tool_calls=False as ``disable_parallel_tool_use``; the rest refused."""
    refuse(request, _SERVED, "Anthropic", _WHY)
    effort = request.reasoning_effort
    if effort is not None:
        budget = thinking_budget(effort, params["max_tokens"])
        if budget < _MIN_THINKING:
            raise InvalidRequestError(
                f"reasoning_effort needs max_tokens above {_MIN_THINKING} on Anthropic (the "
                f"thinking budget is part of it), got max_tokens={params['max_tokens']}",
                param="reasoning_effort")
        if (params.get("tool_choice") or {}).get("type") in ("tool", "any"):
            # also a schema carried as a forced tool, on a model without structured outputs
            raise InvalidRequestError(
                "Anthropic does not think while a tool call is forced (tool_choice 'required' "
                "or a named tool; or response_format on a model without structured outputs): "
                "drop reasoning_effort, or let the model choose", param="reasoning_effort")
        params["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if request.parallel_tool_calls is False and request.tools:
        choice = params.get("tool_choice") or {"type": "auto"}
        if choice.get("type") != "none":
            params["tool_choice"] = {**choice, "disable_parallel_tool_use": True}


_MIN_THINKING = 1024


def _output_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if fmt is None or fmt["type"] == "text":
        return None
    if fmt["type"] == "json_schema":
        return {"type": "json_schema", "schema": fmt["json_schema"]["schema"]}
    raise InvalidRequestError(
        "Anthropic has no JSON mode without a schema: give response_format={'type': "
        "'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}", param="response_format")


def convert_messages(messages: list[Message]) -> tuple[str | list[dict[str, Any]] | None,
                                                       list[dict[str, Any]]]:
    """(``system``, ``messages``): system text apart, consecutive same-role turns merged."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role = m.role
        content: str | list[dict[str, Any]]
        if role in ("system", "developer"):
            system.extend(_text_blocks(m.content))
            continue
        if role == "tool":
            api_role = "user"
            content = [_tool_result(m, i)]
        elif role == "user":
            api_role = "user"
            content = m.content if isinstance(m.content, str) else _user_blocks(m.content or [],
                                                                                 i)
        else:
            api_role = "assistant"
            content = _assistant_content(m, i)
        if out and out[-1]["role"] == api_role:
            # Anthropic wants one turn per role in alternation: parallel tool results and a
            # following user text share a user turn.
            out[-1]["content"] = _as_blocks(out[-1]["content"]) + _as_blocks(content)
        else:
            out.append({"role": api_role, "content": content})
    if not system:
        return None, out
    if len(system) == 1 and set(system[0]) == {"type", "text"}:
        return system[0]["text"], out
    return system, out


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _text_block(part: Mapping[str, Any]) -> dict[str, Any]:
    block = {"type": "text", "text": part["text"]}
    if "cache_control" in part:  # prompt-caching breakpoints set by the caller
        block["cache_control"] = part["cache_control"]
    return block


def _text_blocks(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [_text_block(p) for p in content if p.get("type") == "text"]


def _user_blocks(parts: list[dict[str, Any]], i: int) -> list[dict[str, Any]]:
    blocks = []
    for j, part in enumerate(parts):
        where = f"messages[{i}].content[{j}]"
        kind = part.get("type")
        if kind == "text":
            blocks.append(_text_block(part))
        elif kind == "image_url":
            blocks.append(_media_block(part["image_url"]["url"], part, where))
        elif kind == "file":
            blocks.append(_file_block(part["file"], part, where))
        else:
            raise InvalidRequestError(f"{where}: Anthropic does not accept {kind} parts",
                                      param=where)
    return blocks


def _media_block(url: str, part: Mapping[str, Any], where: str) -> dict[str, Any]:
    if url.startswith("data:"):
        head, sep, data = url[5:].partition(",")
        media_type, _, encoding = head.partition(";")
        if not sep or encoding != "base64" or not media_type:
            raise InvalidRequestError(
                f"{where}: a data URL must look like 'data:image/png;base64,<data>'", param=where)
        source: dict[str, Any] = {"type": "base64", "media_type": media_type, "data": data}
    else:
        source = {"type": "url", "url": url}
        media_type = ""
    kind = "document" if media_type == "application/pdf" else "image"
    block: dict[str, Any] = {"type": kind, "source": source}
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _file_block(file: Mapping[str, Any], part: Mapping[str, Any], where: str) -> dict[str, Any]:
    if file.get("file_id"):
        block: dict[str, Any] = {"type": "document",
                                 "source": {"type": "file", "file_id": file["file_id"]}}
    elif isinstance(file.get("file_data"), str):
        block = _media_block(file["file_data"], {}, where)
        if block["type"] != "document":
            block["type"] = "document"
    else:
        raise InvalidRequestError(f"{where}: a file part needs 'file_id' or 'file_data' "
                                  "('data:application/pdf;base64,...')", param=where)
    if file.get("filename"):
        block["title"] = file["filename"]
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _tool_result(m: Message, i: int) -> dict[str, Any]:
    content: str | list[dict[str, Any]]
    if isinstance(m.content, str) or m.content is None:
        content = m.content or ""
    else:
        content = _user_blocks(m.content, i)
    return {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": content}


def _assistant_content(m: Message, i: int) -> str | list[dict[str, Any]]:
    state = (m.provider_data or {}).get(PROVIDER_KEY) or {}
    thinking = state.get("thinking_blocks") or []
    if isinstance(m.content, str) and not thinking and not m.tool_calls:
        return m.content
    # Thinking blocks go first, unchanged: the API checks their signatures when a tool-use turn
    # continues.
    blocks: list[dict[str, Any]] = [dict(b) for b in thinking]
    blocks.extend(b for b in _text_blocks(m.content) if b["text"])
    for k, tc in enumerate(m.tool_calls):
        if tc.arguments is None:
            raise InvalidRequestError(
                f"messages[{i}].tool_calls[{k}].function.arguments is not a JSON object "
                f"({tc.parse_error}); Anthropic needs the tool input as an object",
                param=f"messages[{i}].tool_calls")
        blocks.append({"type": "tool_use", "id": tc.id, "name": tc.name, "input": tc.arguments})
    return blocks


def convert_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI-style function definition as an Anthropic tool."""
    fn = tool["function"]
    out: dict[str, Any] = {"name": fn["name"],
                           "input_schema": fn.get("parameters") or {"type": "object",
                                                                    "properties": {}}}
    if fn.get("description"):
        out["description"] = fn["description"]
    if fn.get("strict") is not None:
        out["strict"] = fn["strict"]
    if "cache_control" in tool:
        out["cache_control"] = tool["cache_control"]
    return out


def convert_tool_choice(choice: str | Mapping[str, Any]) -> dict[str, Any]:
    """auto → auto, none → none, required → any, a named function → tool."""
    if isinstance(choice, str):
        return {"type": {"required": "any"}.get(choice, choice)}
    return {"type": "tool", "name": choice["function"]["name"]}


# ---------------------------------------------------------------------------- response


def _wire(obj: Any) -> Any:
    """The wire JSON of an SDK object (the readers below take the JSON the API sent, which is
    what the provider parses; SDK objects are accepted for callers that hold one)."""
    # warnings off: a malformed answer the SDK built leniently is reported by the converter
    # boundary, not by pydantic warnings on the way.
    return obj if obj is None or type(obj) is dict else obj.to_dict(warnings=False)


def usage_from(u: Any) -> Usage:
    """Anthropic usage (JSON or the SDK's object) → ours: ``input_tokens`` excludes cache reads
    and writes, our ``prompt_tokens`` includes them (so cost counts each token once, at its own
    price)."""
    u = _wire(u)
    read = u.get("cache_read_input_tokens") or 0
    written = u.get("cache_creation_input_tokens") or 0
    prompt = (u.get("input_tokens") or 0) + read + written
    out = u.get("output_tokens") or 0
    details = u.get("output_tokens_details")
    return Usage(prompt_tokens=prompt, completion_tokens=out, total_tokens=prompt + out,
                 cached_tokens=read, cache_write_tokens=written,
                 reasoning_tokens=(details.get("thinking_tokens") or 0) if details else 0)


def chat_response(message: Any, *, provider: str, model: str = "",
                  raw: Any = None) -> ChatResponse:
    """A Messages API ``message`` (the JSON the API sent, or the SDK's ``Message``) as a
    :class:`ChatResponse`; ``raw`` (default: ``message``) is kept on it.

    An answer of another shape (no content list, no usage) is a :class:`ProviderResponseError`
    (``model`` names the request's).
    """
    data = _wire(message)
    if type(data) is not dict or not isinstance(data.get("content"), list) \
            or not isinstance(data.get("usage"), dict):
        raise ProviderResponseError("Anthropic's answer is not a Messages API message",
                                    provider=provider, model=model, retryable=True)
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[dict[str, Any]] = []
    for block in data["content"]:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            args = dict(block.get("input") or {})
            calls.append(ToolCall(id=block.get("id") or "", name=block.get("name") or "",
                                  arguments=args,
                                  arguments_raw=json.dumps(args, ensure_ascii=False)))
        elif kind == "thinking":
            text = block.get("thinking") or ""
            reasoning.append(text)
            thinking.append({"type": "thinking", "thinking": text,
                             "signature": block.get("signature")})
        elif kind == "redacted_thinking":
            thinking.append({"type": "redacted_thinking", "data": block.get("data")})
    return ChatResponse(
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=STOP_REASONS.get(data.get("stop_reason") or "end_turn", "stop"),
        usage=usage_from(data["usage"]),
        model=data.get("model") or "",
        provider=provider,
        id=data.get("id") or "",
        reasoning="".join(reasoning) or None,
        provider_data={PROVIDER_KEY: {"thinking_blocks": thinking}} if thinking else None,
        raw=message if raw is None else raw,
    )


class AnthropicStream(StreamState):
    """Stream events of the Messages API (the JSON of each SSE event, or the SDK's event
    objects) folded into :class:`ChatChunk` objects, one event at a time.

    Text, thinking and tool-argument deltas pass through as deltas; tool calls are numbered in
    order of appearance. The message id and model ride on the first chunk that carries content,
    so an in-band ``error`` event before any content still fails the attempt (and is retried).
    Usage is the ``message_start`` usage updated by the cumulative ``message_delta`` usage.
    ``message_stop`` closes the stream.
    """

    closing_event = "message_stop"
    what = "Messages API stream event"

    def __init__(self, *, provider: str, model: str, scrubber: Any = None) -> None:
        super().__init__(provider=provider, model=model, scrubber=scrubber)
        self._id: str | None = None
        self._model: str | None = None
        self._tools: dict[int, int] = {}
        """Content block index -> our tool-call index."""
        self._blocks: dict[int, dict[str, Any]] = {}
        """Content block index -> thinking or redacted thinking block, in stream order."""
        self._parts: dict[int, list[str]] = {}
        self._start: dict[str, Any] | None = None

    def fold(self, event: Any) -> ChatChunk | None:
        """The chunk for ``event``, or None when it carries nothing for the caller yet."""
        if type(event) is not dict:
            event = event.to_dict(warnings=False)
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            dk = delta.get("type")
            if dk == "text_delta":
                text = delta.get("text")
                if not text:
                    return None
                # The hot path: most events of a stream are text deltas.
                return ChatChunk(delta=text) if self._id is None else self._chunk(delta=text)
            index = event.get("index")
            if dk == "input_json_delta":
                # Server tool blocks (web search, ...) stream their input too: not our calls.
                n = self._tools.get(index)
                partial = delta.get("partial_json")
                if n is None or not partial:
                    return None
                return self._chunk(tool_calls=[ToolCallDelta(index=n, arguments=partial)])
            if dk == "thinking_delta":
                text = delta.get("thinking") or ""
                self._parts.setdefault(index, []).append(text)
                return self._chunk(reasoning=text) if text else None
            if dk == "signature_delta":
                block = self._blocks.get(index)
                if block is not None:
                    block["signature"] += delta.get("signature") or ""
            return None
        if kind == "content_block_start":
            return self._start_block(event.get("index"), event.get("content_block") or {})
        if kind == "content_block_stop":
            index = event.get("index")
            block = self._blocks.get(index)
            if block is None or block["type"] != "thinking":
                return None
            block["thinking"] += "".join(self._parts.pop(index, ()))
            # The whole list each time: provider_data is merged by key, the last one wins.
            return self._chunk(provider_data=self.provider_data())
        if kind == "message_start":
            message = event.get("message") or {}
            self._id, self._model = message.get("id"), message.get("model")
            self._start = message.get("usage")
            return None
        if kind == "message_delta":
            reason = (event.get("delta") or {}).get("stop_reason")
            return self._chunk(finish_reason=STOP_REASONS.get(reason or "end_turn", "stop"),
                               usage=self._usage(event.get("usage") or {}))
        if kind == "message_stop":
            self.done = True
        return None

    def _start_block(self, index: Any, block: dict[str, Any]) -> ChatChunk | None:
        kind = block.get("type")
        if kind == "tool_use":
            n = self._tools[index] = len(self._tools)
            return self._chunk(tool_calls=[ToolCallDelta(index=n, id=block.get("id"),
                                                         name=block.get("name"))])
        if kind == "text":
            text = block.get("text")
            return self._chunk(delta=text) if text else None
        if kind == "thinking":
            self._blocks[index] = {"type": "thinking", "thinking": "",
                                   "signature": block.get("signature") or ""}
            text = block.get("thinking")
            if text:
                self._parts[index] = [text]
                return self._chunk(reasoning=text)
            return None
        if kind == "redacted_thinking":
            self._blocks[index] = {"type": "redacted_thinking", "data": block.get("data")}
            return self._chunk(provider_data=self.provider_data())
        return None

    def provider_data(self) -> dict[str, Any]:
        return {PROVIDER_KEY: {"thinking_blocks": [dict(self._blocks[i])
                                                   for i in sorted(self._blocks)]}}

    def _usage(self, delta: dict[str, Any]) -> Usage:
        start = self._start or {}

        def pick(name: str) -> int:
            value = delta.get(name)
            if value is None:
                value = start.get(name)
            return value or 0

        read = pick("cache_read_input_tokens")
        written = pick("cache_creation_input_tokens")
        prompt = pick("input_tokens") + read + written
        out = pick("output_tokens")
        details = delta.get("output_tokens_details") or start.get("output_tokens_details")
        return Usage(prompt_tokens=prompt, completion_tokens=out, total_tokens=prompt + out,
                     cached_tokens=read, cache_write_tokens=written,
                     reasoning_tokens=(details.get("thinking_tokens") or 0) if details else 0)

    def _chunk(self, **fields: Any) -> ChatChunk:
        if self._id is not None:
            fields["id"], fields["model"] = self._id, self._model
            self._id = None
        return ChatChunk(**fields)
