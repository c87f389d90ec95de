"""AWS Bedrock Runtime's wire format on the loopback server, for end-to-end tests of the bedrock
plugin through the real boto3 client (``endpoint_url`` pointed here, fixed fake credentials).

:class:`BedrockServer` answers (shapes from botocore's ``bedrock-runtime`` service model and the
Bedrock API reference)::

    POST /model/{modelId}/converse          JSON: {"output": {"message": {"role", "content": [
                                              {"text"} | {"toolUse": {"toolUseId", "name",
                                              "input"}} | {"reasoningContent": {"reasoningText":
                                              {"text", "signature"}}}]}}, "stopReason",
                                              "usage": {"inputTokens", "outputTokens",
                                              "totalTokens", "cacheReadInputTokens",
                                              "cacheWriteInputTokens"}, "metrics": {"latencyMs"}}
    POST /model/{modelId}/converse-stream   application/vnd.amazon.eventstream frames: messageStart,
                                              contentBlockStart / contentBlockDelta /
                                              contentBlockStop per block, messageStop, metadata
    POST /model/{modelId}/invoke            the model family's own JSON (Titan, Cohere embed),
                                              X-Amzn-Bedrock-Input-Token-Count header
    errors                                  {"message"} with x-amzn-ErrorType and the status; in a
                                              stream, an exception frame (:message-type exception)

Every request must carry SigV4 headers (``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/
<date>/<region>/bedrock/aws4_request, SignedHeaders=..., Signature=...`` and ``X-Amz-Date``);
a request without them is answered 403 ``MissingAuthenticationTokenException`` and listed in
``unsigned``. Event-stream frames are built byte by byte here (prelude with total and headers
length, prelude CRC32, typed string headers, payload, message CRC32), so boto3's own parser
reads them.
"""

from __future__ import annotations

import binascii
import json
import re
import struct
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from loopback import LoopbackServer, Recorded, Reply

from cencori_core import RetryPolicy, Router

__all__ = ["Turn", "BedrockServer", "BedrockConformanceWire", "frame", "converse_json",
           "stream_events", "KEY_ID", "SECRET", "TOKEN", "REGION", "router_for", "creds"]

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
"""The fake secret key every test router uses; it must never show up in errors or logs."""
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE-session-token-5f1e"
REGION = "us-east-1"

_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/"
                    r"bedrock/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
                    r"Signature=[0-9a-f]{64}$")


@dataclass
class Turn:
    """One scripted assistant turn, served as JSON or as a stream depending on the path."""

    text: str | None = "Hello from Bedrock!"
    reasoning: str | None = None
    signature: str | None = None
    tool_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(toolUseId, name, input)."""
    stop_reason: str | None = None
    """Defaults to tool_use when there are tool calls, else end_turn."""
    usage: tuple[int, int] | None = (12, 6)
    cache_read: int | None = None
    cache_write: int | None = None
    stream_exception: tuple[str, str] | None = None
    """(exception type, message): an exception frame after the first text delta."""
    cut_after: int | None = None
    """Drop the connection after this many frames."""
    end_after: int | None = None
    """End the response cleanly after this many frames (no messageStop/metadata)."""
    split: bool = False
    """Send each frame in two network pieces (the parser must join them)."""
    delay: float = 0.0

    @property
    def stop(self) -> str:
        return self.stop_reason or ("tool_use" if self.tool_calls else "end_turn")


def pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _usage(t: Turn) -> dict[str, Any] | None:
    if t.usage is None:
        return None
    u: dict[str, Any] = {"inputTokens": t.usage[0], "outputTokens": t.usage[1]}
    total = t.usage[0] + t.usage[1]
    if t.cache_read is not None:
        u["cacheReadInputTokens"] = t.cache_read
        total += t.cache_read
    if t.cache_write is not None:
        u["cacheWriteInputTokens"] = t.cache_write
        total += t.cache_write
    u["totalTokens"] = total
    return u


def converse_json(t: Turn) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if t.reasoning is not None:
        rt: dict[str, Any] = {"text": t.reasoning}
        if t.signature:
            rt["signature"] = t.signature
        content.append({"reasoningContent": {"reasoningText": rt}})
    if t.text is not None:
        content.append({"text": t.text})
    for tid, name, args in t.tool_calls:
        content.append({"toolUse": {"toolUseId": tid, "name": name, "input": args}})
    body: dict[str, Any] = {"output": {"message": {"role": "assistant", "content": content}},
                            "stopReason": t.stop, "metrics": {"latencyMs": 321}}
    usage = _usage(t)
    if usage is not None:
        body["usage"] = usage
    return body


def stream_events(t: Turn) -> list[tuple[str, dict[str, Any]]]:
    """(event type, payload) of a ConverseStream answer, in order."""
    out: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    block = 0
    if t.reasoning is not None:
        for piece in pieces(t.reasoning):
            out.append(("contentBlockDelta", {"contentBlockIndex": block,
                                              "delta": {"reasoningContent": {"text": piece}}}))
        if t.signature:
            out.append(("contentBlockDelta", {"contentBlockIndex": block, "delta": {
                "reasoningContent": {"signature": t.signature}}}))
        out.append(("contentBlockStop", {"contentBlockIndex": block}))
        block += 1
    if t.text is not None:
        for piece in pieces(t.text):
            out.append(("contentBlockDelta", {"contentBlockIndex": block,
                                              "delta": {"text": piece}}))
        out.append(("contentBlockStop", {"contentBlockIndex": block}))
        block += 1
    for tid, name, args in t.tool_calls:
        out.append(("contentBlockStart", {"contentBlockIndex": block, "start": {
            "toolUse": {"toolUseId": tid, "name": name}}}))
        text = json.dumps(args)
        for i in range(0, len(text), 6):
            out.append(("contentBlockDelta", {"contentBlockIndex": block,
                                              "delta": {"toolUse": {"input": text[i:i + 6]}}}))
        out.append(("contentBlockStop", {"contentBlockIndex": block}))
        block += 1
    out.append(("messageStop", {"stopReason": t.stop}))
    meta: dict[str, Any] = {"metrics": {"latencyMs": 321}}
    usage = _usage(t)
    if usage is not None:
        meta["usage"] = usage
    out.append(("metadata", meta))
    return out


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total length, headers length), prelude CRC32,
    headers (type 7, strings), payload, message CRC32."""
    hdrs = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(hdrs) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hdrs))
    head = prelude + struct.pack(">I", binascii.crc32(prelude))
    body = head + hdrs + payload
    return body + struct.pack(">I", binascii.crc32(body))


