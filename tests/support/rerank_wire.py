"""An OpenAI-compatible rerank server on the loopback, for end-to-end tests of ``rerank`` through
``openai_compatible`` configs (the openai SDK's generic ``client.post``).

:class:`RerankServer` answers ``POST /v1/rerank`` as vLLM's OpenAI-compatible server does (the
Jina/Cohere-style body; vLLM's ``RerankResponse``)::

    request  {"model", "query", "documents": ["..."], "top_n"?, "return_documents"?}
    answer   {"id": "rerank-...", "model", "usage": {"total_tokens"},
              "results": [{"index", "document": {"text"}, "relevance_score"}, ...]}
    error    {"error": {"message", "type", "param", "code"}} with the HTTP status

Scores are the share of the query's words in each document (deterministic), best first.
"""

from __future__ import annotations

import uuid
from typing import Any

from loopback import LoopbackServer, Recorded, Reply

from cencori_core import RetryPolicy, Router

__all__ = ["RerankServer", "rerank_answer", "scores", "KEY", "router_for"]

KEY = "sk-rerank-test-4c1d8e2f"
"""The key every test router sends; it must never show up in errors or logs."""


def scores(query: str, documents: list[str]) -> list[tuple[int, float]]:
    words = set(query.lower().split())
    scored = [(i, round(len(words & set(d.lower().split())) / (len(words) or 1), 6))
              for i, d in enumerate(documents)]
    return sorted(scored, key=lambda x: (-x[1], x[0]))


def rerank_answer(body: dict[str, Any]) -> dict[str, Any]:
    docs = list(body["documents"])
    ranked = scores(body["query"], docs)[:body.get("top_n")]
    tokens = len(body["query"].split()) + sum(len(d.split()) for d in docs)
    echo = body.get("return_documents", True)
    return {"id": f"rerank-{uuid.uuid4().hex}", "model": body["model"],
            "usage": {"total_tokens": tokens},
            "results": [{"index": i, "relevance_score": s,
                         **({"document": {"text": docs[i]}} if echo else {})}
                        for i, s in ranked]}


class RerankServer(LoopbackServer):
    """vLLM's ``/v1/rerank`` with scripted faults (``fail``/``error``) and raw answers
    (``queue``)."""

    def __init__(self) -> None:
        super().__init__()
        self.route("POST", "/v1/rerank", lambda rec: Reply.json(rerank_answer(rec.json)))

    def error(self, status: int, message: str = "scripted error", *,
              headers: dict[str, str] | None = None, times: int = 1) -> None:
        body = {"error": {"message": message, "type": "BadRequestError", "param": None,
                          "code": status}}
        self.fail(status, body, headers=headers, times=times)

    def bodies(self) -> list[Any]:
        return [r.json for r in self.requests if r.path == "/v1/rerank"]

    def last(self) -> Recorded:
        return self.requests[-1]


def router_for(server: RerankServer, *, attempts: int = 1, **router_kw: Any) -> Router:
    """A router with the openai plugin and one ``openai_compatible`` provider ``local`` pointed
    at ``server``, serving the model ``bge-reranker-v2-m3``."""
    cfg = {"type": "openai_compatible", "base_url": server.base_url + "/v1", "api_key": KEY,
           "models": ["bge-reranker-v2-m3"]}
    return Router(providers={"local": cfg}, plugins=["openai"],
                  retry=RetryPolicy(max_attempts=attempts, initial_delay=0, jitter=0),
                  **router_kw)
