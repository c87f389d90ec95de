"""Every provider's wire server behind one small interface, for the drop-in's tests: start it,
build a router pointed at it, script a text answer or a tool call (served as JSON or as a stream,
as the SDK asks).

    with backend("anthropic") as b:
        b.text("Paris")
        client = b.router.openai_client()
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from anthropic_wire import AnthropicServer, Turn
from azure_wire import VERSION as AZURE_VERSION
from azure_wire import AzureWire
from bedrock_wire import BedrockServer, creds
from bedrock_wire import Turn as BedrockTurn
from cohere_wire import CohereConformanceWire, CohereServer
from google_wire import API_KEY as GOOGLE_KEY
from google_wire import GeminiWire, fc_part, response, sse, text_response, usage
from loopback import Recorded, Reply
from mistral_wire import MistralConformanceWire, MistralWire
from openai_wire import OpenAIWire

from cencori_core import RetryPolicy, Router

__all__ = ["Backend", "backend", "PROVIDERS", "KEY"]

KEY = "sk-dropin-test-5e0f1a2b3c4d5e6f7a8b"

# provider -> (plugin, chat model, embedding model or None)
PROVIDERS: dict[str, tuple[str, str, str | None]] = {
    "openai": ("openai", "gpt-4o", "text-embedding-3-small"),
    "xai": ("openai", "grok-3", None),
    "deepseek": ("openai", "deepseek-chat", None),
    "anthropic": ("anthropic", "claude-haiku-4-5", None),
    "google": ("google", "gemini-2.5-flash", "gemini-embedding-001"),
    "mistral": ("mistral", "mistral-small-latest", "mistral-embed"),
    "cohere": ("cohere", "command-a-03-2025", "embed-v4.0"),
    "azure": ("openai", "azure/my-gpt-4o", "azure/my-embed"),
    "bedrock": ("bedrock", "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
                "bedrock/amazon.titan-embed-text-v2:0"),
}


@dataclass
class Backend:
    provider: str
    model: str
    embed_model: str | None
    router: Router
    text: Callable[[str], None]
    """Script the next chat answer: this text."""
    tool_call: Callable[[str, dict[str, Any]], None]
    """Script the next chat answer: one call of tool ``name`` with these arguments."""
    server: Any = field(repr=False, default=None)


def _google_answer(body: dict[str, Any]) -> Callable[[Recorded], Reply]:
    def answer(rec: Recorded) -> Reply:
        if rec.path.endswith(":streamGenerateContent"):
            return sse([body])
        return Reply.json(body)

    return answer


@contextlib.contextmanager
def backend(provider: str, **router_kw: Any) -> Iterator[Backend]:
    """A started wire server for ``provider`` and a router configured for it."""
    plugin, model, embed = PROVIDERS[provider]
    with contextlib.ExitStack() as stack:
        key = KEY
        config: dict[str, Any] | None = None  # the provider's table, when not key + base_url
        if provider == "azure":
            az = stack.enter_context(AzureWire())
            server = az
            config = {"endpoint": az.endpoint, "api_key": az.api_key,
                      "api_version": AZURE_VERSION,
                      "deployments": {"my-gpt-4o": "gpt-4o", "my-embed": "text-embedding-3-small"}}

            def text(t: str) -> None:
                az.chat_reply(t)

            def tool(name: str, args: dict[str, Any]) -> None:
                az.chat_reply(None, tool_calls=[{"name": name, "arguments": json.dumps(args)}])
        elif provider == "bedrock":
            bd = stack.enter_context(BedrockServer())
            server = bd
            config = creds(bd)

            def text(t: str) -> None:
                bd.script(BedrockTurn(text=t))

            def tool(name: str, args: dict[str, Any]) -> None:
                bd.script(BedrockTurn(text=None, tool_calls=[("tooluse_dropin1", name, args)]))
        elif plugin == "openai":
            w = stack.enter_context(OpenAIWire())
            server: Any = w

            def text(t: str) -> None:
                w.chat_reply(t)

            def tool(name: str, args: dict[str, Any]) -> None:
                w.chat_reply(None, tool_calls=[{"name": name, "arguments": json.dumps(args)}])
        elif plugin == "anthropic":
            a = stack.enter_context(AnthropicServer())
            server = a

            def text(t: str) -> None:
                a.script(Turn(text=t))

            def tool(name: str, args: dict[str, Any]) -> None:
                a.script(Turn(text=None, tool_uses=[("toolu_dropin1", name, args)]))
        elif plugin == "google":
            key = GOOGLE_KEY
            g = stack.enter_context(GeminiWire(api_key=key))
            server = g

            def text(t: str) -> None:
                g.reply_any(_google_answer(text_response(t, use=usage(3, 2))))

            def tool(name: str, args: dict[str, Any]) -> None:
                g.reply_any(_google_answer(response([fc_part(name, args)], use=usage(3, 2))))
        else:
            if plugin == "mistral":
                m = MistralWire().start()
                stack.callback(m.stop)
                conf: Any = MistralConformanceWire(m)
            else:
                c = stack.enter_context(CohereServer())
                conf = CohereConformanceWire(c)
            server = conf

            def text(t: str) -> None:
                conf.reply(t)

            def tool(name: str, args: dict[str, Any]) -> None:
                conf.reply_tool_call(name, json.dumps(args))
        if config is None:
            config = {"api_key": key, "base_url": server.base_url}
        router = Router(providers={provider: config},
                        plugins=[plugin, *router_kw.pop("plugins", ())],
                        retry=router_kw.pop("retry", RetryPolicy(max_attempts=1)), **router_kw)
        stack.callback(router.close)
        yield Backend(provider, model, embed, router, text, tool, server)
