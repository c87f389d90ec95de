"""cencori plugin: Google Gemini (and Imagen on Vertex AI) through the google-genai SDK.

Registers ``google``: bare names starting with ``gemini-`` or ``imagen-`` route here; the key comes
from ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``, the base URL from ``GOOGLE_GEMINI_BASE_URL``::

    router.chat(model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hello"}])
    router.embed("gemini-embedding-001", ["a", "b"], dimensions=768, input_type="query")
    router.generate_image("gemini-2.5-flash-image", "a lighthouse at dawn", size="1024x1024")

This module imports no SDK: ``google.genai`` is imported by the factory, the first time the
provider is used (``pip install "cencori-core[google]"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cencori_core import hookimpl
from cencori_core.catalog import ModelInfo

if TYPE_CHECKING:
    from cencori_core import Provider, ProviderConfig

__all__ = ["cencori_register_providers", "MODELS"]

_CHAT = frozenset({"chat", "streaming", "tools", "json", "vision", "audio_input"})
_THINKING = _CHAT | {"reasoning"}
_IMAGE_CHAT = frozenset({"chat", "streaming", "vision", "images"})
_EMBED = frozenset({"embeddings"})
_IMAGEN = frozenset({"images"})
_M = 1_048_576

MODELS: tuple[ModelInfo, ...] = (
    # Gemini 3 (previews at the time of writing)
    ModelInfo(name="gemini-3.1-pro-preview", capabilities=_THINKING, context_window=_M,
              max_output_tokens=65_536),
    ModelInfo(name="gemini-3-pro-preview", capabilities=_THINKING, context_window=_M,
              max_output_tokens=65_536),
    ModelInfo(name="gemini-3-flash-preview", capabilities=_THINKING, context_window=_M,
              max_output_tokens=65_536),
    # Gemini 2.5
    ModelInfo(name="gemini-2.5-pro", capabilities=_THINKING, context_window=_M,
              max_output_tokens=65_536),
    ModelInfo(name="gemini-2.5-flash", capabilities=_THINKING, context_window=_M,
              max_output_tokens=65_536),
    ModelInfo(name="gemini-2.5-flash-lite", capabilities=_THINKING, context_window=_M,
              max_output_tokens=65_536),
    # Gemini 2.0
    ModelInfo(name="gemini-2.0-flash", capabilities=_CHAT, context_window=_M,
              max_output_tokens=8_192),
    ModelInfo(name="gemini-2.0-flash-lite", capabilities=_CHAT, context_window=_M,
              max_output_tokens=8_192),
    # Image output through generate_content ("Nano Banana")
    ModelInfo(name="gemini-2.5-flash-image", capabilities=_IMAGE_CHAT, context_window=32_768,
              max_output_tokens=32_768),
    ModelInfo(name="gemini-3-pro-image-preview", capabilities=_IMAGE_CHAT,
              context_window=65_536, max_output_tokens=32_768),
    # Embeddings
    ModelInfo(name="gemini-embedding-001", capabilities=_EMBED, context_window=2_048),
    ModelInfo(name="text-embedding-004", capabilities=_EMBED, context_window=2_048),
    # Imagen: Vertex AI only (options={"vertexai": True}); priced per image, so unpriced here
    ModelInfo(name="imagen-4.0-generate-001", capabilities=_IMAGEN),
    ModelInfo(name="imagen-4.0-ultra-generate-001", capabilities=_IMAGEN),
    ModelInfo(name="imagen-4.0-fast-generate-001", capabilities=_IMAGEN),
    ModelInfo(name="imagen-3.0-generate-002", capabilities=_IMAGEN),
)


def _make(config: ProviderConfig) -> Provider:
    from ._provider import make_provider

    return make_provider(config)


@hookimpl
def cencori_register_providers(register: Callable[..., None]) -> None:
    register(
        "google", _make, prefixes=("gemini-", "imagen-"), models=MODELS,
        env_keys=("GOOGLE_API_KEY", "GEMINI_API_KEY"), env_base_url="GOOGLE_GEMINI_BASE_URL",
        extra="google",
    )
