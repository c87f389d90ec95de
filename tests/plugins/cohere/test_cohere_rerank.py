"""Cohere rerank end to end: router → cohere SDK ``ClientV2.rerank`` → loopback ``/v2/rerank``,
sync and async: the body sent, results best first with their documents, top_n, search units and
cost (none in the price data: None with a reason; priced with ``per_search_unit``), errors
mapped, a malformed answer, and ``rerank-*`` names refused by chat."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cohere_wire import KEY, CohereServer, rerank_scores, router_for
from loopback import Reply

from cencori_core import (
    InvalidRequestError,
    ProviderAuthError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    RerankResult,
)
from cencori_core.testing import UsageRecorder

QUERY = "where is the eiffel tower"
DOCS = ["Sloths are slow.", "The Eiffel tower is in Paris.", "Where is the nearest tower?"]


@pytest.fixture(scope="module")
def shared_server():
    with CohereServer() as s:
        yield s


@pytest.fixture
def server(shared_server):
    shared_server.reset()
    return shared_server


def _expected(top_n: int | None = None) -> list[RerankResult]:
    return [RerankResult(index=i, relevance_score=s, document=DOCS[i])
            for i, s in rerank_scores(QUERY, DOCS)[:top_n]]


def _check(resp, server, top_n=None):
    (body,) = server.bodies("/v2/rerank")
    want = {"model": "rerank-v3.5", "query": QUERY, "documents": DOCS}
    if top_n is not None:
        want["top_n"] = top_n
    assert body == want
    assert resp.results == _expected(top_n)
    assert resp.results[0].document == "The Eiffel tower is in Paris."
    assert resp.provider == "cohere" and resp.model == "rerank-v3.5" and resp.id
    assert resp.usage.search_units == 1 and resp.usage.source == "provider"
    assert [a.status for a in resp.attempts] == ["ok"]


def test_rerank_sync(server):
    rec = UsageRecorder()
    with router_for(server, plugins=[rec]) as router:
        resp = router.rerank("rerank-v3.5", QUERY, DOCS)
    _check(resp, server)
    # genai-prices has no rerank prices: no cost, and the record says why
    assert resp.cost is None
    (record,) = rec.records
    assert record.operation == "rerank" and record.status == "ok"
    assert record.usage.search_units == 1 and "rerank-v3.5" in record.cost_reason


async def test_rerank_async_with_top_n(server):
    async with router_for(server) as router:
        resp = await router.arerank("rerank-v3.5", QUERY, DOCS, top_n=2)
    _check(resp, server, top_n=2)


def test_search_units_are_priced_with_an_override(server):
    docs = [f"document {i}" for i in range(250)]
    with router_for(server, prices={"rerank-v3.5": {"per_search_unit": "0.002"}}) as router:
        resp = router.rerank("rerank-v3.5", "document 7", docs, top_n=3)
    # the wire bills one search unit per 100 documents, like Cohere
    assert resp.usage.search_units == 3
    assert resp.cost.total == Decimal("0.006") and resp.cost.input == Decimal("0.006")
    assert resp.results[0].document == "document 7"


def test_dict_documents_and_provider_options(server):
    with router_for(server) as router:
        resp = router.rerank("rerank-v3.5", QUERY, [{"text": d} for d in DOCS],
                             provider_options={"max_tokens_per_doc": 512})
    (body,) = server.bodies("/v2/rerank")
    assert body["documents"] == DOCS and body["max_tokens_per_doc"] == 512
    assert resp.results == _expected()


def test_rerank_names_are_not_chat_models(server):
    with router_for(server) as router:
        for model in ("rerank-v3.5", "rerank-v9.9-future"):  # catalog entry, then prefix
            with pytest.raises(InvalidRequestError, match="rerank"):
                router.chat(model=model, messages=[{"role": "user", "content": "Hi"}])
            with pytest.raises(InvalidRequestError, match="rerank"):
                with router.chat_stream(model=model,
                                        messages=[{"role": "user", "content": "Hi"}]) as s:
                    list(s)
        with pytest.raises(InvalidRequestError, match="does not support rerank"):
            router.rerank("command-a-03-2025", QUERY, DOCS)
        assert router.resolve("rerank-v3.5").provider == "cohere"
    assert server.hits == 0


@pytest.mark.parametrize("status,cls,retryable", [
    (401, ProviderAuthError, False), (498, ProviderAuthError, False),
    (429, ProviderRateLimitError, True), (500, ProviderServerError, True)])
async def test_errors_are_mapped_sync_and_async(server, status, cls, retryable):
    with router_for(server) as router:
        server.error(status, f"no luck for {KEY}", headers={"retry-after": "3"})
        with pytest.raises(cls) as info:
            router.rerank("rerank-v3.5", QUERY, DOCS)
    async with router_for(server) as router:
        server.error(status, f"no luck for {KEY}", headers={"retry-after": "3"})
        with pytest.raises(cls) as ainfo:
            await router.arerank("rerank-v3.5", QUERY, DOCS)
    for err in (info.value, ainfo.value):
        assert err.status_code == status and err.retryable is retryable
        assert err.provider == "cohere" and KEY not in str(err) and KEY not in repr(err)
    if status == 429:
        assert info.value.retry_after == 3.0


@pytest.mark.parametrize("results", [
    [{"index": 3, "relevance_score": 0.5}],                       # no such document
    [{"index": 0, "relevance_score": 0.5}, {"index": 0, "relevance_score": 0.4}],  # twice
    [{"index": 0, "relevance_score": "high"}],                    # not a number
    "not a list",
])
def test_malformed_answers_are_provider_response_errors(server, results):
    server.queue(Reply.json({"id": "r1", "results": results,
                             "meta": {"billed_units": {"search_units": 1}}}))
    with router_for(server) as router, pytest.raises(ProviderResponseError) as info:
        router.rerank("rerank-v3.5", QUERY, DOCS)
    assert info.value.retryable is True


def test_retry_after_a_server_error_then_success(server):
    server.error(503, "busy")
    with router_for(server, attempts=2) as router:
        resp = router.rerank("rerank-v3.5", QUERY, DOCS)
    assert [a.status for a in resp.attempts] == ["ProviderServerError", "ok"]
    assert resp.results == _expected()
