"""Gemini answers to cencori types: chat responses, stream events, embeddings and images (pure:
no I/O, no SDK import). The conventions are described in :mod:`._convert`, which turns our
requests into the SDK's; this module reads what comes back, from the API's JSON (camelCase keys,
base64 text for binary data) or from the SDK's pydantic objects (read by attribute).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from typing import Any

from cencori_core.errors import ContentFilterError, ProviderResponseError
from cencori_core.provider import StreamState
from cencori_core.types import (
    ChatChunk,
    ChatResponse,
    Choice,
    EmbeddingResponse,
    GeneratedImage,
    ImageResponse,
    ToolCall,
    ToolCallDelta,
    Usage,
)

from ._convert import PROVIDER_KEY, SYNTHETIC_ID_PREFIX

__all__ = [
    "FINISH_REASONS", "chat_response", "check_prompt_feedback", "finish_reason", "GeminiStream",
    "usage_from", "embed_response", "image_response", "imagen_response",
]

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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _signature_data(signature: bytes | None) -> dict[str, Any] | None:
    return {PROVIDER_KEY: {"thought_signature": _b64(signature)}} if signature else None


def _new_call_id() -> str:
    return SYNTHETIC_ID_PREFIX + uuid.uuid4().hex[:16]


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
