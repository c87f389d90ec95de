"""cencori plugin: Google Gemini, and Gemini and Imagen on Vertex AI, through the google-genai SDK.

Registers ``google``: bare names starting with ``gemini-`` or ``imagen-`` route here; the key comes
from ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``, the base URL from ``GOOGLE_GEMINI_BASE_URL``.
``{"vertexai": True, "project": ..., "location": ...}`` puts it in Vertex AI mode, authenticated
by Google credentials (Application Default Credentials, ``GOOGLE_APPLICATION_CREDENTIALS``, or a
``credentials`` object), or by an API key alone (express mode). Registers ``vertex`` too: the
same provider in Vertex AI mode by default, for ``vertex/<model>`` names (project and location
from the configuration, else ``GOOGLE_CLOUD_PROJECT`` / ``GOOGLE_CLOUD_LOCATION``)::

    router.chat(model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hello"}])
    router.embed("gemini-embedding-001", ["a", "b"], dimensions=768, input_type="query")
    router.generate_image("gemini-2.5-flash-image", "a lighthouse at dawn", size="1024x1024")

This module imports no SDK: ``google.genai`` is imported by the factory, the first time the
provider is used (``pip install "cencori-core[google]"``).

Layout (the shape every in-tree plugin has): ``_catalog`` (models), ``_provider`` (the
:class:`~cencori_core.provider.SDKProvider`), ``_convert`` (pure translation; the answers in
``_responses``), ``_errors`` (``map_error``) and ``_fast`` (every google-genai internal, with
the public fallback).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cencori_core import hookimpl

from ._catalog import CONFIG_KEYS, MODELS

if TYPE_CHECKING:
    from cencori_core import Provider, ProviderConfig

__all__ = ["cencori_register_providers", "make_provider", "make_vertex", "MODELS"]


def make_provider(config: ProviderConfig) -> Provider:
    """The provider for ``config`` (imports the SDK)."""
    from ._provider import GoogleProvider

    return GoogleProvider(config)


def make_vertex(config: ProviderConfig) -> Provider:
    """The ``vertex`` provider: Vertex AI mode unless ``vertexai=False`` (imports the SDK)."""
    from ._provider import GoogleProvider

    return GoogleProvider(config, vertex_default=True)


@hookimpl
def cencori_register_providers(register: Callable[..., None]) -> None:
    register(
        "google", make_provider, prefixes=("gemini-", "imagen-"), models=MODELS,
        env_keys=("GOOGLE_API_KEY", "GEMINI_API_KEY"), env_base_url="GOOGLE_GEMINI_BASE_URL",
        extra="google", config_keys=CONFIG_KEYS,
    )
    # vertex/<model>: no bare names (google has them); Google credentials, no key needed.
    register("vertex", make_vertex, extra="google", requires_key=False,
             config_keys=CONFIG_KEYS)
