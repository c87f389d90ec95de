"""From the outside: a server or proxy that reflects the request back (its headers and query in
the error message, or in a 200 body of the wrong shape) must not make the key reach the caller.

Each provider's real SDK sends the key its own way (``Authorization: Bearer``, ``x-api-key``,
``x-goog-api-key``); the loopback server below answers every request with a body that quotes
every header and query value it received. The key must not appear in the exception (str, repr,
its cause/context chain, the formatted traceback), in any log line at DEBUG, nor in the usage
record of the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from loopback import LoopbackServer, Recorded, Reply

from cencori_core import CencoriError, Router
from cencori_core.testing import UsageRecorder

SECRET = "sk-outside-REFLECTED-0123456789abcdefXYZ"
TAIL = SECRET[-16:]  # a fragment: a scrubber that masks only the exact key misses a cut copy

# provider -> (model, extra config); base_url is the reflecting server
PROVIDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("gpt-4o", {"path": "/v1"}),
    "anthropic": ("claude-sonnet-4", {}),
    "google": ("gemini-2.5-flash", {}),
    "mistral": ("mistral-large-latest", {}),
    "cohere": ("command-a", {}),
}


def _reflect(status: int) -> Any:
    def handler(rec: Recorded) -> Reply:
        seen = {"headers": rec.headers, "query": rec.query, "path": rec.path}
        text = json.dumps(seen)
        # every provider's error shape at once: each SDK picks the field it knows
        body = {"error": {"message": text, "type": "invalid_request_error", "code": "reflect",
                          "status": "INVALID_ARGUMENT"},
                "message": text, "detail": text, "type": "error"}
        return Reply.json(body, status=status, headers={"x-echo-auth": text[:2000]})
    return handler


@pytest.fixture
def reflecting() -> Iterator[Any]:
    def make(status: int) -> LoopbackServer:
        server = LoopbackServer()
        for method in ("GET", "POST"):
            server.route(method, "/", _reflect(status))
        return server.start()
    servers: list[LoopbackServer] = []

    def factory(status: int) -> LoopbackServer:
        servers.append(make(status))
        return servers[-1]
    yield factory
    for s in servers:
        s.stop()


def _leaks(text: str) -> bool:
    return SECRET in text or TAIL in text


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None:
                stack.append(nxt)
        stack.extend(getattr(e, "exceptions", ()))


CASES = [(p, s) for p in sorted(PROVIDERS) for s in (400, 401, 429, 500, 200)
         if (p, s) != ("openai", 200)]  # see test_outside_garbage_answers.py for that one


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("provider", "status"), CASES)
def test_a_server_reflecting_the_request_never_shows_the_key(provider, status, mode, reflecting,
                                                            caplog):
    model, extra = PROVIDERS[provider]
    server = reflecting(status)
    rec = UsageRecorder()
    router = Router(providers={provider: {"api_key": SECRET,
                                          "base_url": server.base_url + extra.get("path", "")}},
                    plugins=[rec], retry={"max_attempts": 1})
    caplog.set_level(logging.DEBUG)
    kw: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}],
                          "max_tokens": 5}
    with pytest.raises(CencoriError) as info:
        if mode == "sync":
            router.chat(**kw)
        else:
            asyncio.run(router.achat(**kw))
    assert server.hits >= 1, "the request must have reached the reflecting server"
    assert any(SECRET in json.dumps(r.headers) for r in server.requests), "SDK sent the key"
    for e in _chain(info.value):
        assert not _leaks(str(e)), f"{type(e).__name__} str: {e}"
        assert not _leaks(repr(e)), f"{type(e).__name__} repr"
        for arg in e.args:
            assert not _leaks(repr(arg)), f"{type(e).__name__} args"
        for name in ("body", "response", "message", "raw", "partial"):
            value = getattr(e, name, None)
            if value is not None:
                assert not _leaks(repr(value)), f"{type(e).__name__}.{name}"
                body = getattr(value, "text", None)
                if isinstance(body, str):
                    assert not _leaks(body), f"{type(e).__name__}.{name}.text"
    formatted = "".join(traceback.format_exception(info.value))
    assert not _leaks(formatted)
    for record in caplog.records:
        assert not _leaks(record.getMessage()), f"log {record.name}: {record.getMessage()}"
    assert len(rec.records) == 1
    assert not _leaks(repr(rec.records[0].to_dict()))
    router.close()
