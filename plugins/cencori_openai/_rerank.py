"""Reranking on OpenAI-compatible servers (``openai_compatible`` configs): pure translation.

OpenAI has no rerank API, but the servers people run beside their chat models do: vLLM (and
Infinity, TEI's router, LocalAI, Jina's API) serve ``POST /v1/rerank`` with the body Jina and
Cohere defined::

    {"model", "query", "documents": ["..."], "top_n"?, "return_documents": false}
    → {"id", "model", "usage": {"total_tokens", "prompt_tokens"?},
       "results": [{"index", "relevance_score", "document"?: {"text"}}]}

The request is sent with the openai SDK's generic ``client.post("/rerank", ...)``, so the
configured key, headers, timeout, retries off and error mapping are the SDK's and the plugin's
as for every other operation. Some servers call the list ``data`` instead of ``results``: both
are read. The document text in the result always comes from our request (``return_documents``
is false, so the server need not echo them back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cencori_core.errors import ProviderResponseError
from cencori_core.provider import provider_options, rerank_results
from cencori_core.types import RerankRequest, RerankResponse, Usage

__all__ = ["PATH", "rerank_body", "rerank_options", "rerank_response"]

PATH = "/rerank"
"""Relative to the configured ``base_url`` (``http://host:8000/v1`` → ``/v1/rerank``)."""


def rerank_body(request: RerankRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "query": request.query,
                            "documents": list(request.documents), "return_documents": False}
    if request.top_n is not None:
        body["top_n"] = request.top_n
    return body


def rerank_options(request: RerankRequest) -> dict[str, Any]:
    """The SDK's per-request options: timeout, and ``provider_options`` merged into the body
    (``extra_json``)."""
    options: dict[str, Any] = {}
    if request.timeout is not None:
        options["timeout"] = request.timeout
    extra = provider_options(request)
    if extra:
        options["extra_json"] = extra
    return options


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def rerank_response(data: Any, request: RerankRequest, *, provider: str) -> RerankResponse:
    """The server's JSON answer as our RerankResponse (tokens when the server reports them)."""
    if not isinstance(data, Mapping):
        raise ProviderResponseError("the rerank answer is not a JSON object", provider=provider,
                                    model=request.model, retryable=True)
    items = data.get("results")
    if items is None:
        items = data.get("data")
    results = rerank_results(items, request.documents, top_n=request.top_n, provider=provider,
                             model=request.model)
    u = data.get("usage")
    usage = Usage(source="estimated")
    if isinstance(u, Mapping):
        total = _count(u.get("total_tokens"))
        prompt = _count(u.get("prompt_tokens")) or total
        if prompt:
            usage = Usage(prompt_tokens=prompt, total_tokens=total or prompt)
    rid = data.get("id")
    return RerankResponse(results=results, usage=usage, model=request.model, provider=provider,
                          id=rid if isinstance(rid, str) else "", raw=data)
