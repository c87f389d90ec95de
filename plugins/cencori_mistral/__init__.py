"""Mistral AI provider plugin (``mistralai`` SDK): chat, streaming, tools, vision, embeddings and
moderation.

Registers the provider ``mistral``: bare names starting with ``mistral-``, ``codestral``,
``magistral``, ``pixtral`` or ``ministral`` route here; the key comes from ``MISTRAL_API_KEY`` and
the server from ``MISTRAL_BASE_URL`` (the API root, e.g. ``https://api.eu.mistral.ai``; a trailing
``/v1`` is accepted). The SDK is imported only when the provider is first used.

Provider-specific notes:

- ``router.embed(..., dimensions=N)`` is sent as ``output_dimension`` (``codestral-embed``);
  ``input_type`` has no Mistral equivalent and is ignored.
- ``router.moderate(...)`` uses ``/v1/moderations`` and keeps Mistral's category names.
  With ``provider_options={"chat": True}`` the inputs are one conversation (user, assistant,
  user, ... in turn) classified by ``/v1/chat/moderations``: one result, for the conversation.
- ``provider_options`` are keyword arguments of the SDK call (``safe_prompt``,
  ``prompt_cache_key``, ``reasoning_effort``, ``presence_penalty``, ``http_headers``, ...); an
  unknown one is an ``InvalidRequestError`` naming the allowed ones. ``metadata`` stays with
  the router (send Mistral's own through ``provider_options``); Mistral has no ``user`` field.
- Configuration ``options``: ``headers`` (sent on every request) and ``server``
  (``"eu"``/``"us"``, when no ``base_url`` is given).
- Streams end with the chunk carrying ``finish_reason`` (then ``[DONE]``): a stream that ends
  without it was cut, and raises ``StreamInterruptedError`` with the partial response.
- Refusals: Mistral's chat completions have no refusal field and no refusal stop reason
  (``safe_prompt`` only adds a system prompt; moderation is its own endpoint), so
  ``response.refusal`` stays None; a refusal arrives as ordinary text.
- Stream events are read as JSON through the SDK's generated SSE reader (``_fast.py``, the
  only place the plugin goes past the SDK's public API; feature-detected, with the SDK's own
  ``EventStream`` and models as the fallback), because validating each event into the SDK's
  models builds a pydantic model class per event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cencori_core import ModelInfo, hookimpl

if TYPE_CHECKING:
    from cencori_core import ProviderConfig

    from ._provider import MistralProvider

__all__ = ["MODELS", "PREFIXES", "make_provider"]

PREFIXES = ("mistral-", "codestral", "magistral", "pixtral", "ministral")

_CHAT = frozenset({"chat", "streaming", "tools", "json"})
_VISION = _CHAT | {"vision"}

# Every id below resolves in genai-prices' Mistral data as written (codestral-embed matches its
# dated entry), so no price_id is needed; mistral-moderation has no price data (cost None).
MODELS = (
    ModelInfo(name="mistral-large-latest", capabilities=_VISION, context_window=262_144),
    ModelInfo(name="mistral-medium-latest", capabilities=_VISION | {"reasoning"},
              context_window=262_144),
    ModelInfo(name="mistral-small-latest", capabilities=_VISION, context_window=131_072),
    ModelInfo(name="codestral-latest", capabilities=_CHAT, context_window=262_144),
    ModelInfo(name="magistral-medium-latest", capabilities=_VISION | {"reasoning"},
              context_window=131_072),
    ModelInfo(name="pixtral-large-latest", capabilities=_VISION, context_window=131_072),
    ModelInfo(name="ministral-8b-latest", capabilities=_CHAT, context_window=131_072),
    ModelInfo(name="mistral-embed", capabilities=frozenset({"embeddings"}), context_window=8_192),
    ModelInfo(name="codestral-embed", capabilities=frozenset({"embeddings"}),
              context_window=8_192),
    ModelInfo(name="mistral-moderation-latest", capabilities=frozenset({"moderation"}),
              context_window=8_192),
)


def make_provider(config: ProviderConfig) -> MistralProvider:
    """The provider factory: imports the SDK-backed implementation on first use."""
    from ._provider import MistralProvider

    return MistralProvider(config)


@hookimpl
def cencori_register_providers(register: Any) -> None:
    register(
        "mistral",
        make_provider,
        prefixes=PREFIXES,
        models=MODELS,
        env_keys=("MISTRAL_API_KEY",),
        env_base_url="MISTRAL_BASE_URL",
        extra="mistral",
        config_keys=("server",),
    )
