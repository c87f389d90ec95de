"""Pure translation between cencori's normalized types and Mistral's chat, embeddings and
moderation APIs (no I/O; most tests land here).

Requests become the keyword arguments of the SDK calls, built as plain dicts in Mistral's wire
shape (the SDK validates them into its models). Responses are read from the SDK's pydantic models.

Mistral specifics handled here:

- Tool-call ids must be 9 ASCII letters or digits. Ids minted by another provider (after a
  fallback, or a conversation started elsewhere) are mapped to a stable 9-character id, the same
  for the assistant's call and the tool result that answers it.
- Tool results carry the function ``name``, looked up from the assistant call they answer.
- Only system, user, assistant and tool messages exist: ``developer`` is sent as ``system``;
  message ``name`` is not part of Mistral's schema (it refuses unknown fields) and is dropped.
- A function without ``parameters`` gets an empty object schema (Mistral requires one).
- Reasoning models (Magistral) answer content as chunks: ``thinking`` chunks become
  ``reasoning``, their ``signature`` is kept in ``provider_data["mistral"]`` and sent back with the
  reasoning on the next turn.
- Usage: ``prompt_tokens`` includes cache reads (``prompt_tokens_details.cached_tokens``, or the
  older top-level ``num_cached_tokens``).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Iterable
from typing import Any

from cencori_core.errors import InvalidRequestError, ProviderResponseError
from cencori_core.provider import StreamState, openai_logprobs, refuse
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "server_url",
    "tool_call_id",
    "messages_to_mistral",
    "tools_to_mistral",
    "chat_request",
    "chat_response",
    "usage_from",
    "finish_reason",
    "MistralStream",
    "embed_request",
    "embed_response",
    "moderation_inputs",
    "moderation_response",
]

_COMMON = ("reasoning_effort", "n", "logprobs", "top_logprobs", "parallel_tool_calls",
           "presence_penalty", "frequency_penalty")

_ID_RE = re.compile(r"^[A-Za-z0-9]{9}$")
_ALPHABET = string.ascii_letters + string.digits

_FINISH = {
    "stop": "stop",
    "length": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "error": "error",
}


def server_url(base_url: str | None) -> str | None:
    """The SDK's ``server_url`` from a configured base URL (the API root, no ``/v1``).

    The SDK appends ``/v1/...`` itself; a base URL written OpenAI-style with ``/v1`` would
    otherwise produce ``/v1/v1/...``, which never exists on Mistral's API.
    """
    if not base_url:
        return None
    url = base_url.rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    return url


# ---------------------------------------------------------------------------- requests


def tool_call_id(id: str) -> str:
    """A tool-call id Mistral accepts: the id itself when it is 9 letters/digits, else a stable
    9-character id derived from it."""
    if _ID_RE.match(id):
        return id
    n = int.from_bytes(hashlib.sha256(id.encode()).digest()[:8], "big")
    out = []
    for _ in range(9):
        n, r = divmod(n, len(_ALPHABET))
        out.append(_ALPHABET[r])
    return "".join(out)


def _part(p: dict[str, Any], where: str) -> dict[str, Any]:
    kind = p.get("type")
    if kind == "text":
        return {"type": "text", "text": p["text"]}
    if kind == "image_url":
        iu = p["image_url"]
        url = iu.get("url") if isinstance(iu, dict) else iu
        detail = iu.get("detail") if isinstance(iu, dict) else None
        return {"type": "image_url",
                "image_url": {"url": url, "detail": detail} if detail else url}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": p["input_audio"]["data"]}
    if kind == "file":
        file_id = (p.get("file") or {}).get("file_id")
        if file_id:
            return {"type": "file", "file_id": file_id}
        raise InvalidRequestError(
            f"{where}: Mistral takes files by id only: upload the file to Mistral and pass "
            "{'type': 'file', 'file': {'file_id': ...}}", param=where)
    raise InvalidRequestError(f"{where}: Mistral does not accept {kind!r} parts", param=where)


def _content(content: str | list[dict[str, Any]] | None, where: str) -> Any:
    if content is None or isinstance(content, str):
        return content
    return [_part(p, f"{where}[{j}]") for j, p in enumerate(content)]


def messages_to_mistral(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Our messages as Mistral chat messages."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool-call id → function name, for the tool results
    for i, m in enumerate(messages):
        where = f"messages[{i}].content"
        role = m.role
        if role in ("system", "developer"):
            out.append({"role": "system", "content": m.text})
        elif role == "user":
            out.append({"role": "user", "content": _content(m.content, where)})
        elif role == "assistant":
            out.append(_assistant(m, names))
        elif role == "tool":
            tcid = m.tool_call_id or ""
            msg: dict[str, Any] = {"role": "tool", "content": _content(m.content, where),
                                   "tool_call_id": tool_call_id(tcid)}
            name = m.name or names.get(tcid)
            if name:
                msg["name"] = name
            out.append(msg)
        else:  # the router validates roles; keep the provider honest anyway
            raise InvalidRequestError(f"messages[{i}]: role {role!r} is not supported by Mistral",
                                      param=f"messages[{i}].role")
    return out


def _assistant(m: Message, names: dict[str, str]) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant"}
    text = m.text if m.content is not None else None
    signature = ((m.provider_data or {}).get("mistral") or {}).get("thinking_signature")
    if m.reasoning and signature:
        # Mistral's own thinking from an earlier turn goes back with its signature.
        chunks: list[dict[str, Any]] = [{"type": "thinking",
                                         "thinking": [{"type": "text", "text": m.reasoning}],
                                         "signature": signature}]
        if text:
            chunks.append({"type": "text", "text": text})
        msg["content"] = chunks
    elif text is not None:
        msg["content"] = text
    if m.tool_calls:
        calls = []
        for tc in m.tool_calls:
            names[tc.id] = tc.name
            calls.append({"id": tool_call_id(tc.id), "type": "function",
                          "function": {"name": tc.name, "arguments": tc.arguments_raw or "{}"}})
        msg["tool_calls"] = calls
    return msg


def tools_to_mistral(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """OpenAI-style function definitions as Mistral tools."""
    if not tools:
        return None
    out = []
    for t in tools:
        fn = dict(t["function"])
        if fn.get("parameters") is None:
            fn["parameters"] = {"type": "object", "properties": {}}
        out.append({"type": "function", "function": fn})
    return out


def chat_request(request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``chat.complete``/``chat.stream`` (without provider_options)."""
    kw: dict[str, Any] = {"model": request.model,
                          "messages": messages_to_mistral(request.messages)}
    if request.temperature is not None:
        kw["temperature"] = request.temperature
    if request.max_tokens is not None:
        kw["max_tokens"] = request.max_tokens
    if request.top_p is not None:
        kw["top_p"] = request.top_p
    if request.stop:
        kw["stop"] = list(request.stop)
    if request.seed is not None:
        kw["random_seed"] = request.seed
    tools = tools_to_mistral(request.tools)
    if tools:
        kw["tools"] = tools
    if request.tool_choice is not None:
        kw["tool_choice"] = request.tool_choice
    if request.response_format is not None:
        kw["response_format"] = dict(request.response_format)
    # The common parameters (issue 17): Mistral's API takes each under the OpenAI name; a
    # stream is folded as one choice without log probabilities, so n and logprobs are refused
    if request.stream:
        refuse(request, _COMMON, "Mistral")
    for name in ("n", "logprobs", "top_logprobs", "parallel_tool_calls", "presence_penalty",
                 "frequency_penalty", "reasoning_effort"):
        value = getattr(request, name)
        if value is not None:
            kw[name] = value
    if request.reasoning_effort is not None and request.model.startswith("magistral"):
        kw["prompt_mode"] = "reasoning"  # Magistral's reasoning system prompt
    return kw


