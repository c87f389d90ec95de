"""The wire server of the example plugin's ``example_api`` provider (127.0.0.1 only), on
:mod:`loopback`, scriptable as the conformance kit's :class:`ConformanceWire`.

With nothing scripted it reverses the last user message (as the offline ``example`` does).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from loopback import LoopbackServer, Recorded, Reply

__all__ = ["ExampleWire"]

_ids = itertools.count(1)


class ExampleWire:
    def __init__(self) -> None:
        self.server = LoopbackServer()
        self.base_url = self.server.base_url + "/v1"
        self._answers: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self.server.route("POST", "/v1/reverse", self._on_reverse)

    def __enter__(self) -> ExampleWire:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.stop()

    @property
    def hits(self) -> int:
        return self.server.hits

    # ------------------------------------------------------------------ ConformanceWire

    def _push(self, **answer: Any) -> None:
        with self._lock:
            self._answers.append(answer)

    def reply(self, text: str, *, usage: tuple[int, int] = (3, 2)) -> None:
        self._push(text=text, usage=usage)

    def reply_tool_call(self, name: str, arguments: str) -> None:
        self._push(text=None, tool=(name, arguments))

    def fail(self, status: int, *, message: str = "error", retry_after: float | None = None,
             request_id: str | None = None) -> None:
        headers = {"request-id": request_id or f"req-{next(_ids)}"}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.server.fail(status, {"error": {"message": message, "code": f"e{status}"}},
                         headers=headers)

    def cut_stream(self, text: str, *, after: int) -> None:
        self._push(text=text, cut_after=after)

    def end_stream_early(self, text: str, *, after: int) -> None:
        self._push(text=text, end_after=after)

    def slow(self, seconds: float) -> None:
        self._push(text="late", delay=seconds)

    def drop(self) -> None:
        self.server.queue(Reply(lines=iter([b"{}"]), cut_after=0))

    # ------------------------------------------------------------------ the API

    def _on_reverse(self, rec: Recorded) -> Reply:
        body = rec.json or {}
        with self._lock:
            answer = self._answers.popleft() if self._answers else None
        if answer is None:
            users = [m["content"] for m in body.get("messages", []) if m["role"] == "user"]
            answer = {"text": (users[-1] if users else "")[::-1]}
        text, tool = answer.get("text"), answer.get("tool")
        usage = answer.get("usage", (len(body.get("messages", [])), len(text or "")))
        finish = "tool_calls" if tool else "stop"
        headers = {"request-id": f"req-{next(_ids)}"}
        if not body.get("stream"):
            calls = ([{"id": "call_1", "name": tool[0], "arguments": tool[1]}]
                     if tool else [])
            return Reply.json({"id": f"ex-{next(_ids)}", "text": text, "tool_calls": calls,
                               "finish": finish,
                               "usage": {"input": usage[0], "output": usage[1]}},
                              headers=headers, delay=answer.get("delay", 0.0))
        events = list(_events(text, tool, finish, usage))
        if answer.get("end_after") is not None:
            events = events[:answer["end_after"]]
        return Reply(lines=(json.dumps(e).encode() + b"\n" for e in events),
                     content_type="application/x-ndjson", headers=headers,
                     cut_after=answer.get("cut_after"), delay=answer.get("delay", 0.0))


def _events(text: str | None, tool: tuple[str, str] | None, finish: str,
            usage: tuple[int, int]) -> Iterator[dict[str, Any]]:
    if text:
        for i in range(0, len(text), 5):
            yield {"type": "delta", "text": text[i:i + 5]}
    if tool:
        name, args = tool
        half = len(args) // 2
        yield {"type": "tool_call", "index": 0, "id": "call_1", "name": name,
               "arguments": args[:half]}
        yield {"type": "tool_call", "index": 0, "id": None, "name": None,
               "arguments": args[half:]}
    yield {"type": "end", "finish": finish, "usage": {"input": usage[0], "output": usage[1]}}
