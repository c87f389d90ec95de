"""Translation between cencori types and the google-genai SDK (pure: no I/O, no SDK import).

Requests become the plain dicts the SDK validates itself (snake_case field names, bytes for
binary data). Chat responses and stream events are read from the API's JSON (dicts with the wire's
camelCase keys, base64 text for binary data), which is what the provider hands over; the SDK's
pydantic objects are still accepted (read by attribute: the continuation path, images,
embeddings and tests), so this module never imports the SDK and its tests need no network.

Conventions of the Gemini API that shape this module:

- roles are ``user`` and ``model``; system (and developer) messages become ``system_instruction``
  wherever they appear; tool results are ``function_response`` parts of a ``user`` turn and need
  the function's name, found through the ``tool_call_id`` of the assistant's earlier call;
- Gemini may return function calls without ids: we make one up (``SYNTHETIC_ID_PREFIX``) so
  OpenAI-style conversations work, and never send a made-up id back;
- thought signatures (``thought_signature`` bytes on a part) must go back on the same part in the
  next turn or Gemini 3 rejects the conversation: a function call's signature is kept on its
  :class:`ToolCall` / :class:`ToolCallDelta` (``provider_data["google"]["thought_signature"]``,
  base64 text so messages stay JSON-safe), a text part's on the message's ``provider_data``;
- refusals: Gemini has no refusal text. A blocked prompt (``promptFeedback.blockReason``) is a
  :class:`ContentFilterError`; an answer stopped by a safety-like finish reason (``SAFETY``,
  ``RECITATION``, ``PROHIBITED_CONTENT``, ...) is ``finish_reason="content_filter"`` with
  ``refusal`` None and whatever text came before it in ``content``, as the toolkit defines for
  providers that signal a refusal only by a stop reason.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import uuid
from collections.abc import Iterable
from dataclasses import replace
from math import ceil, log
from typing import Any

from cencori_core.errors import ContentFilterError, InvalidRequestError, ProviderResponseError
from cencori_core.provider import StreamState, refuse
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    EmbeddingResponse,
    GeneratedImage,
    ImageRequest,
    ImageResponse,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "PROVIDER_KEY", "SYNTHETIC_ID_PREFIX", "FINISH_REASONS", "ASPECT_RATIOS", "TASK_TYPES",
    "chat_request", "contents_from", "chat_response", "check_prompt_feedback", "finish_reason",
    "GeminiStream", "usage_from", "timeout_ms", "embed_request", "embed_response", "task_type",
    "aspect_ratio", "image_request", "image_response", "imagen_request", "imagen_response",
]

PROVIDER_KEY = "google"
"""Our key inside ``provider_data`` (other providers' keys are left alone)."""

SYNTHETIC_ID_PREFIX = "gemini-call-"
"""Prefix of the ids we give function calls that Gemini returned without one."""

_CONTENT_FILTER = "content_filter"
_ERROR = "error"

# Gemini finish reasons -> ours. STOP with function calls becomes "tool_calls" (Gemini says STOP).
FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MAX_TOKENS": "length",
    # Cut at the per-request limit, resumable with the continuation token: seen on streams, whose
    # automatic continuation is off (the SDK completes non-streamed answers itself).
    "CONTINUATION": "length",
    "SAFETY": _CONTENT_FILTER,
    "RECITATION": _CONTENT_FILTER,
    "LANGUAGE": _CONTENT_FILTER,
    "BLOCKLIST": _CONTENT_FILTER,
    "PROHIBITED_CONTENT": _CONTENT_FILTER,
    "SPII": _CONTENT_FILTER,
    "IMAGE_SAFETY": _CONTENT_FILTER,
    "IMAGE_PROHIBITED_CONTENT": _CONTENT_FILTER,
    "IMAGE_RECITATION": _CONTENT_FILTER,
    "MODEL_ARMOR": _CONTENT_FILTER,
    "ESCALATION": _CONTENT_FILTER,
    "PUP_LIMITED_DISABLED": _CONTENT_FILTER,
    "OTHER": _ERROR,
    "IMAGE_OTHER": _ERROR,
    "NO_IMAGE": _ERROR,
    "MALFORMED_FUNCTION_CALL": _ERROR,
    "UNEXPECTED_TOOL_CALL": _ERROR,
    "TOO_MANY_TOOL_CALLS": _ERROR,
    "MISSING_THOUGHT_SIGNATURE": _ERROR,
    "MALFORMED_RESPONSE": _ERROR,
}

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}