# ---------------------------------------------------------------------------- responses


def finish_reason(value: Any) -> str | None:
    """Mistral's finish reason as ours (``model_length`` is a length stop)."""
    if value is None:
        return None
    return _FINISH.get(str(value), "stop")


def _f(obj: Any, name: str) -> Any:
    """A field of an SDK model or of a JSON object: stream events are read either way (as the
    SDK's models on its public path, as JSON on the fast path, see ``_fast.py``)."""
    if isinstance(obj, dict):
        return obj.get(name)
    if obj is None or isinstance(obj, (str, bytes, int, float, list)):
        # A scalar or a list where an object belongs: a malformed answer, not "no field".
        raise TypeError(f"expected an object for {name!r}, got {type(obj).__name__}")
    return getattr(obj, name, None)


def usage_from(u: Any) -> Usage:
    """Mistral ``UsageInfo`` (an SDK model or JSON) as our Usage (``Usage(source="estimated")``
    when absent)."""
    if u is None:
        return Usage(source="estimated")
    # The SDK keeps fields it does not model in additional_properties; JSON has them inline.
    extra = u if isinstance(u, dict) else (_f(u, "additional_properties") or {})
    prompt = _f(u, "prompt_tokens") or 0
    completion = _f(u, "completion_tokens") or 0
    details = extra.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or extra.get("num_cached_tokens") or 0
    reasoning = (extra.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    audio = _f(u, "prompt_audio_seconds")
    audio = audio if isinstance(audio, (int, float)) else None
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=_f(u, "total_tokens") or prompt + completion,
                 cached_tokens=int(cached), reasoning_tokens=int(reasoning),
                 audio_seconds=float(audio) if audio is not None else None)


