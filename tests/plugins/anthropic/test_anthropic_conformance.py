"""The conformance kit against the anthropic plugin, through the real SDK and
:mod:`anthropic_wire`, on both SDK paths."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from anthropic_wire import AnthropicServer, Turn, error_body, message_json
from loopback import Reply
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core.testing.conformance import ConformanceWire, ProviderConformance

# message_start, ping and content_block_start come before the first text delta.
_PRELUDE = 3
_KINDS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 429: "rate_limit_error", 500: "api_error",
          529: "overloaded_error"}


class AnthropicConformanceWire:
    """:class:`AnthropicServer` scripted through the kit's :class:`ConformanceWire` calls."""

    def __init__(self, server: AnthropicServer) -> None:
        self.server = server
        self.base_url = server.base_url

    @property
    def hits(self) -> int:
        return len(self.server.requests)

    def reply(self, text: str, *, usage: tuple[int, int] = (3, 2)) -> None:
        self.server.script(Turn(text=text, input_tokens=usage[0], output_tokens=usage[1]))

    def reply_tool_call(self, name: str, arguments: str) -> None:
        self.server.script(Turn(text=None, tool_uses=[("toolu_conf", name,
                                                       json.loads(arguments))]))

    def fail(self, status: int, *, message: str = "error", retry_after: float | None = None,
             request_id: str | None = None) -> None:
        headers = {"request-id": request_id or "req_conformance"}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        body = error_body(_KINDS.get(status, "api_error"), message, request_id=request_id)
        self.server.queue(Reply.json(body, status, headers=headers))

    def cut_stream(self, text: str, *, after: int) -> None:
        self.server.script(Turn(text=text, cut_after=_PRELUDE + after))

    def end_stream_early(self, text: str, *, after: int) -> None:
        self.server.script(Turn(text=text, end_after=_PRELUDE + after))

    def slow(self, seconds: float) -> None:
        self.server.queue(Reply.json(message_json(Turn(text="late"), "claude-haiku-4-5"),
                                     delay=seconds))

    def drop(self) -> None:
        self.server.queue(Reply(lines=iter([b"{}"]), cut_after=0))


class TestAnthropic(ProviderConformance):
    plugin = "anthropic"
    provider = "anthropic"
    model = "claude-haiku-4-5"
    sdk_modules = ("anthropic", "httpx2")

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        with AnthropicServer() as server:
            yield AnthropicConformanceWire(server)
