"""Replay mode for the loopback wire servers: answer with a REAL recorded provider answer.

The wire servers (``tests/support/*_wire.py``) build answers from our reading of each API; a
recording is what the provider really sent. Recordings live under
``tests/fixtures/recorded/<provider>/`` (each folder's ``SOURCES.md`` names the public repository,
path and commit each file was taken from) in three forms:

- ``*.json`` / ``*.sse``: a raw response body, served byte for byte (status 200);
- ``*.yaml``: a VCR cassette (vcrpy / pytest-recording), one entry per recorded interaction
  (``response: {status: {code}, headers, body: {string}}``; pydantic-ai's cassettes keep a JSON
  body parsed, as ``parsed_body``, and a text body as ``body: {content}``); a gzip body
  (``!!binary`` with ``Content-Encoding: gzip``) is unpacked, since the loopback server sends no
  content-encoding.

:func:`serve` queues recordings on a server (any :class:`~loopback.LoopbackServer`, or a wire
object holding one as ``server`` / ``http``): each answers the next request, before any scripted
turn, so the real SDK parses the provider's own bytes and the plugin's conversion runs on them.
A streamed body is written in pieces cut at event boundaries (``\\n\\n``), like a server flushing
events; the bytes are unchanged.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from loopback import LoopbackServer, Reply

__all__ = ["Recording", "load", "cassette", "serve", "drive", "MODES", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"

# Hop-by-hop or encoding headers of the original exchange: the loopback server frames the body
# itself (content-length or chunked), and sends it unencoded.
_DROP = {"content-encoding", "content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class Recording:
    """One recorded answer: status, the headers worth keeping, and the body's bytes."""

    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json")

    @property
    def streamed(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[Any]:
        """The JSON ``data:`` payloads of a streamed body (``[DONE]`` left out)."""
        out = []
        for line in self.body.decode().splitlines():
            if line.startswith("data:"):
                data = line[5:].strip()
                if data and data != "[DONE]":
                    out.append(json.loads(data))
        return out

    def events_of_array(self) -> list[Any]:
        """The elements of a recorded JSON-array stream (Gemini without ``alt=sse``)."""
        return list(json.loads(self.body))

    def as_sse(self) -> Recording:
        """A recorded ``streamGenerateContent`` JSON array (Gemini without ``alt=sse``) as the
        SSE stream google-genai asks for: each element, unchanged, as one ``data:`` event in
        Google's ``\\r\\n\\r\\n`` framing. Only the framing differs from the recording."""
        events = self.events_of_array()
        body = b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\r\n\r\n"
                        for e in events)
        return Recording(body=body, status=self.status,
                         headers={**self.headers, "content-type": "text/event-stream"},
                         name=self.name)

    def reply(self) -> Reply:
        """This recording as the loopback server's answer."""
        if self.streamed:
            return Reply(status=self.status, lines=_pieces(self.body),
                         content_type=self.content_type, headers=self._extra())
        return Reply(status=self.status, body=self.body, content_type=self.content_type,
                     headers=self._extra())

    def _extra(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k != "content-type"}


def _pieces(body: bytes) -> list[bytes]:
    """``body`` cut after each blank line (an SSE event's end); joined, the pieces are ``body``."""
    out: list[bytes] = []
    start = 0
    for sep in (b"\r\n\r\n", b"\n\n"):
        if sep in body:
            while (end := body.find(sep, start)) != -1:
                out.append(body[start:end + len(sep)])
                start = end + len(sep)
            break
    if start < len(body):
        out.append(body[start:])
    return out


def _headers(raw: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in raw.items():
        key = k.lower()
        if key not in _DROP:
            out[key] = v[0] if isinstance(v, list) else str(v)
    return out


def cassette(provider: str, name: str) -> list[Recording]:
    """Every response of the VCR cassette ``<provider>/<name>``, in recorded order."""
    data = yaml.safe_load((ROOT / provider / name).read_text())
    out = []
    for i, interaction in enumerate(data["interactions"]):
        resp = interaction["response"]
        raw_headers = resp.get("headers") or {}
        body = _body(resp)
        if isinstance(body, str):
            body = body.encode()
        encoding = {k.lower(): v for k, v in raw_headers.items()}.get("content-encoding")
        if encoding and "gzip" in (encoding[0] if isinstance(encoding, list) else encoding):
            body = gzip.decompress(body)
        out.append(Recording(body=body, status=int(resp["status"]["code"]),
                             headers=_headers(raw_headers), name=f"{name}#{i}"))
    return out


def _body(resp: dict[str, Any]) -> Any:
    """The response body of a cassette entry: vcrpy's ``body.string``, or pydantic-ai's form of
    the same recording (``parsed_body``: the JSON body as YAML, dumped back to JSON; ``body:
    {type: text, content}``: the text body verbatim)."""
    if "parsed_body" in resp:
        return json.dumps(resp["parsed_body"], ensure_ascii=False)
    body = resp["body"]
    return body["string"] if "string" in body else body["content"]


def load(provider: str, name: str, *, status: int = 200,
         headers: dict[str, str] | None = None) -> Recording:
    """The raw recorded body ``<provider>/<name>`` (``.json`` or ``.sse``)."""
    path = ROOT / provider / name
    ctype = "text/event-stream" if path.suffix == ".sse" else "application/json"
    return Recording(body=path.read_bytes(), status=status,
                     headers={"content-type": ctype, **(headers or {})}, name=name)


def serve(target: Any, *recordings: Recording) -> None:
    """Queue ``recordings`` on ``target``'s server: each answers the next request, in order."""
    server = target
    for attr in ("server", "http"):
        if not isinstance(server, LoopbackServer):
            server = getattr(target, attr, server)
    if not isinstance(server, LoopbackServer):
        raise TypeError(f"no loopback server in {target!r}")
    for rec in recordings:
        server.queue(rec.reply())


MODES = ("chat", "achat", "stream", "astream")
"""The four ways a test drives a recording through the router."""


async def drive(router: Any, mode: str, **kw: Any) -> tuple[Any, list[Any]]:
    """Run one chat call ``mode`` (see :data:`MODES`): (the response, the chunks streamed).

    A streamed recording must be read with ``stream``/``astream``, a JSON one with
    ``chat``/``achat``; the request says ``stream`` accordingly, as the SDK would."""
    chunks: list[Any] = []
    if mode == "chat":
        return router.chat(**kw), chunks
    if mode == "achat":
        return await router.achat(**kw), chunks
    if mode == "stream":
        with router.chat_stream(**kw) as s:
            chunks.extend(s)
        return s.response, chunks
    async with router.achat_stream(**kw) as s:
        async for c in s:
            chunks.append(c)
    return s.response, chunks
