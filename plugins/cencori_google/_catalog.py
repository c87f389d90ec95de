"""The Google models cencori knows: Gemini chat and image models, embeddings, and Imagen (on
Vertex AI), with their capabilities, context windows and output limits."""

from __future__ import annotations

from cencori_core.catalog import ModelInfo

__all__ = ["MODELS", "CONFIG_KEYS"]

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

#: Provider-specific keys of a ``google`` / ``vertex`` table (ProviderSpec.config_keys):
#: Vertex AI mode (``vertexai``, ``project``, ``location``, a google-auth ``credentials``
#: object) and the SDK's HTTP options.
CONFIG_KEYS = ("vertexai", "project", "location", "credentials", "api_version", "headers")