def _split(content: Any) -> tuple[str, str, str | None]:
    """(text, reasoning, thinking signature) of a message's content (a string or chunks)."""
    if content is None or isinstance(content, str):
        return content or "", "", None
    if not isinstance(content, list):  # UNSET
        return "", "", None
    text: list[str] = []
    reasoning: list[str] = []
    signature = None
    for chunk in content:
        kind = _f(chunk, "type")
        if kind == "text":
            text.append(_f(chunk, "text"))
        elif kind == "thinking":
            for t in _f(chunk, "thinking"):
                if _f(t, "type") == "text":
                    reasoning.append(_f(t, "text"))
            sig = _f(chunk, "signature")
            if isinstance(sig, str) and sig:
                signature = sig
        # references, citations and unknown chunks carry no text of the answer
    return "".join(text), "".join(reasoning), signature


def _arguments(value: Any) -> str:
    # Mistral may return the arguments as a JSON object instead of JSON text.
    return value if isinstance(value, str) else json.dumps(value)


def _call_id(value: Any) -> str | None:
    # The SDK fills a missing id with the string "null".
    return value if isinstance(value, str) and value and value != "null" else None


def chat_response(resp: Any, *, provider: str, model: str = "", raw: Any = None
                  ) -> ChatResponse:
    """A Mistral ``ChatCompletionResponse`` as our ChatResponse. ``model`` is the id we asked
    for (kept when Mistral does not echo one); ``raw`` defaults to ``resp``. Read inside the
    converter boundary: an answer of the wrong shape raises, and becomes
    ``ProviderResponseError``."""
    if not resp.choices:
        raise ProviderResponseError("Mistral answered without choices", provider=provider,
                                    model=getattr(resp, "model", "") or model, retryable=True)
    choice = resp.choices[0]
    text, reasoning, signature, calls = _message(choice.message)
    choices: tuple[Choice, ...] = ()
    logprobs = _logprobs(getattr(choice, "logprobs", None))
    if len(resp.choices) > 1 or logprobs is not None:  # n / logprobs (issue 17)
        choices = tuple(_choice(c, i) for i, c in enumerate(resp.choices))
    return ChatResponse(
        content=text if (text or not calls) else None,
        tool_calls=calls,
        choices=choices,
        logprobs=logprobs,
        finish_reason=finish_reason(choice.finish_reason) or ("tool_calls" if calls else "stop"),
        usage=usage_from(resp.usage),
        model=resp.model or model,
        provider=provider,
        id=resp.id or "",
        created=resp.created or 0,
        reasoning=reasoning or None,
        provider_data={"mistral": {"thinking_signature": signature}} if signature else None,
        raw=resp if raw is None else raw,
    )


def _message(msg: Any) -> tuple[str, str, Any, list[ToolCall]]:
    """(text, reasoning, thinking signature, tool calls) of a choice's message."""
    text, reasoning, signature = _split(getattr(msg, "content", None) if msg else None)
    calls = []
    raw_calls = getattr(msg, "tool_calls", None) if msg else None
    for k, tc in enumerate(raw_calls if isinstance(raw_calls, list) else ()):
        calls.append(ToolCall.from_raw(id=_call_id(tc.id) or f"call_{k}", name=tc.function.name,
                                       arguments_raw=_arguments(tc.function.arguments)))
    return text, reasoning, signature, calls


def _choice(choice: Any, i: int) -> Choice:
    text, _, _, calls = _message(choice.message)
    return Choice(index=getattr(choice, "index", i), content=text if (text or not calls) else None,
                  tool_calls=calls,
                  finish_reason=finish_reason(choice.finish_reason)
                  or ("tool_calls" if calls else "stop"),
                  logprobs=_logprobs(getattr(choice, "logprobs", None)))


def _logprobs(value: Any) -> list[dict[str, Any]] | None:
    if value is None or not hasattr(value, "model_dump"):
        return None
    return openai_logprobs(value.model_dump(by_alias=True))