# OpenAI-, Cohere- and Voyage-style input types -> Gemini task types (Gemini's own names pass).
TASK_TYPES: dict[str, str] = {
    "query": "RETRIEVAL_QUERY",
    "search_query": "RETRIEVAL_QUERY",
    "retrieval_query": "RETRIEVAL_QUERY",
    "document": "RETRIEVAL_DOCUMENT",
    "search_document": "RETRIEVAL_DOCUMENT",
    "retrieval_document": "RETRIEVAL_DOCUMENT",
    "passage": "RETRIEVAL_DOCUMENT",
    "classification": "CLASSIFICATION",
    "clustering": "CLUSTERING",
    "similarity": "SEMANTIC_SIMILARITY",
    "semantic_similarity": "SEMANTIC_SIMILARITY",
    "question_answering": "QUESTION_ANSWERING",
    "fact_verification": "FACT_VERIFICATION",
    "code_retrieval_query": "CODE_RETRIEVAL_QUERY",
}
_GEMINI_TASK_TYPES = frozenset(TASK_TYPES.values())

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
"""Aspect ratios the Gemini and Imagen image models accept (``size`` is mapped to one)."""
_RATIOS = tuple((r, int(r.split(":")[0]) / int(r.split(":")[1])) for r in ASPECT_RATIOS)
_RATIO_TOLERANCE = log(1.05)


# ---------------------------------------------------------------------------- small helpers


def timeout_ms(seconds: float | None) -> int | None:
    """The SDK's timeout unit (whole milliseconds, at least 1)."""
    if seconds is None:
        return None
    return max(1, ceil(seconds * 1000))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _signature_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raise InvalidRequestError(
            "provider_data['google']['thought_signature'] must be the base64 text the Gemini "
            "response carried", param="messages") from None


def _our_data(provider_data: dict[str, Any] | None) -> dict[str, Any]:
    if not provider_data:
        return {}
    mine = provider_data.get(PROVIDER_KEY)
    return mine if isinstance(mine, dict) else {}


def _signature_data(signature: bytes | None) -> dict[str, Any] | None:
    return {PROVIDER_KEY: {"thought_signature": _b64(signature)}} if signature else None


def _new_call_id() -> str:
    return SYNTHETIC_ID_PREFIX + uuid.uuid4().hex[:16]


def _data_url(url: str, where: str) -> tuple[str, bytes]:
    """(mime type, bytes) of a ``data:<mime>;base64,<data>`` URL."""
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise InvalidRequestError(f"{where}: a data URL must look like "
                                  "'data:image/png;base64,<data>'", param="messages")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise InvalidRequestError(f"{where}: the data URL is not valid base64",
                                  param="messages") from None
    return head[5:-7] or "application/octet-stream", raw


def _url_part(url: str, default_mime: str, where: str) -> dict[str, Any]:
    if url.startswith("data:"):
        mime, raw = _data_url(url, where)
        return {"inline_data": {"mime_type": mime, "data": raw}}
    # Files API URIs, gs:// and public URLs are fetched by Google, not by us.
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
    return {"file_data": {"file_uri": url, "mime_type": mime}}


# ---------------------------------------------------------------------------- chat: request


