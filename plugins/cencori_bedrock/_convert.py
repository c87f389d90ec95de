"""Pure translation between cencori types and Bedrock's Converse / InvokeModel shapes (no SDK
import, no I/O).

Requests become keyword arguments of boto3's ``bedrock-runtime`` ``converse`` /
``converse_stream`` / ``invoke_model``; answers (boto3's parsed dicts, and the dicts its
EventStream yields) become our normalized types. Shapes follow botocore's service model
(``botocore/data/bedrock-runtime/*/service-2.json``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cencori_core.errors import InvalidRequestError, ProviderResponseError, ProviderServerError
from cencori_core.provider import StreamState, refuse, thinking_budget
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["chat_request", "chat_response", "BedrockStream", "usage_from", "finish_reason",
           "embed_family", "embed_requests", "embed_response", "KEY", "COHERE_BATCH"]

KEY = "bedrock"
"""Our key in ``provider_data``: reasoning blocks (with their signatures) to send back."""

COHERE_BATCH = 96
"""Cohere embed's limit of texts per call (also on Bedrock)."""

# Converse's StopReason enum in our vocabulary.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "error",
    "malformed_tool_use": "error",
}

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
                  "image/gif": "gif", "image/webp": "webp"}
_S3_IMAGE_FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp"}


# ---------------------------------------------------------------------------- chat requests


