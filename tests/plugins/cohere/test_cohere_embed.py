"""Cohere embeddings end to end: router → cohere SDK ``embed`` → loopback ``/v2/embed``, sync and
async: input_type (defaulting to search_document), embedding_types, output_dimension, batching
past Cohere's 96 texts per call, usage from billed units and cost."""

from __future__ import annotations

import pytest
from cohere_wire import CohereServer, router_for, vector
from genai_prices import Usage as GUsage
from genai_prices import calc_price

from cencori_core import InvalidRequestError, Usage


@pytest.fixture(scope="module")
def shared_server():
    with CohereServer() as s:
        yield s


@pytest.fixture
def server(shared_server):
    shared_server.reset()
    return shared_server


def _check_default(resp, server):
    (body,) = server.bodies("/v2/embed")
    assert body == {"model": "embed-v4.0", "texts": ["hello world", "bye"],
                    "input_type": "search_document", "embedding_types": ["float"]}
    assert resp.vectors == [vector("hello world", 4), vector("bye", 4)]
    assert resp.usage == Usage(prompt_tokens=3, total_tokens=3)
    assert resp.provider == "cohere" and resp.model == "embed-v4.0"
    expected = calc_price(GUsage(input_tokens=3, output_tokens=0), "embed-v4.0",
                          provider_id="cohere").total_price
    assert resp.cost.total == expected


def test_embed_defaults_sync(server):
    with router_for(server) as router:
        resp = router.embed("embed-v4.0", ["hello world", "bye"])
    _check_default(resp, server)


async def test_embed_defaults_async(server):
    async with router_for(server) as router:
        resp = await router.aembed("embed-v4.0", ["hello world", "bye"])
    _check_default(resp, server)


def test_input_type_and_dimensions(server):
    with router_for(server) as router:
        resp = router.embed("embed-v4.0", "what is a sloth?", input_type="search_query",
                            dimensions=256)
    (body,) = server.bodies("/v2/embed")
    assert body["input_type"] == "search_query" and body["output_dimension"] == 256
    assert len(resp.vectors[0]) == 256


async def test_more_than_96_texts_are_sent_in_batches_async(server):
    texts = [f"document number {i}" for i in range(150)]
    async with router_for(server) as router:
        resp = await router.aembed("embed-english-v3.0", texts, input_type="classification")
    bodies = server.bodies("/v2/embed")
    assert [len(b["texts"]) for b in bodies] == [96, 54]
    assert {b["input_type"] for b in bodies} == {"classification"}
    assert resp.vectors == [vector(t, 4) for t in texts]
    assert resp.usage.prompt_tokens == 3 * 150
    assert resp.cost is None  # embed-english-v3.0 has no price data: never a guess


def test_chat_models_refuse_embeddings_before_the_network(server):
    with router_for(server) as router, pytest.raises(InvalidRequestError, match="embeddings"):
        router.embed("command-a", "x")
    assert server.hits == 0


def test_prefix_routing_for_unlisted_embed_models(server):
    with router_for(server) as router:
        assert router.resolve("embed-english-light-v3.0").provider == "cohere"
        router.embed("embed-english-light-v3.0", "x")
    assert server.bodies("/v2/embed")[0]["model"] == "embed-english-light-v3.0"
