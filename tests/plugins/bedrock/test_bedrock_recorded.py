"""A real recorded Bedrock answer (tests/fixtures/recorded/bedrock, sources in SOURCES.md)
replayed through the real boto3 ``bedrock-runtime`` client (SigV4-signed) and the plugin."""

from __future__ import annotations

import pytest
from bedrock_fixtures import *  # noqa: F403 - the fixtures (server, mode, ...)
from bedrock_wire import router_for
from replay_kit import drive, load, serve


@pytest.mark.parametrize("call", ["chat", "achat"])
async def test_nova_lite_converse_answer(server, call):
    """amazon.nova-lite: one text block, stopReason end_turn, usage with totalTokens and no
    cache counts, metrics.latencyMs."""
    rec = load("bedrock", "nova_lite_converse_output.json")
    serve(server, rec)
    with router_for(server) as router:
        r, _ = await drive(router, call, model="bedrock/amazon.nova-lite-v1:0",
                           max_tokens=512, temperature=0.7, top_p=0.9,
                           messages=[{"role": "user", "content": "hello how are you"}])
    assert r.content == rec.json()["output"]["message"]["content"][0]["text"]
    assert r.finish_reason == "stop"
    assert r.tool_calls == [] and r.reasoning is None
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.cache_write_tokens) == (4, 38, 42, 0, 0)
    (req,) = server.requests
    assert req.path == "/model/amazon.nova-lite-v1%3A0/converse"
