"""The conformance kit's wire calls (:class:`~cencori_core.testing.conformance.ConformanceWire`)
on a :class:`google_wire.GeminiWire`, or on a server built on it (:class:`vertex_wire.VertexWire`).
"""

from __future__ import annotations

import json
from typing import Any

from google_wire import GeminiWire, error, fc_part, response, sse, text_response, usage
from loopback import Recorded, Reply

__all__ = ["GoogleConformanceWire"]

_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def _events(text: str, use: dict[str, Any], *, finish: bool = True) -> list[dict[str, Any]]:
    """``text`` streamed a word per event, every event with the running usage; the last one
    finishes unless ``finish`` is False."""
    words = text.split(" ")
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    return [response([{"text": p}], use=use,
                     finish="STOP" if finish and i == len(pieces) - 1 else None)
            for i, p in enumerate(pieces)]


def _streamed(rec: Recorded) -> bool:
    return rec.path.endswith(":streamGenerateContent")


class GoogleConformanceWire:
    """:class:`GeminiWire` scripted through the kit's :class:`ConformanceWire` calls."""

    def __init__(self, wire: GeminiWire) -> None:
        self.wire = wire
        self.base_url = wire.base_url

    @property
    def hits(self) -> int:
        return len(self.wire.requests)

    def reply(self, text: str, *, usage: tuple[int, int] = (3, 2)) -> None:
        use = _usage(*usage)

        def answer(rec: Recorded) -> Reply:
            if _streamed(rec):
                return sse(_events(text, use))
            return Reply.json(text_response(text, use=use))

        self.wire.reply_any(answer)

    def reply_tool_call(self, name: str, arguments: str) -> None:
        body = response([fc_part(name, json.loads(arguments))], use=_usage(3, 2))
        self.wire.reply_any(lambda rec: sse([body]) if _streamed(rec) else Reply.json(body))

    def fail(self, status: int, *, message: str = "error", retry_after: float | None = None,
             request_id: str | None = None) -> None:
        headers = {"x-request-id": request_id or "req-conformance"}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.wire.fail(error(status, _STATUSES.get(status, "UNKNOWN"), message, headers=headers))

    def cut_stream(self, text: str, *, after: int) -> None:
        self.wire.reply("streamGenerateContent", sse(_events(text, _usage(3, 2)),
                                                     cut_after=after))

    def end_stream_early(self, text: str, *, after: int) -> None:
        self.wire.reply("streamGenerateContent", sse(_events(text, _usage(3, 2))[:after]))

    def slow(self, seconds: float) -> None:
        self.wire.reply_any(lambda rec: Reply(body=text_response("late"), delay=seconds))

    def drop(self) -> None:
        self.wire.fail(Reply(lines=iter([b"{}"]), cut_after=0))


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return usage(prompt, completion)