def _user_parts(content: str | list[dict[str, Any]] | None, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for j, p in enumerate(content):
        w = f"{where}.content[{j}]"
        kind = p.get("type")
        if kind == "text":
            parts.append({"text": p["text"]})
        elif kind == "image_url":
            iu = p["image_url"]
            parts.append(_url_part(iu["url"] if isinstance(iu, dict) else iu, "image/jpeg", w))
        elif kind == "input_audio":
            audio = p["input_audio"]
            try:
                raw = base64.b64decode(audio["data"], validate=True)
            except ValueError:
                raise InvalidRequestError(f"{w}: input_audio.data is not valid base64",
                                          param="messages") from None
            parts.append({"inline_data": {"mime_type": f"audio/{audio['format']}", "data": raw}})
        elif kind == "file":
            f = p["file"]
            if isinstance(f.get("file_data"), str):
                parts.append(_url_part(f["file_data"], "application/pdf", w))
            elif isinstance(f.get("file_id"), str):
                parts.append({"file_data": {"file_uri": f["file_id"],
                                            "mime_type": f.get("mime_type") or
                                            "application/pdf"}})
            else:
                raise InvalidRequestError(f"{w}: a file part needs 'file_data' (a data URL) or "
                                          "'file_id' (a Files API URI)", param="messages")
    return parts


def _call_args(tc: ToolCall, where: str) -> dict[str, Any]:
    if tc.arguments is not None:
        return tc.arguments
    raise InvalidRequestError(
        f"{where}: tool call {tc.id!r} has arguments that are not a JSON object "
        f"({tc.parse_error}); Gemini needs an object", param="messages")


def _model_parts(m: Message, where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = m.text
    sig = _signature_bytes(_our_data(m.provider_data).get("thought_signature"))
    if text or sig:
        part: dict[str, Any] = {"text": text}
        if sig:
            part["thought_signature"] = sig
        parts.append(part)
    for tc in m.tool_calls:
        call: dict[str, Any] = {"name": tc.name, "args": _call_args(tc, where)}
        if not tc.id.startswith(SYNTHETIC_ID_PREFIX):
            call["id"] = tc.id
        part = {"function_call": call}
        tsig = _signature_bytes(_our_data(tc.provider_data).get("thought_signature"))
        if tsig:
            part["thought_signature"] = tsig
        parts.append(part)
    return parts


def _tool_result(m: Message, name: str) -> dict[str, Any]:
    text = m.text
    response: Any = None
    if text.lstrip().startswith("{"):
        try:
            response = json.loads(text)
        except ValueError:
            response = None
    if not isinstance(response, dict):
        # Gemini wants an object; "output" is the key its documentation names for results.
        response = {"output": text}
    fr: dict[str, Any] = {"name": name, "response": response}
    if m.tool_call_id and not m.tool_call_id.startswith(SYNTHETIC_ID_PREFIX):
        fr["id"] = m.tool_call_id
    return {"function_response": fr}


def contents_from(messages: Iterable[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(contents, system parts). Adjacent turns of one role are merged, as Gemini expects
    parallel function responses in one turn."""
    contents: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.role
        if role in ("system", "developer"):
            if m.text:
                system.append({"text": m.text})
            continue
        if role == "assistant":
            g_role = "model"
            parts = _model_parts(m, where)
            for tc in m.tool_calls:
                names[tc.id] = tc.name
        elif role == "tool":
            g_role = "user"
            name = names.get(m.tool_call_id or "") or m.name
            if not name:
                raise InvalidRequestError(
                    f"{where}.tool_call_id {m.tool_call_id!r} answers no earlier assistant tool "
                    "call; Gemini needs the function's name", param=f"{where}.tool_call_id")
            parts = [_tool_result(m, name)]
        else:
            g_role = "user"
            parts = _user_parts(m.content, where)
        if not parts:
            continue
        if contents and contents[-1]["role"] == g_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": g_role, "parts": parts})
    return contents, system


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    decls = []
    for t in tools:
        fn = t["function"]
        d: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            d["description"] = fn["description"]
        if fn.get("parameters") is not None:
            # The JSON Schema as given (Gemini's OpenAPI subset would reject much of it).
            d["parameters_json_schema"] = fn["parameters"]
        decls.append(d)
    return [{"function_declarations": decls}]


def _tool_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, str):
        return {"function_calling_config": {"mode": _TOOL_MODES[choice]}}
    return {"function_calling_config": {"mode": "ANY",
                                        "allowed_function_names": [choice["function"]["name"]]}}


# Thinking budgets for Gemini 2.5 (Flash-Lite needs at least 512, Flash allows at most 24,576).
_BUDGETS = {"minimal": 512, "low": 2048, "medium": 8192, "high": 24_576}


def _common(request: ChatRequest, config: dict[str, Any]) -> None:
    """The common parameters (issue 17) into the generation config: n as candidate_count,
    logprobs as response_logprobs (+ logprobs for the top ones), reasoning_effort as
    thinking_level (Gemini 3) or thinking_budget (2.5), the penalties as they are.
    parallel_tool_calls=False has no Gemini counterpart and is refused."""
    served = ["reasoning_effort", "n", "logprobs", "top_logprobs", "presence_penalty",
              "frequency_penalty"]
    if request.parallel_tool_calls:  # True is Gemini's behaviour already
        served.append("parallel_tool_calls")
    refuse(request, served, "Gemini",
           {"parallel_tool_calls": "Gemini may always call several functions at once"})
    if request.n is not None:
        config["candidate_count"] = request.n
    if request.logprobs:
        config["response_logprobs"] = True
        if request.top_logprobs is not None:
            config["logprobs"] = request.top_logprobs
    for name in ("presence_penalty", "frequency_penalty"):
        value = getattr(request, name)
        if value is not None:
            config[name] = value
    effort = request.reasoning_effort
    if effort is not None:
        if request.model.startswith("gemini-3"):
            level = effort
            if "pro" in request.model:  # Gemini 3 Pro knows low and high only
                level = "low" if effort in ("minimal", "low") else "high"
            config["thinking_config"] = {"thinking_level": level.upper()}
        else:
            config["thinking_config"] = {"thinking_budget": _BUDGETS[effort]}


def chat_request(request: ChatRequest) -> tuple[str | list[dict[str, Any]], dict[str, Any]]:
    """(contents, config) for ``generate_content`` / ``generate_content_stream``; the config is
    empty when the request sets nothing, and a single user text is passed as a plain string (the
    SDK validates dicts model by model, which costs a tenth of the call; a string is the same
    request on the wire).

    ``provider_options`` go into the config as given (``thinking_config``, ``safety_settings``,
    ``top_k``, ...); a ``tools`` list there (``google_search``, ``code_execution``) is added to
    the function tools rather than replacing them.
    """
    contents, system = contents_from(request.messages)
    if not contents:
        raise InvalidRequestError("messages need at least one user, assistant or tool message "
                                  "besides system messages", param="messages")
    # Empty when nothing needs configuring: any config costs the SDK about as much again as the
    # rest of the call (its converters walk every field of the config model), so the provider
    # then passes none.
    config: dict[str, Any] = {}
    if system:
        config["system_instruction"] = {"parts": system}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["top_p"] = request.top_p
    if request.max_tokens is not None:
        config["max_output_tokens"] = request.max_tokens
    if request.stop:
        config["stop_sequences"] = list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed
    if request.tools:
        config["tools"] = _tools(request.tools)
        # We execute no Python callables: keep the SDK's function-calling loop out entirely
        # (with mixed tools it would otherwise log that it disabled itself).
        config["automatic_function_calling"] = {"disable": True}
        if request.tool_choice is not None:
            config["tool_config"] = _tool_config(request.tool_choice)
    if request.reasoning_effort is not None or request.n is not None \
            or request.logprobs is not None or request.parallel_tool_calls is not None \
            or request.presence_penalty is not None or request.frequency_penalty is not None:
        _common(request, config)
    rf = request.response_format
    if rf and rf["type"] != "text":
        config["response_mime_type"] = "application/json"
        if rf["type"] == "json_schema":
            config["response_json_schema"] = rf["json_schema"]["schema"]
    opts = request.provider_options
    if opts:
        extra = dict(opts)
        more_tools = extra.pop("tools", None)
        if more_tools:
            config["tools"] = [*config.get("tools", ()), *more_tools]
        config.update(extra)
    ms = timeout_ms(request.timeout)
    if ms is not None:
        config["http_options"] = {"timeout": ms}
    if len(contents) == 1:
        parts = contents[0]["parts"]
        if len(parts) == 1 and contents[0]["role"] == "user" and parts[0].keys() == {"text"}:
            return parts[0]["text"], config
    return contents, config


# ---------------------------------------------------------------------------- chat: response


def usage_from(md: Any) -> Usage:
    """Our usage from ``usage_metadata``. ``prompt_token_count`` already includes the cached
    tokens; thoughts are billed as output, so they join the candidates' tokens; tokens of
    server-side tool results (``tool_use_prompt_token_count``) are billed as input."""
    if md is None:
        return Usage(source="estimated")
    if isinstance(md, dict):
        return _usage_json(md)
    prompt = (md.prompt_token_count or 0) + (md.tool_use_prompt_token_count or 0)
    thoughts = md.thoughts_token_count or 0
    completion = (md.candidates_token_count or 0) + thoughts
    total = md.total_token_count
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=total if total else prompt + completion,
                 cached_tokens=md.cached_content_token_count or 0, reasoning_tokens=thoughts)


def _usage_json(md: dict[str, Any]) -> Usage:
    """:func:`usage_from` for the API's JSON ``usageMetadata`` (camelCase keys)."""
    prompt = md.get("promptTokenCount", 0) + md.get("toolUsePromptTokenCount", 0)
    thoughts = md.get("thoughtsTokenCount", 0)
    completion = md.get("candidatesTokenCount", 0) + thoughts
    total = md.get("totalTokenCount")
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=total if total else prompt + completion,
                 cached_tokens=md.get("cachedContentTokenCount", 0), reasoning_tokens=thoughts)


def _json_signature(value: str | None) -> dict[str, Any] | None:
    """Our ``provider_data`` for a JSON ``thoughtSignature`` (base64 on the wire, possibly the
    URL-safe alphabet): normalised to the standard alphabet the SDK path gives."""
    if not value:
        return None
    if "-" in value or "_" in value:
        value = value.translate(_URLSAFE)
    return {PROVIDER_KEY: {"thought_signature": value}}


_URLSAFE = str.maketrans("-_", "+/")


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", None) or str(value)


def finish_reason(value: Any, has_calls: bool) -> str:
    """Our finish reason for a Gemini one (unknown reasons count as ``stop``)."""
    mapped = FINISH_REASONS.get(_enum_name(value) or "STOP", "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def check_prompt_feedback(resp: Any, *, provider: str, model: str) -> None:
    """A prompt Gemini blocked is a :class:`ContentFilterError`, not an empty answer."""
    if isinstance(resp, dict):
        jfb = resp.get("promptFeedback")
        jreason = jfb.get("blockReason") if jfb else None
        if jreason and jreason != "BLOCKED_REASON_UNSPECIFIED":
            msg = jfb.get("blockReasonMessage") if jfb else None
            detail = f": {msg}" if msg else ""
            raise ContentFilterError(f"Gemini blocked the prompt ({jreason}){detail}",
                                     provider=provider, model=model, status_code=200,
                                     code=jreason)
        return
    fb = resp.prompt_feedback
    reason = _enum_name(fb.block_reason) if fb is not None else None
    if reason and reason != "BLOCKED_REASON_UNSPECIFIED":
        detail = f": {fb.block_reason_message}" if fb.block_reason_message else ""
        raise ContentFilterError(f"Gemini blocked the prompt ({reason}){detail}",
                                 provider=provider, model=model, status_code=200, code=reason)


def _empty_candidate(provider: str, model: str) -> ProviderResponseError:
    # A final answer always says why it finished: a candidate with neither content nor a
    # finish reason is not one (the SDK makes such a candidate of JSON it cannot read).
    return ProviderResponseError("Gemini returned a candidate without content or finish reason",
                                 provider=provider, model=model, retryable=True)


def chat_response(resp: Any, *, model: str, provider: str, raw: Any = None) -> ChatResponse:
    """A non-streamed ``GenerateContentResponse`` as our :class:`ChatResponse`: the SDK object
    or the API's JSON (a dict; ``raw`` is then what the response keeps as ``raw``)."""
    if isinstance(resp, dict):
        return _chat_response_json(resp, model=model, provider=provider, raw=raw)
    check_prompt_feedback(resp, provider=provider, model=model)
    cands = resp.candidates
    if not cands:
        raise ProviderResponseError("Gemini returned no candidate", provider=provider,
                                    model=model, retryable=True)
    if len(cands) > 1 or cands[0].logprobs_result is not None:
        # n / logprobs (issue 17): read from the answer's JSON form, written once
        return _chat_response_json(resp.model_dump(mode="json", by_alias=True,
                                                   exclude_none=True),
                                   model=model, provider=provider, raw=resp)
    cand = cands[0]
    if cand.content is None and cand.finish_reason is None:
        raise _empty_candidate(provider, model)
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    signature: bytes | None = None
    content = cand.content
    for part in (content.parts or ()) if content is not None else ():
        fc = part.function_call
        if fc is not None:
            args = fc.args or {}
            calls.append(ToolCall(id=fc.id or _new_call_id(), name=fc.name or "",
                                  arguments_raw=json.dumps(args, ensure_ascii=False),
                                  arguments=args,
                                  provider_data=_signature_data(part.thought_signature)))
            continue
        if part.text is not None:
            (reasoning if part.thought else text).append(part.text)
        if part.thought_signature and not part.thought:
            signature = part.thought_signature
    return ChatResponse(
        content="".join(text) if text or not calls else None,
        tool_calls=calls,
        finish_reason=finish_reason(cand.finish_reason, bool(calls)),
        usage=usage_from(resp.usage_metadata),
        model=model,
        provider=provider,
        id=resp.response_id or "",
        reasoning="".join(reasoning) or None,
        provider_data=_signature_data(signature),
        raw=resp,
    )


def _chat_response_json(resp: dict[str, Any], *, model: str, provider: str,
                        raw: Any) -> ChatResponse:
    check_prompt_feedback(resp, provider=provider, model=model)
    cands = resp.get("candidates")
    if not cands:
        raise ProviderResponseError("Gemini returned no candidate", provider=provider,
                                    model=model, retryable=True)
    cand = cands[0]
    if cand.get("content") is None and cand.get("finishReason") is None:
        raise _empty_candidate(provider, model)
    content, calls, finish, reasoning, signature = _json_candidate(cand)
    choices: tuple[Choice, ...] = ()
    logprobs = _logprobs(cand.get("logprobsResult"))
    if len(cands) > 1 or logprobs is not None:
        # asked with n (candidateCount) or logprobs (issue 17)
        choices = tuple(_json_choice(c, i) for i, c in enumerate(cands))
    return ChatResponse(
        content=content,
        tool_calls=calls,
        finish_reason=finish,
        usage=usage_from(resp.get("usageMetadata")),
        model=model,
        provider=provider,
        id=resp.get("responseId") or "",
        reasoning=reasoning,
        provider_data=_json_signature(signature),
        choices=choices,
        logprobs=logprobs,
        raw=resp if raw is None else raw,
    )


def _json_candidate(cand: dict[str, Any]) -> tuple[str | None, list[ToolCall], str,
                                                    str | None, str | None]:
    """(content, tool calls, finish reason, reasoning, thought signature) of a candidate."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    signature: str | None = None
    content = cand.get("content")
    for part in (content.get("parts") or ()) if content else ():
        fc = part.get("functionCall")
        if fc is not None:
            args = fc.get("args") or {}
            calls.append(ToolCall(id=fc.get("id") or _new_call_id(), name=fc.get("name") or "",
                                  arguments_raw=json.dumps(args, ensure_ascii=False),
                                  arguments=args,
                                  provider_data=_json_signature(part.get("thoughtSignature"))))
            continue
        thought = part.get("thought")
        t = part.get("text")
        if t is not None:
            (reasoning if thought else text).append(t)
        sig = part.get("thoughtSignature")
        if sig and not thought:
            signature = sig
    return ("".join(text) if text or not calls else None, calls,
            finish_reason(cand.get("finishReason"), bool(calls)), "".join(reasoning) or None,
            signature)


def _json_choice(cand: dict[str, Any], i: int) -> Choice:
    content, calls, finish, _, _ = _json_candidate(cand)
    return Choice(index=cand.get("index", i), content=content, tool_calls=calls,
                  finish_reason=finish, logprobs=_logprobs(cand.get("logprobsResult")))


def _logprobs(result: Any) -> list[dict[str, Any]] | None:
    """Gemini's ``logprobsResult`` in the normalized (OpenAI) shape: chosen candidates with the
    top candidates of the same step."""
    if not result:
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    out = []
    for j, c in enumerate(chosen):
        alts = tops[j].get("candidates") or [] if j < len(tops) else []
        out.append({"token": c.get("token", ""), "logprob": c.get("logProbability", 0.0),
                    "bytes": None,
                    "top_logprobs": [{"token": a.get("token", ""),
                                      "logprob": a.get("logProbability", 0.0), "bytes": None}
                                     for a in alts]})
    return out


class GeminiStream(StreamState):
    """Folds streamed ``GenerateContentResponse`` events into our chunks.

    An event is the API's JSON (a dict, or its text, which is decoded here so that a malformed
    event is a :class:`ProviderResponseError`) or the SDK's object. Gemini streams text as
    deltas and function calls whole; every event repeats the running ``usage_metadata``, so
    usage is reported once, on the finishing chunk (or after it). A candidate's
    ``finishReason`` closes the stream: a stream that ends without one was cut.
    """

    closing_event = "a finishReason"
    what = "streamGenerateContent event"

    def __init__(self, *, provider: str, model: str, scrubber: Any = None) -> None:
        super().__init__(provider=provider, model=model, scrubber=scrubber)
        self.calls = 0
        self.usage: Any = None
        self.usage_sent = False
        self.id: str | None = None

    def fold(self, resp: Any) -> ChatChunk | None:
        """Our chunk for one event (None when it carries nothing for the caller)."""
        if type(resp) is str:
            resp = self.decode(resp) if resp else {}
        if type(resp) is dict:
            return self._chunk_json(resp, resp)
        if resp.usage_metadata is not None:
            self.usage = resp.usage_metadata
        rid = None
        if self.id is None and resp.response_id:
            rid = self.id = resp.response_id
        cands = resp.candidates
        if not cands:
            check_prompt_feedback(resp, provider=self.provider, model=self.model)
            return ChatChunk(id=rid) if rid else None
        cand = cands[0]
        content = cand.content
        if content is None and cand.finish_reason is None:
            # Nothing for the caller (the SDK makes such a candidate of JSON it cannot read).
            return ChatChunk(id=rid) if rid else None
        parts: list[Any] = (content.parts or []) if content is not None else []
        if len(parts) == 1 and cand.finish_reason is None:
            # The common chunk, one plain text delta, on a short path (it is per chunk).
            part = parts[0]
            if (part.function_call is None and not part.thought
                    and part.thought_signature is None):
                return ChatChunk(delta=part.text or "", id=rid, raw=resp)
        text: list[str] = []
        reasoning: list[str] = []
        deltas: list[ToolCallDelta] = []
        signature: bytes | None = None
        for part in parts:
            fc = part.function_call
            if fc is not None:
                args = fc.args or {}
                deltas.append(ToolCallDelta(
                    index=self.calls, id=fc.id or _new_call_id(), name=fc.name or "",
                    arguments=json.dumps(args, ensure_ascii=False),
                    provider_data=_signature_data(part.thought_signature)))
                self.calls += 1
                continue
            if part.text:
                (reasoning if part.thought else text).append(part.text)
            if part.thought_signature and not part.thought:
                signature = part.thought_signature
        finish = None
        usage = None
        if cand.finish_reason is not None:
            finish = finish_reason(cand.finish_reason, self.calls > 0)
            usage = self._usage()
            self.done = True
        return ChatChunk(delta="".join(text), reasoning="".join(reasoning), tool_calls=deltas,
                         finish_reason=finish, usage=usage, id=rid,
                         provider_data=_signature_data(signature), raw=resp)

    def _chunk_json(self, resp: dict[str, Any], raw: Any) -> ChatChunk | None:
        """:meth:`chunk` for one event of the API's SSE stream (JSON, camelCase keys)."""
        md = resp.get("usageMetadata")
        if md is not None:
            self.usage = md
        rid = None
        if self.id is None:
            r = resp.get("responseId")
            if r:
                rid = self.id = r
        cands = resp.get("candidates")
        if not cands:
            check_prompt_feedback(resp, provider=self.provider, model=self.model)
            return ChatChunk(id=rid) if rid else None
        cand = cands[0]
        content = cand.get("content")
        fin = cand.get("finishReason")
        if content is None and fin is None:
            return ChatChunk(id=rid) if rid else None
        parts: list[Any] = (content.get("parts") or []) if content else []
        if len(parts) == 1 and fin is None:
            # The common chunk, one plain text delta, on a short path (it is per chunk).
            part = parts[0]
            if part.keys() == {"text"}:
                return ChatChunk(delta=part["text"], id=rid, raw=raw)
        text: list[str] = []
        reasoning: list[str] = []
        deltas: list[ToolCallDelta] = []
        signature: str | None = None
        for part in parts:
            fc = part.get("functionCall")
            if fc is not None:
                args = fc.get("args") or {}
                deltas.append(ToolCallDelta(
                    index=self.calls, id=fc.get("id") or _new_call_id(),
                    name=fc.get("name") or "", arguments=json.dumps(args, ensure_ascii=False),
                    provider_data=_json_signature(part.get("thoughtSignature"))))
                self.calls += 1
                continue
            thought = part.get("thought")
            t = part.get("text")
            if t:
                (reasoning if thought else text).append(t)
            sig = part.get("thoughtSignature")
            if sig and not thought:
                signature = sig
        finish = None
        usage = None
        if fin is not None:
            finish = finish_reason(fin, self.calls > 0)
            usage = self._usage()
            self.done = True
        return ChatChunk(delta="".join(text), reasoning="".join(reasoning), tool_calls=deltas,
                         finish_reason=finish, usage=usage, id=rid,
                         provider_data=_json_signature(signature), raw=raw)

    def _usage(self) -> Usage | None:
        if self.usage is None:
            return None
        self.usage_sent = True
        return usage_from(self.usage)

    def finish(self) -> ChatChunk | None:
        """The last chunk after the stream ended: usage not yet reported, if any."""
        if self.usage_sent or self.usage is None:
            return None
        return ChatChunk(usage=self._usage())


# ---------------------------------------------------------------------------- embeddings


def embed_request(request: EmbeddingRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(contents, config) for ``embed_content``: one content per input, so each input gets its
    own vector (a list of plain strings is merged into one content for multimodal models)."""
    contents = [{"parts": [{"text": t}]} for t in request.input]
    config: dict[str, Any] = {}
    if request.dimensions is not None:
        config["output_dimensionality"] = request.dimensions
    if request.input_type is not None:
        config["task_type"] = task_type(request.input_type)
    if request.provider_options:
        config.update(request.provider_options)
    ms = timeout_ms(request.timeout)
    if ms is not None:
        config["http_options"] = {"timeout": ms}
    return contents, config


def task_type(input_type: str) -> str:
    """Gemini's task type for an ``input_type`` (Gemini's own names are accepted too)."""
    if input_type.upper() in _GEMINI_TASK_TYPES:
        return input_type.upper()
    found = TASK_TYPES.get(input_type.lower())
    if found is None:
        known = sorted(set(TASK_TYPES) | {t.lower() for t in _GEMINI_TASK_TYPES})
        raise InvalidRequestError(f"input_type {input_type!r} is not one Gemini knows; use one "
                                  f"of {', '.join(known)}", param="input_type")
    return found


def embed_response(resp: Any, *, model: str, provider: str, count: int) -> EmbeddingResponse:
    embeddings = resp.embeddings or []
    if len(embeddings) != count:
        raise ProviderResponseError(f"Gemini returned {len(embeddings)} embeddings for {count} "
                                    "inputs", provider=provider, model=model)
    vectors = [list(e.values or ()) for e in embeddings]
    md = getattr(resp, "usage_metadata", None)
    tokens = md.prompt_token_count if md is not None else None
    if tokens is None:
        # Vertex AI reports a token count per embedding instead.
        stats = [e.statistics.token_count for e in embeddings
                 if e.statistics is not None and e.statistics.token_count is not None]
        tokens = int(sum(stats)) if len(stats) == count else None
    usage = (Usage(prompt_tokens=tokens, total_tokens=tokens) if tokens is not None
             else Usage(source="estimated"))
    return EmbeddingResponse(vectors=vectors, usage=usage, model=model, provider=provider,
                             raw=resp)


# ---------------------------------------------------------------------------- images


def aspect_ratio(size: str) -> str:
    """The supported aspect ratio nearest to ``size`` (``"1792x1024"`` -> ``"16:9"``, since the
    models' own sizes, such as 1344x768 for 16:9, are not exact ratios); a size more than 5 %
    away from every supported ratio is refused."""
    w, _, h = size.lower().partition("x")
    try:
        width, height = int(w), int(h)
    except ValueError:
        width = height = 0
    if width <= 0 or height <= 0:
        raise InvalidRequestError(f"size {size!r} must be '<width>x<height>' in pixels",
                                  param="size")
    wanted = log(width / height)
    distance, ratio = min((abs(wanted - log(value)), label) for label, value in _RATIOS)
    if distance > _RATIO_TOLERANCE:
        raise InvalidRequestError(
            f"size {size!r} is no aspect ratio Google image models take ({', '.join(ASPECT_RATIOS)}"
            "); the resolution is a provider option (image_size)", param="size")
    return ratio


def image_request(request: ImageRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(contents, config) for a Gemini image model through ``generate_content``."""
    config: dict[str, Any] = {"response_modalities": ["IMAGE"]}
    if request.n > 1:
        config["candidate_count"] = request.n
    if request.size:
        config["image_config"] = {"aspect_ratio": aspect_ratio(request.size)}
    if request.provider_options:
        extra = dict(request.provider_options)
        # {"image_config": {"image_size": "2K"}} adds to the aspect ratio taken from ``size``
        if isinstance(extra.get("image_config"), dict) and "image_config" in config:
            extra["image_config"] = {**config["image_config"], **extra["image_config"]}
        config.update(extra)
    ms = timeout_ms(request.timeout)
    if ms is not None:
        config["http_options"] = {"timeout": ms}
    return [{"role": "user", "parts": [{"text": request.prompt}]}], config


def image_response(resp: Any, *, model: str, provider: str) -> ImageResponse:
    """The inline image parts of every candidate; none at all is an error."""
    check_prompt_feedback(resp, provider=provider, model=model)
    images: list[GeneratedImage] = []
    reasons: list[str] = []
    for cand in resp.candidates or ():
        content = cand.content
        for part in (content.parts or ()) if content is not None else ():
            blob = part.inline_data
            if blob is not None and blob.data and not part.thought:
                images.append(GeneratedImage(b64_json=_b64(blob.data),
                                             mime_type=blob.mime_type))
        reasons.append(_enum_name(cand.finish_reason) or "STOP")
    if not images:
        filtered = [r for r in reasons if FINISH_REASONS.get(r) == _CONTENT_FILTER]
        if filtered:
            raise ContentFilterError(f"Gemini filtered the image ({filtered[0]})",
                                     provider=provider, model=model, status_code=200,
                                     code=filtered[0])
        raise ProviderResponseError(
            f"Gemini returned no image (finish reason {', '.join(reasons) or 'none'})",
            provider=provider, model=model)
    usage = replace(usage_from(resp.usage_metadata), images=len(images))
    return ImageResponse(images=images, usage=usage, model=model, provider=provider,
                         id=resp.response_id or "", raw=resp)


def imagen_request(request: ImageRequest) -> dict[str, Any]:
    """The config for Imagen's ``generate_images`` (Vertex AI)."""
    config: dict[str, Any] = {"number_of_images": request.n}
    if request.size:
        config["aspect_ratio"] = aspect_ratio(request.size)
    if request.provider_options:
        config.update(request.provider_options)
    ms = timeout_ms(request.timeout)
    if ms is not None:
        config["http_options"] = {"timeout": ms}
    return config


def imagen_response(resp: Any, *, model: str, provider: str) -> ImageResponse:
    images: list[GeneratedImage] = []
    filtered: list[str] = []
    for gi in resp.generated_images or ():
        img = gi.image
        if img is not None and img.image_bytes:
            images.append(GeneratedImage(b64_json=_b64(img.image_bytes),
                                         mime_type=img.mime_type,
                                         revised_prompt=gi.enhanced_prompt))
        elif gi.rai_filtered_reason:
            filtered.append(gi.rai_filtered_reason)
    if not images:
        if filtered:
            raise ContentFilterError(f"Imagen filtered every image: {filtered[0]}",
                                     provider=provider, model=model, status_code=200)
        raise ProviderResponseError("Imagen returned no image", provider=provider, model=model)
    return ImageResponse(images=images, usage=Usage(images=len(images)), model=model,
                         provider=provider, raw=resp)