class MistralStream(StreamState):
    """Folds Mistral stream chunks (``CompletionChunk``) into ChatChunks, giving each tool call a
    stable index.

    The closing event is the chunk carrying a ``finish_reason`` (with the usage; ``[DONE]``
    follows): a stream that ends without one was cut, and :meth:`end` raises
    ``StreamInterruptedError``. Mistral usually sends each tool call whole, with its own
    ``index``; when the index is missing (the SDK then reads 0), calls are told apart by their
    id so two calls in one event never merge.
    """

    closing_event = "a finish_reason"

    def __init__(self, *, provider: str, model: str, scrubber: Any = None) -> None:
        super().__init__(provider=provider, model=model, scrubber=scrubber)
        self._by_id: dict[str, int] = {}
        self._by_index: dict[int, int] = {}
        self._next = 0

    def _index(self, provider_index: int, id: str | None) -> int:
        if id is not None:
            idx = self._by_id.get(id)
            if idx is None:
                idx = self._by_id[id] = self._next
                self._next += 1
            self._by_index[provider_index] = idx
            return idx
        idx = self._by_index.get(provider_index)
        if idx is None:
            idx = self._by_index[provider_index] = self._next
            self._next += 1
        return idx

    def fold(self, event: Any) -> ChatChunk | None:
        """One ``CompletionChunk`` (an SDK model, a JSON object, or its text) as a ChatChunk
        (None when it carries nothing)."""
        if isinstance(event, (str, bytes)):
            event = self.decode(event)
        delta_text = reasoning = ""
        signature = None
        deltas: list[ToolCallDelta] = []
        finish = None
        choices = _f(event, "choices")
        if choices:
            choice = choices[0]
            delta = _f(choice, "delta")
            delta_text, reasoning, signature = _split(_f(delta, "content"))
            raw_calls = _f(delta, "tool_calls")
            if isinstance(raw_calls, list):
                for tc in raw_calls:
                    cid = _call_id(_f(tc, "id"))
                    fn = _f(tc, "function")
                    deltas.append(ToolCallDelta(
                        index=self._index(_f(tc, "index") or 0, cid), id=cid,
                        name=_f(fn, "name"), arguments=_arguments(_f(fn, "arguments") or "")))
            finish = finish_reason(_f(choice, "finish_reason"))
            if finish is not None:
                self.done = True
        raw_usage = _f(event, "usage")
        usage = usage_from(raw_usage) if raw_usage is not None else None
        if not (delta_text or reasoning or deltas or finish or usage or signature):
            return None
        return ChatChunk(
            delta=delta_text, reasoning=reasoning, tool_calls=deltas, finish_reason=finish,
            usage=usage, id=_f(event, "id") or None, model=_f(event, "model") or None,
            provider_data={"mistral": {"thinking_signature": signature}} if signature else None,
            raw=event,
        )


# ---------------------------------------------------------------------------- embeddings


def embed_request(request: EmbeddingRequest) -> dict[str, Any]:
    """Keyword arguments for ``embeddings.create``; ``dimensions`` is ``output_dimension``
    (codestral-embed). Mistral has no ``input_type``."""
    kw: dict[str, Any] = {"model": request.model, "inputs": list(request.input)}
    if request.dimensions is not None:
        kw["output_dimension"] = request.dimensions
    return kw


def embed_response(resp: Any, *, provider: str) -> EmbeddingResponse:
    """Mistral's ``EmbeddingResponse``: vectors in input order, usage when reported."""
    data = sorted(resp.data, key=lambda d: d.index or 0)
    vectors = [list(d.embedding or ()) for d in data]
    u = resp.usage
    prompt = (u.prompt_tokens or 0) if u is not None else 0
    usage = Usage(prompt_tokens=prompt, total_tokens=(u.total_tokens or prompt)) if u is not None \
        else Usage(source="estimated")
    return EmbeddingResponse(vectors=vectors, usage=usage, model=resp.model or "",
                             provider=provider, id=resp.id or "", raw=resp)


# ---------------------------------------------------------------------------- moderation


def moderation_inputs(request: ModerationRequest, *, chat: bool) -> Any:
    """The ``inputs`` of a moderation call: the texts, or (``chat``) one conversation whose
    turns alternate user and assistant, starting with the user."""
    if not chat:
        return list(request.input)
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": text}
            for i, text in enumerate(request.input)]


def moderation_response(resp: Any, *, provider: str) -> ModerationResponse:
    """Mistral's moderation answer, its category names kept; an input is flagged when any
    category is (Mistral sends no overall verdict)."""
    results = []
    for r in resp.results:
        categories = {str(k): bool(v) for k, v in (r.categories or {}).items()}
        scores = {str(k): float(v) for k, v in (r.category_scores or {}).items()}
        results.append(ModerationResult(flagged=any(categories.values()), categories=categories,
                                        scores=scores))
    return ModerationResponse(flagged=any(r.flagged for r in results), results=results,
                              usage=Usage(source="estimated"), model=resp.model or "",
                              provider=provider, id=resp.id or "", raw=resp)
