"""router.rerank / arerank through the pipeline on the offline providers (echo, FakeProvider):
validation before anything runs, the normalized response, policies that see (and redact) the
query and documents, records, callbacks, budgets, spans and capability checks."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cencori_core import (
    BudgetExceededError,
    InvalidRequestError,
    ModelInfo,
    PolicyViolationError,
    RerankRequest,
    RerankResponse,
    RerankResult,
    Router,
    Usage,
)
from cencori_core.policies import PII, Secrets
from cencori_core.testing import FakeProvider, UsageRecorder

DOCS = ["red apples and pears", "a green pear", "the red apple pie"]


def fake_router(**kw):
    fake = FakeProvider(models=["rr-1"])
    rec = UsageRecorder()
    router = Router(providers={"fake": fake}, plugins=[rec, *kw.pop("plugins", ())],
                    load_entrypoints=False, **kw)
    return router, fake, rec


def test_echo_ranks_best_first_sync_and_async():
    router = Router(load_entrypoints=False)
    resp = router.rerank("echo", "red apple", DOCS)
    aresp = asyncio.run(router.arerank("echo", "red apple", DOCS))
    assert [(r.index, r.document) for r in resp.results] == [
        (2, DOCS[2]), (0, DOCS[0]), (1, DOCS[1])]
    assert [r.relevance_score for r in resp.results] == [1.0, 0.5, 0.0]
    assert [r.to_dict() for r in aresp.results] == [r.to_dict() for r in resp.results]
    assert isinstance(resp, RerankResponse) and resp.provider == "echo"
    assert resp.attempts and resp.id.startswith("req_") and resp.latency_ms >= 0
    top = router.rerank("echo", "red apple", DOCS, top_n=1)
    assert [r.index for r in top.results] == [2]


def test_dict_documents_are_their_text():
    router, fake, _ = fake_router()
    router.rerank("fake/rr-1", "q", [{"text": "a", "id": 7}, "b"])
    assert fake.last_request.documents == ["a", "b"]
    assert isinstance(fake.last_request, RerankRequest)


@pytest.mark.parametrize("kw,param", [
    ({"documents": []}, "documents"),
    ({"documents": ()}, "documents"),
    ({"documents": "a single string"}, "documents"),
    ({"documents": ["ok", None]}, "documents"),
    ({"documents": [{"title": "no text"}]}, "documents"),
    ({"documents": ["ok", "lone \ud800 surrogate"]}, "documents[1]"),
    ({"query": ""}, "query"),
    ({"query": "   "}, "query"),
    ({"query": 42}, "query"),
    ({"query": ["a list"]}, "query"),
    ({"top_n": 0}, "top_n"),
    ({"top_n": -1}, "top_n"),
    ({"top_n": 2.0}, "top_n"),
    ({"top_n": False}, "top_n"),
    ({"provider_options": {"query": "smuggled"}}, "provider_options"),
    ({"provider_options": {"top_n": 1}}, "provider_options"),
    ({"temperature": 0.5}, "temperature"),
])
def test_bad_arguments_are_refused_before_anything_runs(kw, param):
    router, fake, rec = fake_router()
    args = {"model": "fake/rr-1", "query": "red apple", "documents": DOCS, **kw}
    with pytest.raises(InvalidRequestError) as info:
        router.rerank(**args)
    with pytest.raises(InvalidRequestError):
        asyncio.run(router.arerank(**args))
    assert info.value.param == param and str(info.value)
    assert fake.calls == [] and rec.records == []


def test_scripted_response_and_record():
    router, fake, rec = fake_router(prices={"fake/rr-1": {"per_search_unit": "0.001"}})
    fake.script(RerankResponse(results=[RerankResult(index=1, relevance_score=0.9,
                                                     document=DOCS[1])],
                               usage=Usage(search_units=2)))
    resp = router.rerank("fake/rr-1", "q", DOCS, user="u-1", metadata={"tag": "x"})
    assert resp.cost.total == Decimal("0.002")
    (record,) = rec.records
    assert (record.operation, record.status, record.user) == ("rerank", "ok", "u-1")
    assert record.usage.search_units == 2 and record.cost.total == Decimal("0.002")
    assert "red apples" not in repr(record)  # records never hold the texts


def test_usage_is_estimated_when_the_provider_reports_none():
    router, fake, _ = fake_router()
    fake.script(RerankResponse(results=[]))
    resp = router.rerank("fake/rr-1", "two words", ["three more words"])
    assert resp.usage.source == "estimated" and resp.usage.prompt_tokens > 0


def test_policies_redact_the_query_and_documents():
    router, fake, _ = fake_router()
    router = Router(providers={"fake": fake}, policies=[PII(mode="redact")],
                    load_entrypoints=False)
    resp = router.rerank("fake/rr-1", "mail bob@example.com",
                         ["plain", "call alice@example.org now"])
    sent = fake.last_request
    assert "bob@example.com" not in sent.query
    assert sent.documents[0] == "plain" and "alice@example.org" not in sent.documents[1]
    assert resp.policy_decisions and all(d.policy == "pii" for d in resp.policy_decisions)


def test_policies_block_a_secret_in_a_document():
    fake = FakeProvider(models=["rr-1"])
    rec = UsageRecorder()
    router = Router(providers={"fake": fake}, policies=[Secrets()], plugins=[rec],
                    load_entrypoints=False)
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
    with pytest.raises(PolicyViolationError):
        router.rerank("fake/rr-1", "q", ["fine", f"my key is {key}"])
    assert fake.calls == []
    assert rec.records[0].status == "blocked" and key not in repr(rec.records[0])


def test_budget_reserves_and_refuses():
    router, fake, rec = fake_router(prices={"fake/rr-1": {"per_search_unit": "0.01"}},
                                    budgets=[{"limit": "0.015"}])
    fake.script(RerankResponse(results=[], usage=Usage(search_units=1)))
    router.rerank("fake/rr-1", "q", DOCS)
    # 0.01 spent; the next call's worst case (one search unit) would pass the limit
    with pytest.raises(BudgetExceededError):
        router.rerank("fake/rr-1", "q", DOCS)
    assert len(fake.calls) == 1


def test_capability_is_checked_before_sending():
    # a catalog entry without the rerank capability is refused before the provider runs
    fake2 = FakeProvider("fake2", models=[ModelInfo(name="chatty")])
    router2 = Router(providers={"fake2": fake2}, load_entrypoints=False)
    with pytest.raises(InvalidRequestError, match="does not support rerank"):
        router2.rerank("fake2/chatty", "q", DOCS)
    assert fake2.calls == []


def test_span_names_the_operation():
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    router = Router(load_entrypoints=False, telemetry=True, tracer_provider=tp)
    router.rerank("echo", "red apple", DOCS)
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("rerank")]
    assert span.attributes["gen_ai.operation.name"] == "rerank"
    assert "red apple" not in str(dict(span.attributes))


def test_callbacks_see_the_rerank_response():
    seen = []
    router = Router(load_entrypoints=False,
                    on_success=lambda ctx, record: seen.append(ctx.response))
    resp = router.rerank("echo", "red", DOCS)
    assert seen == [resp]


def test_top_n_above_the_document_count_ranks_them_all():
    router, fake, rec = fake_router()
    resp = router.rerank("fake/rr-1", "red apple", DOCS, top_n=len(DOCS) + 5)
    assert fake.calls[-1][1].top_n == len(DOCS)  # what the provider is sent
    assert sorted(r.index for r in resp.results) == list(range(len(DOCS)))
