"""Cohere provider plugin: Command chat models and Embed models through the ``cohere`` SDK's v2
client (``ClientV2`` / ``AsyncClientV2``).

Registers the provider ``cohere``: model names starting with ``command-``, ``embed-`` or
``rerank-``; the key from ``CO_API_KEY`` (or ``COHERE_API_KEY``), the base URL from
``CO_API_URL`` (the API root such as ``https://api.cohere.com``: the SDK appends ``/v2/chat``);
``pip install "cencori-core[cohere]"``. The SDK is imported only when the provider is first used.

Chat and streaming
    Messages, tools and tool results are translated to Cohere's v2 shapes. The model's tool plan
    (and a reasoning model's ``thinking`` content) becomes ``response.reasoning``; both are also
    kept in ``message.provider_data["cohere"]`` so the next turn sends them back verbatim.
    ``provider_options`` are merged into the JSON body as written (``{"thinking": {"type":
    "disabled"}}``, ``{"safety_mode": "STRICT"}``, ``{"documents": [...]}``, ...).

Usage
    Cohere reports two counts: ``billed_units`` (what the call is charged for) and ``tokens``
    (everything the model read, including the prompt template Cohere adds around the messages).
    ``prompt_tokens`` / ``completion_tokens`` are the billed units, because cost is computed from
    them and Cohere charges billed units; ``tokens`` is the fallback when billed units are absent.
    ``cached_tokens`` is the part of the billed input Cohere's ``cached_tokens`` covers: Cohere
    counts it among ``tokens`` (template included), and the cached prefix covers the unbilled
    template first, so it is ``cached_tokens - (tokens - billed)``, within 0 and
    ``prompt_tokens`` (Cohere has no separate cache-read price).

Rerank
    ``router.rerank("rerank-v3.5", query, documents, top_n=...)`` calls ``ClientV2.rerank``
    (``/v2/rerank``); every ``rerank-*`` name is a rerank model (a chat call to one is refused
    before anything is sent). Usage carries ``search_units`` (Cohere bills one per query and up
    to 100 documents); genai-prices has no rerank prices, so the cost is None with a reason
    unless ``prices={"rerank-v3.5": {"per_search_unit": "0.002"}}`` gives one.
    ``provider_options`` such as ``{"max_tokens_per_doc": 512}`` are passed through.

Embeddings
    ``input_type`` is passed to Cohere as given (``search_document``, ``search_query``,
    ``classification``, ``clustering``, ``image``). **When no input_type is given, the plugin
    sends ``search_document``**, the right type for texts being indexed: pass
    ``input_type="search_query"`` when embedding a search query. Vectors are requested as
    ``embedding_types=["float"]``; ``dimensions`` is sent as ``output_dimension``, which only
    ``embed-v4.0`` and newer models accept (older models answer 400).

Streams
    Read through the SDK's public ``with_raw_response.chat_stream``, each event's JSON parsed
    strictly (the SDK's own stream logs and skips events it cannot parse): an event that is not
    JSON or of the wrong shape is a ``ProviderResponseError``, and a stream that ends without
    ``message-end`` raises ``StreamInterruptedError`` with the partial response.

Refusals
    Cohere's v2 chat has no refusal field, and none of its finish reasons (``COMPLETE``,
    ``STOP_SEQUENCE``, ``MAX_TOKENS``, ``TOOL_CALL``, ``ERROR``, ``TIMEOUT``) is a refusal, so
    ``response.refusal`` stays None (``safety_mode`` changes what the model writes, not the
    answer's shape). No SDK-private name is used, so the plugin has no ``_fast.py``.

Errors
    Mapped from the HTTP status (498, Cohere's invalid token, is an auth error) with the body's
    ``message`` and ``id``; ``Retry-After`` / ``retry-after-ms`` become ``retry_after``. Cohere's
    error bodies carry no structured code, so an over-long prompt is a plain
    ``ProviderBadRequestError`` (recognising it would mean matching message text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cencori_core import hookimpl
from cencori_core.catalog import ModelInfo

if TYPE_CHECKING:
    from cencori_core.config import ProviderConfig
    from cencori_core.provider import Provider

CHAT = frozenset({"chat", "streaming", "tools", "json"})
EMBEDDINGS = frozenset({"embeddings"})
RERANK = frozenset({"rerank"})

MODELS = (
    ModelInfo(name="command-a-03-2025", aliases=("command-a",), capabilities=CHAT,
              context_window=256_000, max_output_tokens=8_000),
    ModelInfo(name="command-r-plus-08-2024", capabilities=CHAT, context_window=128_000,
              max_output_tokens=4_000),
    ModelInfo(name="command-r-08-2024", capabilities=CHAT, context_window=128_000,
              max_output_tokens=4_000),
    ModelInfo(name="command-r7b-12-2024", capabilities=CHAT, context_window=128_000,
              max_output_tokens=4_000),
    ModelInfo(name="command-a-vision-07-2025", aliases=("command-a-vision",),
              capabilities=CHAT | {"vision"}, context_window=128_000, max_output_tokens=8_000),
    ModelInfo(name="command-a-reasoning-08-2025", aliases=("command-a-reasoning",),
              capabilities=CHAT | {"reasoning"}, context_window=256_000,
              max_output_tokens=32_000),
    ModelInfo(name="embed-v4.0", capabilities=EMBEDDINGS, context_window=128_000),
    ModelInfo(name="embed-english-v3.0", capabilities=EMBEDDINGS, context_window=512),
    ModelInfo(name="embed-multilingual-v3.0", capabilities=EMBEDDINGS, context_window=512),
    # rerank: context_window is the per-document limit (longer documents are truncated)
    ModelInfo(name="rerank-v3.5", capabilities=RERANK, context_window=4_096),
    ModelInfo(name="rerank-english-v3.0", capabilities=RERANK, context_window=4_096),
    ModelInfo(name="rerank-multilingual-v3.0", capabilities=RERANK, context_window=4_096),
    ModelInfo(name="rerank-v4.0-pro", capabilities=RERANK, context_window=32_768),
    ModelInfo(name="rerank-v5.0-pro", capabilities=RERANK, context_window=32_768),
)


def make_provider(config: ProviderConfig) -> Provider:
    """Build the provider; the SDK is imported here, on first use."""
    from ._provider import CohereProvider

    return CohereProvider(config)


@hookimpl
def cencori_register_providers(register: Any) -> None:
    register(
        "cohere",
        make_provider,
        prefixes=("command-", "embed-", "rerank-"),
        models=MODELS,
        env_keys=("CO_API_KEY", "COHERE_API_KEY"),
        env_base_url="CO_API_URL",
        extra="cohere",
    )
