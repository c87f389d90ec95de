"""Reranking's shared piece for provider plugins: a provider's ranked list made into our
normalized, checked results (the toolkit re-exports :func:`rerank_results`).

Providers answer ``[{index, relevance_score}, ...]`` (Cohere, and the OpenAI-compatible
``/v1/rerank`` of vLLM, Jina, TEI and others, which copy Cohere's shape). The answer is checked
here, once for all of them: an index outside the request's documents, a repeated index or a
score that is not a finite number is a malformed answer (``ProviderResponseError``, retryable),
never a wrong document handed to the caller. Results come back best first whatever order the
provider used, ties kept in the provider's order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ProviderResponseError
from .types import RerankResult

__all__ = ["rerank_results"]


def _field(item: Any, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def rerank_results(items: Any, documents: list[str], *, top_n: int | None,
                   provider: str, model: str) -> list[RerankResult]:
    """``items`` (SDK objects or JSON dicts with ``index`` and ``relevance_score``) as our
    results, best first, at most ``top_n``."""

    def bad(what: str) -> ProviderResponseError:
        return ProviderResponseError(f"the rerank answer is malformed: {what}",
                                     provider=provider, model=model, retryable=True)

    if items is None or isinstance(items, (str, bytes, Mapping)):
        raise bad("'results' is not a list")
    seen: set[int] = set()
    out: list[RerankResult] = []
    for item in items:
        index, score = _field(item, "index"), _field(item, "relevance_score")
        if isinstance(index, bool) or not isinstance(index, int) \
                or not 0 <= index < len(documents):
            raise bad(f"index {index!r} is not one of the {len(documents)} documents")
        if index in seen:
            raise bad(f"document {index} is ranked twice")
        if isinstance(score, bool) or not isinstance(score, (int, float)) \
                or not math.isfinite(score):
            raise bad(f"relevance_score {score!r} of document {index} is not a number")
        seen.add(index)
        out.append(RerankResult(index=index, relevance_score=float(score),
                                document=documents[index]))
    out.sort(key=lambda r: -r.relevance_score)  # stable: ties stay in the provider's order
    return out if top_n is None else out[:top_n]