def chat_request(request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``converse`` / ``converse_stream``.

    ``provider_options`` are merged at the top level as written (``additionalModelRequestFields``,
    ``guardrailConfig``, ``performanceConfig``, ``requestMetadata``, ...), so every Converse
    field is reachable; boto3 validates them against the service model before sending."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, m in enumerate(request.messages):
        where = f"messages[{i}]"
        if m.role in ("system", "developer"):
            if m.text:
                system.append({"text": m.text})
            continue
        role, blocks = _message(m, where)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            # Converse wants user and assistant turns to alternate: tool results (user blocks)
            # of parallel calls, and a user text after them, share one user turn.
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if request.reasoning_effort is not None or request.n is not None \
            or request.logprobs is not None or request.top_logprobs is not None \
            or request.parallel_tool_calls is not None or request.presence_penalty is not None \
            or request.frequency_penalty is not None:
        extra = _common(request)
    else:
        extra = None
    kw: dict[str, Any] = {"modelId": request.model, "messages": turns}
    if extra:
        kw["additionalModelRequestFields"] = extra
    if system:
        kw["system"] = system
    inference: dict[str, Any] = {}
    if request.max_tokens is not None:
        inference["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    if inference:
        kw["inferenceConfig"] = inference
    tool_config = _tool_config(request, turns)
    if tool_config:
        kw["toolConfig"] = tool_config
    if request.response_format is not None:
        kw["outputConfig"] = _output_config(request.response_format)
    # seed has no Converse counterpart (like OpenAI's, only a best-effort hint) and ``user``
    # none either (``requestMetadata`` is for invocation logs, with a narrow character set:
    # pass it in provider_options when wanted).
    if request.provider_options:
        opts = dict(request.provider_options)
        fields = opts.get("additionalModelRequestFields")
        if extra and isinstance(fields, dict):  # the thinking budget and the caller's fields
            opts["additionalModelRequestFields"] = {**extra, **fields}
        kw.update(opts)
    return kw


_WHY = {"n": "Converse returns one answer: call several times instead",
        "logprobs": "Converse returns no token log probabilities",
        "top_logprobs": "Converse returns no token log probabilities",
        "parallel_tool_calls": "Converse has no switch for it",
        "presence_penalty": "Converse has no penalties (a model's own fields go in "
                            "provider_options={'additionalModelRequestFields': {...}})",
        "frequency_penalty": "Converse has no penalties (a model's own fields go in "
                             "provider_options={'additionalModelRequestFields': {...}})",
        "reasoning_effort": "only Anthropic Claude models on Bedrock take a thinking budget "
                            "through Converse"}
_MIN_THINKING = 1024  # Anthropic's smallest thinking budget


def _common(request: ChatRequest) -> dict[str, Any] | None:
    """The common parameters (issue 17) on Converse: ``reasoning_effort`` as Claude's extended
    thinking budget (``additionalModelRequestFields``); the others refused before sending."""
    claude = "anthropic.claude" in request.model
    refuse(request, ("reasoning_effort",) if claude else (), "Bedrock", _WHY)
    effort = request.reasoning_effort
    if effort is None:
        return None
    if request.max_tokens is None or request.max_tokens <= _MIN_THINKING:
        raise InvalidRequestError(
            f"reasoning_effort on Claude needs max_tokens above {_MIN_THINKING} (the thinking "
            f"budget is part of it), got max_tokens={request.max_tokens}",
            param="reasoning_effort")
    if request.tool_choice not in (None, "auto", "none"):
        raise InvalidRequestError("Claude does not think while a tool call is forced "
                                  "(tool_choice): drop reasoning_effort, or let the model choose",
                                  param="reasoning_effort")
    budget = max(_MIN_THINKING, thinking_budget(effort, request.max_tokens))
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}


def _message(m: Message, where: str) -> tuple[str, list[dict[str, Any]]]:
    if m.role == "user":
        return "user", _user_blocks(m.content, where)
    if m.role == "tool":
        if not m.tool_call_id:
            raise InvalidRequestError(f"{where}: a tool message needs tool_call_id",
                                      param=f"{where}.tool_call_id")
        return "user", [{"toolResult": {"toolUseId": m.tool_call_id,
                                        "content": _tool_result(m.content, where)}}]
    if m.role == "assistant":
        return "assistant", _assistant_blocks(m)
    raise InvalidRequestError(f"{where}: Bedrock takes system, user, assistant and tool "
                              f"messages, not {m.role!r}", param=f"{where}.role")


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, p in enumerate(content or ()):
        kind = p.get("type")
        at = f"{where}.content[{j}]"
        if kind == "text":
            if p["text"]:
                blocks.append({"text": p["text"]})
        elif kind == "image_url":
            blocks.append({"image": _image(p["image_url"]["url"], at)})
        else:
            raise InvalidRequestError(f"{at}: Bedrock accepts text and image_url parts, not "
                                      f"{kind!r}", param=at)
    return blocks


def _image(url: str, where: str) -> dict[str, Any]:
    """An image part as Converse's ImageBlock: a data URL's bytes, or an ``s3://`` location."""
    if url.startswith("s3://"):
        ext = url.rsplit(".", 1)[-1].lower()
        fmt = _S3_IMAGE_FORMATS.get(ext)
        if fmt is None:
            raise InvalidRequestError(
                f"{where}: an s3:// image must end in .png, .jpeg, .jpg, .gif or .webp so its "
                "format is known", param=where)
        return {"format": fmt, "source": {"s3Location": {"uri": url}}}
    if not url.startswith("data:"):
        raise InvalidRequestError(
            f"{where}: Bedrock does not fetch image URLs; pass the image as a data URL "
            "('data:image/png;base64,...') or an s3:// URI", param=where)
    head, sep, data = url[5:].partition(",")
    media_type, _, encoding = head.partition(";")
    fmt = _IMAGE_FORMATS.get(media_type.lower())
    if not sep or encoding != "base64" or fmt is None:
        raise InvalidRequestError(
            f"{where}: a data URL must look like 'data:image/png;base64,<data>' with a png, "
            "jpeg, gif or webp image", param=where)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(f"{where}: the data URL's base64 is malformed",
                                  param=where) from None
    return {"format": fmt, "source": {"bytes": raw}}


def _tool_result(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return [{"text": content or ""}]
    out: list[dict[str, Any]] = []
    for j, p in enumerate(content):
        at = f"{where}.content[{j}]"
        if p.get("type") == "text":
            out.append({"text": p["text"]})
        elif p.get("type") == "image_url":
            out.append({"image": _image(p["image_url"]["url"], at)})
        else:
            raise InvalidRequestError(f"{at}: Bedrock tool results take text and image_url "
                                      "parts", param=at)
    return out or [{"text": ""}]


def _assistant_blocks(m: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    data = m.provider_data or {}
    saved = data.get(KEY) if isinstance(data.get(KEY), Mapping) else None
    # A reasoning model's signed reasoning goes back first, as it came (Claude checks it).
    for r in (saved or {}).get("reasoning") or ():
        if "redacted" in r:
            blocks.append({"reasoningContent": {
                "redactedContent": base64.b64decode(r["redacted"])}})
        else:
            text: dict[str, Any] = {"text": r.get("text") or ""}
            if r.get("signature"):
                text["signature"] = r["signature"]
            blocks.append({"reasoningContent": {"reasoningText": text}})
    if m.text:
        blocks.append({"text": m.text})
    for tc in m.tool_calls:
        args = tc.arguments if tc.arguments is not None else {}
        blocks.append({"toolUse": {"toolUseId": tc.id, "name": tc.name, "input": args}})
    return blocks


def _tool_config(request: ChatRequest, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    tools = [_tool(t) for t in request.tools or ()]
    if not tools:
        return None
    choice = request.tool_choice
    uses_tools = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    if choice == "none" and not uses_tools:
        # Converse has no "none": not offering the tools is the same. A conversation that
        # already holds tool blocks must declare them, so there they stay offered.
        return None
    out: dict[str, Any] = {"tools": tools}
    if isinstance(choice, Mapping):
        name = choice["function"]["name"]
        if not any(t["toolSpec"]["name"] == name for t in tools):
            raise InvalidRequestError(f"tool_choice names {name!r}, which is not in tools",
                                      param="tool_choice")
        out["toolChoice"] = {"tool": {"name": name}}
    elif choice == "required":
        out["toolChoice"] = {"any": {}}
    elif choice == "auto":
        out["toolChoice"] = {"auto": {}}
    return out


def _tool(t: Mapping[str, Any]) -> dict[str, Any]:
    fn = t["function"]
    spec: dict[str, Any] = {"name": fn["name"], "inputSchema": {
        "json": fn.get("parameters") or {"type": "object", "properties": {}}}}
    if fn.get("description"):
        spec["description"] = fn["description"]
    if fn.get("strict"):
        spec["strict"] = True
    return {"toolSpec": spec}


def _output_config(rf: Mapping[str, Any]) -> dict[str, Any]:
    if rf.get("type") != "json_schema":
        raise InvalidRequestError(
            "Bedrock's Converse API takes response_format of type 'json_schema' only (a "
            "schema, not free JSON); pass a JSON schema or a pydantic model",
            param="response_format")
    js = rf["json_schema"]
    structure: dict[str, Any] = {"schema": json.dumps(js["schema"]),
                                 "name": js.get("name") or "response"}
    if js.get("description"):
        structure["description"] = js["description"]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": structure}}}


# ---------------------------------------------------------------------------- chat answers


def finish_reason(value: Any, has_calls: bool) -> str:
    """Converse's stop reason in our vocabulary (an unknown one: by what the answer holds)."""
    mapped = _FINISH.get(value) if isinstance(value, str) else None
    return mapped or ("tool_calls" if has_calls else "stop")


def usage_from(u: Any) -> Usage:
    """Our Usage from Converse's TokenUsage. Bedrock's ``inputTokens`` counts only the tokens
    neither read from nor written to the prompt cache, so the prompt is their sum (cache
    tokens are a part of ``prompt_tokens`` in our Usage)."""
    if not isinstance(u, Mapping) or ("inputTokens" not in u and "outputTokens" not in u):
        if u is not None and not isinstance(u, Mapping):
            raise TypeError(f"usage is {type(u).__name__}, not an object")
        return Usage(source="estimated")
    read = int(u.get("cacheReadInputTokens") or 0)
    written = int(u.get("cacheWriteInputTokens") or 0)
    prompt = int(u.get("inputTokens") or 0) + read + written
    completion = int(u.get("outputTokens") or 0)
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=prompt + completion, cached_tokens=read, cache_write_tokens=written)


def _reasoning_saved(blocks: list[dict[str, Any]]) -> dict[str, Any] | None:
    return {KEY: {"reasoning": blocks}} if blocks else None


def _reasoning_block(rc: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(visible text, what to keep) of one ReasoningContentBlock."""
    if "redactedContent" in rc:
        raw = rc["redactedContent"]
        return "", {"redacted": base64.b64encode(raw).decode("ascii")}
    rt = rc["reasoningText"]
    keep: dict[str, Any] = {"text": rt.get("text") or ""}
    if rt.get("signature"):
        keep["signature"] = rt["signature"]
    return keep["text"], keep


def chat_response(resp: Mapping[str, Any], *, provider: str, model: str,
                  request_id: str = "") -> ChatResponse:
    """A ``converse`` answer as our ChatResponse (read inside the converter boundary)."""
    msg = (resp.get("output") or {}).get("message")
    if not isinstance(msg, Mapping):
        raise ProviderResponseError("Bedrock answered a Converse response without a message",
                                    provider=provider, model=model, retryable=True)
    texts: list[str] = []
    thinking: list[str] = []
    kept: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for block in msg.get("content") or ():
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            tu = block["toolUse"]
            calls.append(ToolCall.from_raw(id=tu["toolUseId"], name=tu["name"],
                                           arguments_raw=json.dumps(tu.get("input") or {})))
        elif "reasoningContent" in block:
            text, keep = _reasoning_block(block["reasoningContent"])
            thinking.append(text)
            kept.append(keep)
    return ChatResponse(
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=finish_reason(resp.get("stopReason"), bool(calls)),
        usage=usage_from(resp.get("usage")),
        model=model,
        provider=provider,
        id=request_id,
        reasoning="".join(thinking) or None,
        provider_data=_reasoning_saved(kept),
        raw=resp,
    )


class BedrockStream(StreamState):
    """Folds the events of one ConverseStream (the dicts boto3's EventStream yields:
    ``{"messageStart": {...}}``, ``{"contentBlockDelta": {...}}``, ...) into chunks.

    Text and reasoning deltas become ``delta`` / ``reasoning``; a ``toolUse`` block start
    opens a tool call with our own index, its ``input`` deltas are its arguments;
    ``messageStop`` carries the stop reason and ``metadata``, the last event of every
    ConverseStream, the usage: it is the closing event. Exceptions sent inside the stream
    are raised by boto3 itself (an ``EventStreamError``) and mapped by the error boundary.
    """

    closing_event = "its metadata event (after messageStop)"

    def __init__(self, *, provider: str, model: str, scrubber: Any = None) -> None:
        super().__init__(provider=provider, model=model, scrubber=scrubber)
        self.calls: dict[int, int] = {}
        self.stop: str | None = None
        self.reasoning: list[dict[str, Any]] = []
        self._open_reasoning: dict[str, Any] | None = None

    def fold(self, event: Any) -> ChatChunk | None:
        if not isinstance(event, Mapping):
            raise TypeError(f"event is {type(event).__name__}, not an object")
        if "contentBlockDelta" in event:
            return self._delta(event["contentBlockDelta"])
        if "contentBlockStart" in event:
            ev = event["contentBlockStart"]
            tu = (ev.get("start") or {}).get("toolUse")
            if tu is None:
                return None
            index = self.calls[ev["contentBlockIndex"]] = len(self.calls)
            return ChatChunk(tool_calls=[ToolCallDelta(index=index, id=tu["toolUseId"],
                                                       name=tu["name"])], raw=event)
        if "contentBlockStop" in event:
            self._open_reasoning = None
            return None
        if "messageStop" in event:
            self.stop = event["messageStop"].get("stopReason")
            return None
        if "metadata" in event:
            self.done = True
            return ChatChunk(finish_reason=finish_reason(self.stop, bool(self.calls)),
                             usage=usage_from(event["metadata"].get("usage")),
                             provider_data=_reasoning_saved(self.reasoning), raw=event)
        if "messageStart" in event:
            return None
        if any(k.endswith("Exception") for k in event):
            # boto3 raises modeled stream exceptions itself; one reaching us is still an error.
            raise ProviderServerError(f"Bedrock ended the stream with {next(iter(event))}",
                                      provider=self.provider, model=self.model)
        return None  # event types added later

    def _delta(self, ev: Mapping[str, Any]) -> ChatChunk | None:
        delta = ev["delta"]
        if "text" in delta:
            return ChatChunk(delta=delta["text"], raw=ev) if delta["text"] else None
        if "toolUse" in delta:
            index = self.calls.get(ev["contentBlockIndex"])
            if index is None:
                raise ValueError("a toolUse delta for a block that never started")
            args = delta["toolUse"].get("input") or ""
            return ChatChunk(tool_calls=[ToolCallDelta(index=index, arguments=args)],
                             raw=ev) if args else None
        if "reasoningContent" in delta:
            rc = delta["reasoningContent"]
            if self._open_reasoning is None:
                self._open_reasoning = {"text": ""}
                self.reasoning.append(self._open_reasoning)
            if "redactedContent" in rc:
                self._open_reasoning.pop("text", None)
                self._open_reasoning["redacted"] = base64.b64encode(
                    rc["redactedContent"]).decode("ascii")
                return None
            if rc.get("signature"):
                self._open_reasoning["signature"] = rc["signature"]
            text = rc.get("text") or ""
            if not text:
                return None
            self._open_reasoning["text"] = self._open_reasoning.get("text", "") + text
            return ChatChunk(reasoning=text, raw=ev)
        return None


# ---------------------------------------------------------------------------- embeddings


def embed_family(model: str) -> str:
    """``titan`` or ``cohere``: which InvokeModel body the model takes."""
    base = model.rsplit("/", 1)[-1]
    if "titan-embed" in base:
        return "titan"
    if "cohere.embed" in base:
        return "cohere"
    raise InvalidRequestError(
        f"model {model!r}: embeddings on Bedrock support Amazon Titan text embeddings "
        "(amazon.titan-embed-text-v2:0) and Cohere embed (cohere.embed-english-v3, "
        "cohere.embed-multilingual-v3, cohere.embed-v4:0)", param="model")


def embed_requests(request: EmbeddingRequest) -> list[dict[str, Any]]:
    """The JSON bodies of the InvokeModel calls for ``request``: one per text for Titan (its
    body takes one ``inputText``), one per 96 texts for Cohere."""
    family = embed_family(request.model)
    texts = list(request.input)
    if family == "titan":
        extra: dict[str, Any] = {}
        if request.dimensions is not None:
            if "v2" not in request.model:
                raise InvalidRequestError(f"model {request.model!r} has a fixed size; "
                                          "dimensions needs amazon.titan-embed-text-v2:0",
                                          param="dimensions")
            if request.dimensions not in (256, 512, 1024):
                raise InvalidRequestError("Titan text embeddings v2 takes dimensions 256, 512 "
                                          f"or 1024, not {request.dimensions}",
                                          param="dimensions")
            extra["dimensions"] = request.dimensions
        return [{"inputText": t, **extra} for t in texts]
    base: dict[str, Any] = {"input_type": request.input_type or "search_document",
                            "embedding_types": ["float"]}
    if request.dimensions is not None:
        if "embed-v4" not in request.model:
            raise InvalidRequestError(f"model {request.model!r} has a fixed size; dimensions "
                                      "needs cohere.embed-v4:0", param="dimensions")
        base["output_dimension"] = request.dimensions
    return [{**base, "texts": texts[i:i + COHERE_BATCH]}
            for i in range(0, len(texts), COHERE_BATCH)]


def _cohere_vectors(body: Mapping[str, Any]) -> list[list[float]]:
    emb = body["embeddings"]
    if isinstance(emb, Mapping):  # embeddings_by_type
        return list(emb["float"])
    return list(emb)


def embed_response(answers: list[tuple[Mapping[str, Any], int | None]], *, provider: str,
                   model: str, count: int) -> EmbeddingResponse:
    """The vectors of the InvokeModel answers (each its JSON body and the input token count of
    its ``X-Amzn-Bedrock-Input-Token-Count`` header), usage summed over them."""
    family = embed_family(model)
    vectors: list[list[float]] = []
    tokens = 0
    counted = False
    for body, header_tokens in answers:
        if family == "titan":
            vectors.append(list(body["embedding"]))
            n = body.get("inputTextTokenCount", header_tokens)
        else:
            vectors.extend(_cohere_vectors(body))
            n = header_tokens
        if n is not None:
            tokens += int(n)
            counted = True
    if len(vectors) != count:
        raise ProviderResponseError(f"Bedrock returned {len(vectors)} embeddings for {count} "
                                    "inputs", provider=provider, model=model, retryable=True)
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens) if counted else \
        Usage(source="estimated")
    first = answers[0][0] if answers else {}
    return EmbeddingResponse(vectors=vectors, usage=usage, model=model, provider=provider,
                             id=str(first.get("id") or ""), raw=[a for a, _ in answers])
