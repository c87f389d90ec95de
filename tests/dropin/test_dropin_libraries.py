"""Real consumers nobody here wrote, given our drop-in client: pydantic-ai (``OpenAIProvider(
openai_client=...)``, producing a pydantic model) and langchain-openai (``ChatOpenAI(client=...,
async_client=...)``), against the echo provider and a non-OpenAI provider's wire server
(Anthropic, Gemini) with the real provider SDK underneath. Test dependencies only."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from dropin_backends import Backend, backend
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from cencori_core import Router
from cencori_core.testing import UsageRecorder


class City(BaseModel):
    name: str
    country: str


@pytest.fixture(params=["anthropic", "google"])
def b(request: pytest.FixtureRequest) -> Any:
    with backend(request.param) as be:
        yield be


def langchain(router: Router, model: str) -> ChatOpenAI:
    c, a = router.openai_client(), router.async_openai_client()
    return ChatOpenAI(model=model, client=c.chat.completions, root_client=c,
                      async_client=a.chat.completions, root_async_client=a, api_key="unused")


def pydantic_ai(router: Router, model: str, **agent_kw: Any) -> Agent[None, Any]:
    provider = OpenAIProvider(openai_client=router.async_openai_client())
    return Agent(OpenAIChatModel(model, provider=provider), **agent_kw)


# ---------------------------------------------------------------------------- echo


def test_langchain_on_echo_sync_async_and_streamed() -> None:
    rec = UsageRecorder()
    with Router(load_entrypoints=False, plugins=[rec]) as r:
        llm = langchain(r, "echo/echo")
        assert llm.invoke("hello lang").content == "echo: hello lang"
        assert "".join(str(c.content) for c in llm.stream("hello stream")) \
            == "echo: hello stream"
        assert asyncio.run(llm.ainvoke("hello async")).content == "echo: hello async"
    assert rec.statuses == ["ok", "ok", "ok"]


def test_pydantic_ai_on_echo() -> None:
    with Router(load_entrypoints=False) as r:
        agent = pydantic_ai(r, "echo/echo")
        assert agent.run_sync("hello agent").output == "echo: hello agent"

        async def streamed() -> str:
            async with agent.run_stream("hello stream") as res:
                return "".join([t async for t in res.stream_text(delta=True)])

        assert asyncio.run(streamed()) == "echo: hello stream"


# ---------------------------------------------------------------------------- wire servers


def test_pydantic_ai_produces_a_pydantic_model(b: Backend) -> None:
    # pydantic-ai's default structured output is a forced "final_result" tool call
    b.tool_call("final_result", {"name": "Paris", "country": "France"})
    agent = pydantic_ai(b.router, b.model, output_type=City)
    result = agent.run_sync("The capital of France?")
    assert result.output == City(name="Paris", country="France")
    assert result.usage.input_tokens > 0


def test_langchain_structured_output_and_tools(b: Backend) -> None:
    b.text(json.dumps({"name": "Paris", "country": "France"}))
    llm = langchain(b.router, b.model)
    assert llm.with_structured_output(City).invoke("The capital of France?") \
        == City(name="Paris", country="France")

    b.tool_call("get_weather", {"city": "Oslo"})

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    msg = asyncio.run(llm.bind_tools([get_weather]).ainvoke("Weather in Oslo?"))
    assert msg.tool_calls[0]["name"] == "get_weather"
    assert msg.tool_calls[0]["args"] == {"city": "Oslo"}


def test_langchain_streams_from_a_non_openai_provider(b: Backend) -> None:
    b.text("one two three")
    llm = langchain(b.router, b.model)
    assert "".join(str(c.content) for c in llm.stream("count")) == "one two three"
