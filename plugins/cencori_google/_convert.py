"""Translation between cencori types and the google-genai SDK (pure: no I/O, no SDK import).

Requests become the plain dicts the SDK validates itself (snake_case field names, bytes for
binary data): this module. Chat responses and stream events are read from the API's JSON (dicts
with the wire's camelCase keys, base64 text for binary data), which is what the provider hands
over; the SDK's pydantic objects are still accepted (read by attribute: the continuation path,
images, embeddings and tests): :mod:`._responses`. Neither imports the SDK; their tests need no
network.

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
from collections.abc import Iterable
from math import ceil, log
from typing import Any

from cencori_core.errors import InvalidRequestError
from cencori_core.provider import refuse
from cencori_core.types import (
    ChatRequest,
    EmbeddingRequest,
    ImageRequest,
    Message,
    ToolCall,
)

__all__ = [
    "PROVIDER_KEY", "SYNTHETIC_ID_PREFIX", "ASPECT_RATIOS", "TASK_TYPES", "chat_request",
    "contents_from", "timeout_ms", "embed_request", "task_type", "aspect_ratio", "image_request",
    "imagen_request",
]

PROVIDER_KEY = "google"
"""Our key inside ``provider_data`` (other providers' keys are left alone)."""

SYNTHETIC_ID_PREFIX = "gemini-call-"
"""Prefix of the ids we give function calls that Gemini returned without one."""

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
