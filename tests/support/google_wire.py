"""A Gemini API server on 127.0.0.1 for tests, built on :mod:`loopback`.

It speaks the REST wire format that google-genai uses, closely enough for the real SDK:

- ``POST /{version}/models/{model}:generateContent`` -> a ``GenerateContentResponse`` (camelCase
  JSON: ``candidates[].content.parts``, ``finishReason``, ``usageMetadata``, ``responseId``,
  ``modelVersion``, ``promptFeedback``); ``thoughtSignature`` values are base64;
- ``...:streamGenerateContent?alt=sse`` -> the same objects as SSE ``data:`` events separated by
  ``\\r\\n\\r\\n`` (Google's framing; no ``[DONE]``); text arrives as deltas, function calls whole,
  every event repeats the running ``usageMetadata``;
- ``...:batchEmbedContents`` (``{"requests": [...]}`` -> ``{"embeddings": [{"values": [...]}]}``)
  and ``...:embedContent``;
- ``...:predict`` (Imagen on Vertex AI: ``/{version}/publishers/google/models/{model}:predict``,
  ``{"instances": [{"prompt"}], "parameters": {"sampleCount"}}`` ->
  ``{"predictions": [{"bytesBase64Encoded", "mimeType"}]}``);
- errors as Google sends them: ``{"error": {"code": 429, "message": ...,
  "status": "RESOURCE_EXHAUSTED", "details": [{"@type": ".../google.rpc.RetryInfo",
  "retryDelay": "2s"}]}}``; a wrong ``x-goog-api-key`` is a 400 ``INVALID_ARGUMENT`` with an
  ``ErrorInfo`` reason ``API_KEY_INVALID``, like the real API.

Replies are queued per method (:meth:`GeminiWire.reply`) and served in order; with none queued,
``generateContent`` answers ``"echo: <last user text>"``, streams answer it in two pieces,
embeddings are deterministic vectors and image calls return a 1x1 PNG. Faults
(:meth:`GeminiWire.fail`) are served before anything else. Every request is recorded::

    with GeminiWire() as wire:
        wire.reply("generateContent", text_response("Hi"))
        router = Router(providers={"google": {"api_key": API_KEY, "base_url": wire.base_url}})
        ...
        wire.last("generateContent").json   # what the SDK sent
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any

from loopback import LoopbackServer, Recorded, Reply

__all__ = ["GeminiWire", "response", "text_response", "usage", "sse", "error", "camel", "unb64",
           "retry_info", "error_info", "quota_failure", "fc_part", "b64", "PNG_B64", "API_KEY"]

API_KEY = "AIzaSyTest-cencori-0123456789abcdef"

PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4"
           "AAAAAElFTkSuQmCC")

_PATH = re.compile(r"^/(?P<version>v[0-9a-z]+)/(?:.*/)?models/(?P<model>[^/:]+):(?P<method>\w+)$")

Handler = Callable[[Recorded], Reply]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Bytes of standard or URL-safe base64 (the SDK sends the URL-safe alphabet; Google's
    parser takes both)."""
    return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))


