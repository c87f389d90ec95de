"""Bedrock embeddings end to end: InvokeModel with Titan's and Cohere's JSON bodies through the
real boto3 client against the loopback server, sync and async; usage from the body or the
X-Amzn-Bedrock-Input-Token-Count header, Titan priced from genai-prices' aws data."""

from __future__ import annotations

import asyncio

import pytest
from bedrock_fixtures import *  # noqa: F403 - the fixtures (server, mode, ...)
from bedrock_wire import router_for, vector
from genai_prices import Usage as GUsage
from genai_prices import calc_price

from cencori_core import InvalidRequestError, Usage


def embed(router, mode, model, texts, **kw):
    if mode == "sync":
        return router.embed(model, texts, **kw)
    return asyncio.run(router.aembed(model, texts, **kw))


def test_titan_v2_one_call_per_text(server, mode):
    with router_for(server) as router:
        r = embed(router, mode, "bedrock/amazon.titan-embed-text-v2:0", ["hello there", "bye"],
                  dimensions=256)
    assert [server.model_of(q) for q in server.requests] == ["amazon.titan-embed-text-v2:0"] * 2
    assert [q.path.rsplit("/", 1)[-1] for q in server.requests] == ["invoke", "invoke"]
    assert server.requests[0].headers["content-type"] == "application/json"
    assert server.bodies("/invoke") == [{"inputText": "hello there", "dimensions": 256},
                                        {"inputText": "bye", "dimensions": 256}]
    assert r.vectors == [vector("hello there", 256), vector("bye", 256)]
    assert r.usage == Usage(prompt_tokens=3, total_tokens=3)
    ref = calc_price(GUsage(input_tokens=3), "amazon.titan-embed-text-v2:0", provider_id="aws")
    assert r.cost is not None and r.cost.total == ref.total_price


def test_cohere_batches_of_96_with_header_usage(server, mode):
    texts = [f"text number {i}" for i in range(100)]
    with router_for(server) as router:
        r = embed(router, mode, "bedrock/cohere.embed-english-v3", texts,
                  input_type="search_query")
    first, second = server.bodies("/invoke")
    assert first == {"input_type": "search_query", "embedding_types": ["float"],
                     "texts": texts[:96]}
    assert second["texts"] == texts[96:]
    assert len(r.vectors) == 100 and r.vectors[5] == vector("text number 5", 4)
    assert r.usage.prompt_tokens == 300  # summed from each answer's token-count header
    assert r.cost is None  # Cohere embed on Bedrock is not in genai-prices' aws data


def test_cohere_default_input_type_and_v4_dimensions(server, mode):
    with router_for(server) as router:
        r = embed(router, mode, "bedrock/cohere.embed-v4:0", ["a"], dimensions=8)
    assert server.bodies("/invoke")[0] == {"input_type": "search_document",
                                           "embedding_types": ["float"], "output_dimension": 8,
                                           "texts": ["a"]}
    assert len(r.vectors[0]) == 8


@pytest.mark.parametrize("model,kw,param", [
    ("bedrock/amazon.titan-embed-text-v2:0", {"dimensions": 300}, "dimensions"),
    ("bedrock/amazon.titan-embed-text-v1", {"dimensions": 256}, "dimensions"),
    ("bedrock/cohere.embed-english-v3", {"dimensions": 256}, "dimensions"),
    ("bedrock/amazon.nova-pro-v1:0", {}, "model"),
    ("bedrock/some.other-embedder-v1", {}, "model"),
])
def test_bad_embedding_requests_fail_before_sending(server, mode, model, kw, param):
    with router_for(server) as router, pytest.raises(InvalidRequestError) as info:
        embed(router, mode, model, ["x"], **kw)
    assert info.value.param == param and server.hits == 0
