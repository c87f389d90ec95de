"""A small loopback HTTP server (127.0.0.1 only) for wire-format tests of provider plugins.

Each provider's test module builds its own wire format on top of :class:`LoopbackServer`:
register handlers per (method, path prefix), and a handler returns a :class:`Reply`. Requests are
recorded (method, path, headers, parsed JSON body or raw bytes) so tests can assert what the SDK
sent. Faults are queued with :meth:`LoopbackServer.fail` (status, headers, body), served before the
handler for that many requests. Streams are sent as SSE with ``Reply.sse(events)`` or as raw lines
(``Reply.lines``), optionally cut mid-way (``cut_after``) to simulate a dropped connection.

The server runs in a daemon thread and stops at the end of the fixture that started it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """A dict/list (sent as JSON), bytes, or str."""
    headers: dict[str, str] = field(default_factory=dict)
    lines: Iterable[bytes] | None = None
    """Streamed body, written and flushed piece by piece (chunked transfer encoding)."""
    delay: float = 0.0
    """Seconds to wait before answering (slow answers, timeouts)."""
    cut_after: int | None = None
    """Stop the stream after this many pieces and drop the connection."""
    content_type: str | None = None

    @classmethod
    def json(cls, body: Any, status: int = 200, **kw: Any) -> Reply:
        return cls(status=status, body=body, **kw)

    @classmethod
    def sse(cls, events: Iterable[Any], *, done: bool = True, named: bool = False,
            **kw: Any) -> Reply:
        """SSE stream of JSON events. With ``named``, each event is ``(event_name, data)``.
        ``done`` appends OpenAI's ``data: [DONE]``."""
        def gen() -> Iterable[bytes]:
            for ev in events:
                if named:
                    name, data = ev
                    payload = data if isinstance(data, str) else json.dumps(data)
                    yield f"event: {name}\ndata: {payload}\n\n".encode()
                else:
                    payload = ev if isinstance(ev, str) else json.dumps(ev)
                    yield f"data: {payload}\n\n".encode()
            if done:
                yield b"data: [DONE]\n\n"

        return cls(lines=gen(), content_type="text/event-stream", **kw)


Handler = Callable[[Recorded], Reply]


class LoopbackServer:
    """An HTTP server on 127.0.0.1 at a free port; ``base_url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, Handler]] = []
        self.requests: list[Recorded] = []
        self._faults: deque[Reply] = deque()
        self._lock = threading.Lock()
        server = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Recorded(self.command, parts.path, parse_qs(parts.query),
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(rec)
                    fault = server._faults.popleft() if server._faults else None
                reply = fault or server._dispatch(rec)
                self._write(reply)

            def _write(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.lines is not None:
                    self.send_response(reply.status)
                    self.send_header("content-type", reply.content_type or "text/event-stream")
                    self.send_header("transfer-encoding", "chunked")
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    try:
                        for i, piece in enumerate(reply.lines):
                            if reply.cut_after is not None and i >= reply.cut_after:
                                self.wfile.flush()
                                self.connection.shutdown(socket.SHUT_RDWR)
                                self.close_connection = True
                                return
                            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError, OSError):
                        self.close_connection = True
                    return
                body = reply.body
                ctype = reply.content_type
                if isinstance(body, (dict, list)):
                    data = json.dumps(body).encode()
                    ctype = ctype or "application/json"
                elif isinstance(body, str):
                    data = body.encode()
                    ctype = ctype or "text/plain"
                elif body is None:
                    data = b""
                else:
                    data = bytes(body)
                    ctype = ctype or "application/octet-stream"
                self.send_response(reply.status)
                if ctype:
                    self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # SDKs close a streamed connection right after its last event; the reset that
                # follows is expected, not a failure worth a traceback on stderr.
                import sys

                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self._httpd = _Server(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    # --- set-up
    def route(self, method: str, path_prefix: str, handler: Handler) -> None:
        """Serve ``method`` requests whose path starts with ``path_prefix`` (longest wins)."""
        self.routes.append((method.upper(), path_prefix, handler))
        self.routes.sort(key=lambda r: -len(r[1]))

    def fail(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None,
             times: int = 1, delay: float = 0.0) -> None:
        """Answer the next ``times`` requests with this status (before any handler)."""
        for _ in range(times):
            self._faults.append(Reply(status=status, body=body, headers=dict(headers or {}),
                                      delay=delay))

    def queue(self, reply: Reply, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``reply`` (before any handler)."""
        for _ in range(times):
            self._faults.append(reply)

    def _dispatch(self, rec: Recorded) -> Reply:
        for method, prefix, handler in self.routes:
            if method == rec.method and rec.path.startswith(prefix):
                try:
                    return handler(rec)
                except Exception as exc:  # a bug in a test handler: make it visible
                    return Reply(status=599, body={"test_handler_error": repr(exc)})
        return Reply(status=404, body={"error": {"message": f"no route {rec.method} {rec.path}"}})

    # --- lifecycle
    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()

    @property
    def hits(self) -> int:
        return len(self.requests)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