def camel(value: Any) -> Any:
    """Keys in camelCase, recursively: the SDK sends some nested fields in snake_case, which
    Google's JSON parser accepts as well, so tests compare the normalized form."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m[1].upper(), k): camel(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


# ---------------------------------------------------------------------------- body builders


def usage(prompt: int = 0, candidates: int = 0, *, thoughts: int | None = None,
          cached: int | None = None, tool_use: int | None = None,
          total: int | None = None) -> dict[str, Any]:
    """A ``usageMetadata`` object (``totalTokenCount`` defaults to the sum, as Gemini's does)."""
    out: dict[str, Any] = {"promptTokenCount": prompt}
    if candidates:
        out["candidatesTokenCount"] = candidates
    if thoughts is not None:
        out["thoughtsTokenCount"] = thoughts
    if cached is not None:
        out["cachedContentTokenCount"] = cached
    if tool_use is not None:
        out["toolUsePromptTokenCount"] = tool_use
    out["totalTokenCount"] = total if total is not None else (
        prompt + candidates + (thoughts or 0) + (tool_use or 0))
    return out


def fc_part(name: str, args: dict[str, Any], *, id: str | None = None,
            signature: bytes | None = None) -> dict[str, Any]:
    """A ``functionCall`` part (with a ``thoughtSignature`` when given)."""
    call: dict[str, Any] = {"name": name, "args": args}
    if id is not None:
        call["id"] = id
    part: dict[str, Any] = {"functionCall": call}
    if signature is not None:
        part["thoughtSignature"] = b64(signature)
    return part


def response(parts: list[dict[str, Any]] | None, *, finish: str | None = "STOP",
             use: dict[str, Any] | None = None, response_id: str = "resp-gemini-1",
             model_version: str = "gemini-2.5-flash", candidates: int = 1,
             block_reason: str | None = None) -> dict[str, Any]:
    """A ``GenerateContentResponse``. ``parts=None`` with ``block_reason`` is a blocked prompt."""
    body: dict[str, Any] = {"modelVersion": model_version, "responseId": response_id}
    if block_reason is not None:
        body["promptFeedback"] = {"blockReason": block_reason}
    if parts is not None:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            cand["finishReason"] = finish
        body["candidates"] = [dict(cand, index=i) for i in range(candidates)]
    if use is not None:
        body["usageMetadata"] = use
    return body


def text_response(text: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("use", usage(5, 3))
    return response([{"text": text}], **kw)


def sse(events: Iterable[dict[str, Any]], *, cut_after: int | None = None) -> Reply:
    """Google's SSE framing: ``data: <json>`` events separated by CRLF CRLF."""
    lines = [f"data: {json.dumps(e)}\r\n\r\n".encode() for e in events]
    return Reply(lines=lines, content_type="text/event-stream", cut_after=cut_after)


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def error_info(reason: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}}


def quota_failure(quota_id: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"}}]}


def error(code: int, status: str, message: str = "error", *,
          details: Iterable[dict[str, Any]] = (), headers: dict[str, str] | None = None,
          delay: float = 0.0) -> Reply:
    """An error reply with Google's body."""
    body: dict[str, Any] = {"error": {"code": code, "message": message, "status": status}}
    details = list(details)
    if details:
        body["error"]["details"] = details
    return Reply(status=code, body=body, headers=dict(headers or {}), delay=delay)


# ---------------------------------------------------------------------------- the server


class GeminiWire:
    """The Gemini API on a loopback port; ``base_url`` is the server root (no version)."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.http = LoopbackServer()
        self.http.route("POST", "/", self._dispatch)
        self._queues: dict[str, deque[Reply | Handler | dict[str, Any]]] = defaultdict(deque)
        self._any: deque[Handler] = deque()
        self._lock = threading.Lock()
        self.defaults: dict[str, Handler] = {
            "generateContent": self._echo,
            "streamGenerateContent": self._echo_stream,
            "batchEmbedContents": self._embed,
            "embedContent": self._embed_one,
            "predict": self._predict,
        }

    # --- lifecycle
    @property
    def base_url(self) -> str:
        return self.http.base_url

    def start(self) -> GeminiWire:
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    def __enter__(self) -> GeminiWire:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- scripting
    def reply(self, method: str, *replies: Reply | Handler | dict[str, Any]) -> None:
        """Queue replies for ``method`` (``generateContent``, ``streamGenerateContent``, ...):
        a JSON body, a :class:`Reply`, or a handler ``f(recorded) -> Reply``."""
        with self._lock:
            self._queues[method].extend(replies)

    def reply_any(self, *handlers: Handler) -> None:
        """Queue handlers ``f(recorded) -> Reply`` for the next requests, whatever their method
        (served after faults, before the per-method replies)."""
        with self._lock:
            self._any.extend(handlers)

    def fail(self, reply: Reply, times: int = 1) -> None:
        """Answer the next ``times`` requests, whatever the method, with ``reply``."""
        self.http.queue(reply, times)

    # --- inspection
    @property
    def requests(self) -> list[Recorded]:
        return self.http.requests

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.http.requests if r.path.endswith(":" + method)]

    def last(self, method: str) -> Recorded:
        return self.calls(method)[-1]

    # --- dispatch
    def _dispatch(self, rec: Recorded) -> Reply:
        m = _PATH.match(rec.path)
        if m is None:
            return error(404, "NOT_FOUND", f"no such path {rec.path}")
        if rec.headers.get("x-goog-api-key") != self.api_key:
            return error(400, "INVALID_ARGUMENT",
                         "API key not valid. Please pass a valid API key.",
                         details=[error_info("API_KEY_INVALID")])
        method = m["method"]
        if method == "streamGenerateContent" and rec.query.get("alt") != ["sse"]:
            return error(400, "INVALID_ARGUMENT", "this server streams with alt=sse only")
        with self._lock:
            if self._any:
                return self._any.popleft()(rec)
            queue = self._queues.get(method)
            scripted = queue.popleft() if queue else None
        if scripted is None:
            handler = self.defaults.get(method)
            if handler is None:
                return error(404, "NOT_FOUND", f"method {method} is not found")
            return handler(rec)
        if callable(scripted):
            return scripted(rec)
        if isinstance(scripted, Reply):
            return scripted
        return Reply.json(scripted)

    # --- default answers
    @staticmethod
    def _last_user_text(rec: Recorded) -> str:
        for content in reversed(rec.json.get("contents") or []):
            if content.get("role", "user") == "user":
                texts = [p["text"] for p in content.get("parts", []) if "text" in p]
                if texts:
                    return "".join(texts)
        return ""

    def _echo(self, rec: Recorded) -> Reply:
        return Reply.json(text_response("echo: " + self._last_user_text(rec)))

    def _echo_stream(self, rec: Recorded) -> Reply:
        text = "echo: " + self._last_user_text(rec)
        half = len(text) // 2
        return sse([
            response([{"text": text[:half]}], finish=None, use=usage(5)),
            response([{"text": text[half:]}], use=usage(5, 3)),
        ])

    @staticmethod
    def _vector(text: str, dims: int) -> list[float]:
        seed = sum(text.encode()) or 1
        return [((seed * (i + 7)) % 97) / 97.0 for i in range(dims)]

    def _embed(self, rec: Recorded) -> Reply:
        reqs = rec.json["requests"]
        out = []
        for r in reqs:
            text = "".join(p.get("text", "") for p in r["content"]["parts"])
            out.append({"values": self._vector(text, r.get("outputDimensionality") or 4)})
        return Reply.json({"embeddings": out})

    def _embed_one(self, rec: Recorded) -> Reply:
        body = rec.json
        text = "".join(p.get("text", "") for p in body["content"]["parts"])
        return Reply.json({"embedding": {"values": self._vector(
            text, body.get("outputDimensionality") or 4)}})

    @staticmethod
    def _predict(rec: Recorded) -> Reply:
        n = (rec.json.get("parameters") or {}).get("sampleCount") or 1
        return Reply.json({"predictions": [{"bytesBase64Encoded": PNG_B64,
                                            "mimeType": "image/png"} for _ in range(n)]})
