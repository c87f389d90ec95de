"""From the outside: a provider (or an OpenAI-compatible proxy) answering 200 with a body that
is not an answer. OpenRouter and several proxies send ``{"error": {...}}`` with status 200 when
the upstream fails; a misconfigured base URL answers ``{}`` or ``[]``. Such an answer must be a
retryable ``ProviderResponseError`` (so a fallback can serve the call), never a successful,
billed response with no content.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

from cencori_core import ProviderResponseError, Router
from cencori_core.testing import UsageRecorder

USER = [{"role": "user", "content": "hi"}]
OWNER = ("owned by slim/streams (plugins/cencori_openai/_convert.py chat_response): a 200 "
         "chat completion without choices becomes an ok response, content None, "
         "finish_reason 'error', instead of a retryable ProviderResponseError")


@pytest.fixture
def server() -> Iterator[Any]:
    made: list[LoopbackServer] = []

    def make(body: Any) -> LoopbackServer:
        s = LoopbackServer()
        s.route("POST", "/", lambda rec: Reply.json(body))
        made.append(s.start())
        return s
    yield make
    for s in made:
        s.stop()


@pytest.mark.parametrize("body", [{}, {"choices": []},
                                  {"error": {"message": "upstream failed", "code": 502}}],
                         ids=["empty", "no-choices", "error-in-200"])
def test_an_openai_200_without_choices_is_a_provider_response_error(server, body):
    wire = server(body)
    rec = UsageRecorder()
    router = Router(providers={"openai": {"api_key": "sk-test", "base_url": wire.base_url
                                          + "/v1"}}, plugins=[rec], retry={"max_attempts": 1})
    try:
        with pytest.raises(ProviderResponseError):
            router.chat(model="gpt-4o", messages=USER)
        assert rec.statuses == ["error"]
    finally:
        router.close()


def test_an_openai_200_error_body_falls_back_to_the_next_model(server):
    wire = server({"error": {"message": "upstream failed", "code": 502}})
    router = Router(providers={"openai": {"api_key": "sk-test", "base_url": wire.base_url
                                          + "/v1"}},
                    fallbacks={"gpt-4o": ["echo/echo"]}, retry={"max_attempts": 1})
    try:
        r = router.chat(model="gpt-4o", messages=USER)
        assert (r.provider, r.content) == ("echo", "echo: hi")
    finally:
        router.close()
