"""Rerank on OpenAI-compatible servers end to end: router → openai SDK ``client.post("/rerank")``
→ a loopback server speaking vLLM's ``/v1/rerank``, sync and async: the body and key sent,
results best first with their documents, token usage, errors mapped by the plugin, servers that
answer ``data`` instead of ``results``, and OpenAI itself (no rerank API) refused."""

from __future__ import annotations

import pytest
from loopback import Reply
from rerank_wire import KEY, RerankServer, router_for, scores

from cencori_core import (
    InvalidRequestError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    RerankResult,
    Router,
)

MODEL = "local/bge-reranker-v2-m3"
QUERY = "what is vllm used for"
DOCS = ["The capital of France is Paris.", "vLLM is used for fast LLM inference.",
        "Cats are small domesticated carnivores."]


@pytest.fixture(scope="module")
def shared_server():
    with RerankServer() as s:
        yield s


@pytest.fixture
def server(shared_server):
    shared_server.reset()
    return shared_server


def _check(resp, server, top_n=None):
    (body,) = server.bodies()
    want = {"model": "bge-reranker-v2-m3", "query": QUERY, "documents": DOCS,
            "return_documents": False}
    if top_n is not None:
        want["top_n"] = top_n
    assert body == want
    assert server.last().headers["authorization"] == f"Bearer {KEY}"
    assert resp.results == [RerankResult(index=i, relevance_score=s, document=DOCS[i])
                            for i, s in scores(QUERY, DOCS)[:top_n]]
    assert resp.results[0].index == 1
    tokens = len(QUERY.split()) + sum(len(d.split()) for d in DOCS)
    assert resp.usage.prompt_tokens == resp.usage.total_tokens == tokens
    assert resp.usage.source == "provider"
    assert resp.provider == "local" and resp.model == "bge-reranker-v2-m3"
    assert resp.id.startswith("rerank-")


def test_rerank_sync(server):
    with router_for(server) as router:
        resp = router.rerank(MODEL, QUERY, DOCS)
    _check(resp, server)


async def test_rerank_async_top_n(server):
    async with router_for(server) as router:
        resp = await router.arerank(MODEL, QUERY, DOCS, top_n=2)
    _check(resp, server, top_n=2)


def test_event_loops_one_after_another(server):
    import asyncio

    with router_for(server) as router:
        for _ in range(2):
            resp = asyncio.run(router.arerank(MODEL, QUERY, DOCS, top_n=1))
            assert [r.index for r in resp.results] == [1]


def test_provider_options_are_merged_into_the_body(server):
    with router_for(server) as router:
        router.rerank(MODEL, QUERY, DOCS, provider_options={"truncate_prompt_tokens": 256})
    assert server.bodies()[0]["truncate_prompt_tokens"] == 256


def test_data_instead_of_results_and_no_usage(server):
    server.queue(Reply.json({"object": "list", "model": "bge-reranker-v2-m3",
                             "data": [{"index": 2, "relevance_score": 0.1},
                                      {"index": 0, "relevance_score": 0.7}]}))
    with router_for(server) as router:
        resp = router.rerank(MODEL, QUERY, DOCS)
    assert [(r.index, r.document) for r in resp.results] == [(0, DOCS[0]), (2, DOCS[2])]
    assert resp.usage.source == "estimated" and resp.usage.prompt_tokens > 0


@pytest.mark.parametrize("status,cls", [(400, ProviderBadRequestError), (401, ProviderAuthError),
                                        (429, ProviderRateLimitError)])
async def test_errors_are_mapped_sync_and_async(server, status, cls):
    server.error(status, f"refused {KEY}")
    with router_for(server) as router, pytest.raises(cls) as info:
        router.rerank(MODEL, QUERY, DOCS)
    server.error(status, f"refused {KEY}")
    async with router_for(server) as router:
        with pytest.raises(cls) as ainfo:
            await router.arerank(MODEL, QUERY, DOCS)
    for err in (info.value, ainfo.value):
        assert err.status_code == status and err.provider == "local"
        assert KEY not in str(err) and KEY not in repr(err)


def test_timeout(server):
    server.queue(Reply.json({"results": []}, delay=1.0))
    with router_for(server) as router, pytest.raises(ProviderTimeoutError):
        router.rerank(MODEL, QUERY, DOCS, timeout=0.2)


@pytest.mark.parametrize("answer", ["not json at all", [1, 2], {"results": {"index": 0}},
                                    {"results": [{"index": -1, "relevance_score": 1.0}]}])
def test_malformed_answers(server, answer):
    server.queue(Reply.json(answer) if not isinstance(answer, str) else
                 Reply(body=answer, content_type="application/json"))
    with router_for(server) as router, pytest.raises(ProviderResponseError):
        router.rerank(MODEL, QUERY, DOCS)


def test_openai_itself_has_no_rerank(server):
    router = Router(providers={"openai": {"api_key": "sk-x", "base_url": server.base_url}},
                    plugins=["openai"])
    with router, pytest.raises(InvalidRequestError, match="does not support rerank"):
        router.rerank("openai/gpt-4o", QUERY, DOCS)
    assert server.hits == 0
