"""One harness per provider for the structured-output and common-parameter tests (issue 17):
a router on that provider's loopback wire server (its real SDK, its real wire format), a way to
script the next answer (text, or one tool call; streamed when the request streams), and the chat
request bodies the server received::

    with harness("anthropic") as h:
        h.answer('{"name": "Paris"}')
        h.router.chat(model=h.model, messages=..., response_format=City)
        h.bodies()[-1]["output_config"]            # what the SDK sent

``NATIVE`` names the providers whose model has the catalog's ``json`` capability (the schema
goes in the provider's own structured-output field); ``FORCED`` models lack it but have tools
(the schema travels as a forced tool call).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from anthropic_wire import AnthropicServer, Turn
from cohere_wire import CohereConformanceWire, CohereServer
from google_wire import API_KEY as GOOGLE_KEY
from google_wire import GeminiWire, fc_part, response, sse, text_response, usage
from loopback import Recorded, Reply
from mistral_wire import MistralConformanceWire, MistralWire
from openai_wire import OpenAIWire

from cencori_core import RetryPolicy, Router

__all__ = ["Harness", "harness", "NATIVE", "FORCED", "ALL"]

NATIVE = ("openai", "xai", "deepseek", "anthropic", "google", "mistral", "cohere")
FORCED = ("anthropic-legacy",)
ALL = NATIVE + FORCED

_KEYS = {"openai": "sk-test-structured-0123456789", "xai": "xai-test-structured-0123456789",
         "deepseek": "sk-ds-test-structured-0123456789", "meta": "LLM|test-structured-012345",
         "anthropic": "sk-ant-test-structured-0123456789",
         "mistral": "mistral-test-structured-0123456789",
         "cohere": "cohere-test-structured-0123456789", "google": GOOGLE_KEY}


@dataclass
class Harness:
    name: str
    provider: str
    model: str
    router: Router
    answer: Callable[[str], None]
    """Script the next answer as this text (streamed in pieces when the request streams)."""
    answer_tool: Callable[[str, str], None]
    """Script the next answer as one call of tool ``name`` with JSON ``arguments``."""
    bodies: Callable[[], list[dict[str, Any]]]
    """The chat request bodies received, in order."""
    raw: Any
    """The wire server itself, for provider-specific scripting."""


def _router(provider: str, base_url: str, plugin: str, hooks: tuple[Any, ...]) -> Router:
    return Router(providers={provider: {"api_key": _KEYS[provider], "base_url": base_url}},
                  plugins=[plugin, *hooks], retry=RetryPolicy(max_attempts=1))


def _streamed(rec: Recorded) -> bool:
    return rec.path.endswith(":streamGenerateContent")


def _google_text(text: str) -> Callable[[Recorded], Reply]:
    def answer(rec: Recorded) -> Reply:
        use = usage(3, 2)
        if _streamed(rec):
            pieces = [text[i:i + 7] for i in range(0, len(text), 7)] or [""]
            return sse([response([{"text": p}], use=use,
                                 finish="STOP" if i == len(pieces) - 1 else None)
                        for i, p in enumerate(pieces)])
        return Reply.json(text_response(text, use=use))
    return answer


# the OpenAI dialects, on the one OpenAI wire server, and a model of each
_OPENAI_MODELS = {"openai": "gpt-4o", "xai": "grok-3", "deepseek": "deepseek-chat",
                  "meta": "llama-3.3-70b"}


@contextmanager
def harness(name: str, *hooks: Any) -> Iterator[Harness]:
    """The harness of ``name`` (one of :data:`ALL`), its server stopped and router closed after;
    ``hooks`` are hook plugins for its router (a ``UsageRecorder``, ...)."""
    if name in _OPENAI_MODELS:
        with OpenAIWire() as ow:
            r = _router(name, ow.base_url, "openai", hooks)
            yield Harness(
                name, name, _OPENAI_MODELS[name], r,
                lambda t: ow.chat_reply(t, chunk_size=5) and None,
                lambda n, a: ow.chat_reply(None, tool_calls=[{"name": n, "arguments": a}])
                and None,
                lambda: [q.json for q in ow.requests_to("/chat/completions")], ow)
            r.close()
    elif name in ("anthropic", "anthropic-legacy"):
        with AnthropicServer() as server:
            r = _router("anthropic", server.base_url, "anthropic", hooks)
            model = "claude-haiku-4-5" if name == "anthropic" else "claude-3-5-haiku-20241022"
            yield Harness(
                name, "anthropic", model, r,
                lambda t: server.script(Turn(text=t, chunk=5)),
                lambda n, a: server.script(Turn(text=None,
                                                tool_uses=[("toolu_s1", n, json.loads(a))])),
                lambda: list(server.bodies), server)
            r.close()
    elif name == "google":
        with GeminiWire(api_key=GOOGLE_KEY) as gw:
            r = _router("google", gw.base_url, "google", hooks)

            def tool(n: str, a: str) -> None:
                body = response([fc_part(n, json.loads(a))], use=usage(3, 2))
                gw.reply_any(lambda rec: sse([body]) if _streamed(rec) else Reply.json(body))

            yield Harness(name, "google", "gemini-2.5-flash", r,
                          lambda t: gw.reply_any(_google_text(t)), tool,
                          lambda: [q.json for q in gw.requests if "generateContent" in q.path
                                   or "GenerateContent" in q.path], gw)
            r.close()
    elif name == "mistral":
        mw = MistralWire().start()
        cw = MistralConformanceWire(mw)
        r = _router("mistral", mw.base_url, "mistral", hooks)
        try:
            yield Harness(name, "mistral", "mistral-small-latest", r, cw.reply,
                          cw.reply_tool_call,
                          lambda: [q.json for q in mw.requests
                                   if q.path.endswith("/chat/completions")], mw)
        finally:
            r.close()
            mw.stop()
    elif name == "cohere":
        with CohereServer() as cs:
            cc = CohereConformanceWire(cs)
            r = _router("cohere", cs.base_url, "cohere", hooks)
            yield Harness(name, "cohere", "command-a-03-2025", r, cc.reply, cc.reply_tool_call,
                          lambda: cs.bodies("/v2/chat"), cs)
            r.close()
    else:  # pragma: no cover - a typo in a test
        raise ValueError(name)