def event_frame(kind: str, payload: dict[str, Any]) -> bytes:
    # Bedrock pads payloads with a "p" field of varying length (hides token lengths).
    data = json.dumps({**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"[:len(kind)]}).encode()
    return frame({":event-type": kind, ":content-type": "application/json",
                  ":message-type": "event"}, data)


def exception_frame(kind: str, message: str) -> bytes:
    return frame({":exception-type": kind, ":content-type": "application/json",
                  ":message-type": "exception"}, json.dumps({"message": message}).encode())


def error_reply(status: int, code: str, message: str, *,
                headers: dict[str, str] | None = None, request_id: str | None = None) -> Reply:
    """An AWS JSON error: x-amzn-ErrorType names the exception, the body its message."""
    h = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
         "x-amzn-RequestId": request_id or str(uuid.uuid4()), **(headers or {})}
    return Reply(status=status, body=json.dumps({"message": message}).encode(), headers=h,
                 content_type="application/json")


_ERRORS = {400: "ValidationException", 401: "UnrecognizedClientException",
           403: "AccessDeniedException", 404: "ResourceNotFoundException",
           408: "ModelTimeoutException", 424: "ModelErrorException",
           429: "ThrottlingException", 500: "InternalServerException",
           503: "ServiceUnavailableException"}


class BedrockServer(LoopbackServer):
    """A loopback server speaking Bedrock Runtime with scripted turns and SigV4 checks."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: deque[Turn] = deque()
        self.default = Turn()
        """The answer when no turn is scripted."""
        self.invoke_answers: deque[Reply] = deque()
        self.unsigned: list[str] = []
        self.gate: threading.Event | None = None
        """When set, requests wait for it (calls held open at once, counted in ``inflight``)."""
        self.inflight = 0
        self.max_inflight = 0
        self._count = threading.Lock()
        self.route("POST", "/model/", self._gated)

    def script(self, *turns: Turn) -> BedrockServer:
        self.turns.extend(turns)
        return self

    def reset(self) -> None:
        super().reset()
        self.turns.clear()
        self.invoke_answers.clear()
        self.unsigned.clear()
        self.max_inflight = 0

    def error(self, status: int, message: str = "scripted error", *, code: str | None = None,
              headers: dict[str, str] | None = None, times: int = 1,
              request_id: str | None = None) -> None:
        """Answer the next ``times`` requests with an AWS error (the code defaults by status)."""
        for _ in range(times):
            self.queue(error_reply(status, code or _ERRORS.get(status, "InternalServerException"),
                                   message, headers=headers, request_id=request_id))

    def model_of(self, rec: Recorded) -> str:
        return unquote(rec.path.split("/")[2])

    def bodies(self, suffix: str) -> list[Any]:
        return [r.json for r in self.requests if r.path.endswith(suffix)]

    def signed(self, rec: Recorded) -> bool:
        m = _SIGV4.match(rec.headers.get("authorization", ""))
        return bool(m and rec.headers.get("x-amz-date") and m["region"] == REGION
                    and "x-amz-date" in m["signed"].split(";")
                    and "host" in m["signed"].split(";"))

    def _gated(self, rec: Recorded) -> Reply:
        gate = self.gate
        if gate is None:
            return self._model(rec)
        with self._count:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            gate.wait(30)
            return self._model(rec)
        finally:
            with self._count:
                self.inflight -= 1

    def _model(self, rec: Recorded) -> Reply:
        if not self.signed(rec):
            self.unsigned.append(rec.path)
            return error_reply(403, "MissingAuthenticationTokenException",
                               "Missing Authentication Token")
        action = rec.path.rsplit("/", 1)[-1]
        rid = {"x-amzn-RequestId": f"req-{uuid.uuid4()}"}
        if action == "converse":
            t = self.turns.popleft() if self.turns else self.default
            return Reply(body=converse_json(t), headers=rid, delay=t.delay)
        if action == "converse-stream":
            t = self.turns.popleft() if self.turns else self.default
            return Reply(lines=self._frames(t), content_type="application/vnd.amazon.eventstream",
                         headers=rid, cut_after=t.cut_after, delay=t.delay)
        if action == "invoke":
            if self.invoke_answers:
                return self.invoke_answers.popleft()
            return self._invoke(rec)
        return error_reply(404, "UnknownOperationException", f"no action {action}")

    def _frames(self, t: Turn) -> list[bytes]:
        frames = [event_frame(kind, payload) for kind, payload in stream_events(t)]
        if t.stream_exception is not None:
            first = next(i for i, f in enumerate(frames) if b"contentBlockDelta" in f)
            frames = [*frames[:first + 1], exception_frame(*t.stream_exception)]
        if t.end_after is not None:
            frames = frames[:t.end_after]
        if t.split:
            frames = [half for f in frames for half in (f[:len(f) // 2], f[len(f) // 2:])]
        return frames

    def _invoke(self, rec: Recorded) -> Reply:
        model = self.model_of(rec)
        body = rec.json
        if "titan-embed" in model:
            text = body["inputText"]
            dims = body.get("dimensions") or 1024
            tokens = len(text.split())
            return Reply(body={"embedding": vector(text, dims), "inputTextTokenCount": tokens,
                               "embeddingsByType": {"float": vector(text, dims)}},
                         headers={"X-Amzn-Bedrock-Input-Token-Count": str(tokens)})
        if "cohere.embed" in model:
            texts = body["texts"]
            dims = body.get("output_dimension") or 4
            tokens = sum(len(t.split()) for t in texts)
            vectors = [vector(t, dims) for t in texts]
            answer: dict[str, Any] = {"id": str(uuid.uuid4()), "texts": texts}
            if body.get("embedding_types"):
                answer.update(response_type="embeddings_by_type",
                              embeddings={"float": vectors})
            else:
                answer.update(response_type="embeddings_floats", embeddings=vectors)
            return Reply(body=answer,
                         headers={"X-Amzn-Bedrock-Input-Token-Count": str(tokens)})
        return error_reply(400, "ValidationException", f"model {model} is not scripted")


def vector(text: str, dims: int) -> list[float]:
    return [float(len(text))] + [round(0.1 * i, 3) for i in range(1, dims)]


class BedrockConformanceWire:
    """:class:`BedrockServer` scripted through the conformance kit's ``ConformanceWire``."""

    def __init__(self, server: BedrockServer) -> None:
        self.server = server
        self.base_url = server.base_url

    @property
    def hits(self) -> int:
        return self.server.hits

    def reply(self, text: str, *, usage: tuple[int, int] = (3, 2)) -> None:
        self.server.script(Turn(text=text, usage=usage))

    def reply_tool_call(self, name: str, arguments: str) -> None:
        self.server.script(Turn(text=None, tool_calls=[("tooluse_cnf1", name,
                                                        json.loads(arguments))]))

    def fail(self, status: int, *, message: str = "error", retry_after: float | None = None,
             request_id: str | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.server.error(status, message, headers=headers, request_id=request_id)

    def cut_stream(self, text: str, *, after: int) -> None:
        self.server.script(Turn(text=text, cut_after=after))

    def end_stream_early(self, text: str, *, after: int) -> None:
        self.server.script(Turn(text=text, end_after=after))

    def slow(self, seconds: float) -> None:
        self.server.script(Turn(text="late", delay=seconds))

    def drop(self) -> None:
        self.server.queue(Reply(lines=iter([b"{}"]), cut_after=0))


def creds(server: LoopbackServer, **extra: Any) -> dict[str, Any]:
    """The provider configuration of a test router: fixed fake credentials, the server's URL."""
    return {"region": REGION, "aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET,
            "endpoint_url": server.base_url, **extra}


def router_for(server: BedrockServer, *, attempts: int = 1,
               provider: dict[str, Any] | None = None, **router_kw: Any) -> Router:
    """A router with only the bedrock plugin, pointed at ``server``; ``attempts`` tries per
    call, no backoff delay."""
    return Router(providers={"bedrock": creds(server, **(provider or {}))},
                  plugins=["bedrock", *router_kw.pop("plugins", ())],
                  retry=RetryPolicy(max_attempts=attempts, initial_delay=0, jitter=0),
                  **router_kw)
