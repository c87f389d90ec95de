"""cencori plugin: OpenAI, Azure OpenAI, and the OpenAI-compatible xAI, DeepSeek and Meta Llama
APIs.

Registers ``openai`` (every operation), ``xai``, ``deepseek`` and ``meta`` (chat, streaming,
tools), and the type-only ``openai_compatible`` for any other server that speaks the OpenAI API
(vLLM, Ollama, LM Studio, Together, Groq, OpenRouter), and ``azure`` (Azure OpenAI deployments,
``azure/<deployment>``, through the SDK's ``AzureOpenAI`` clients)::

    Router(providers={"local": {"type": "openai_compatible",
                                "base_url": "http://127.0.0.1:8000/v1",
                                "models": ["qwen2.5-7b"]}})
    router.chat(model="local/qwen2.5-7b", messages=[...])

This module imports no SDK: the ``openai`` package is imported by the factories, the first time a
provider is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cencori_core import hookimpl

from ._catalog import AZURE_CONFIG_KEYS, DEEPSEEK_MODELS, META_MODELS, OPENAI_MODELS, XAI_MODELS

if TYPE_CHECKING:
    from cencori_core import Provider, ProviderConfig

__all__ = ["cencori_register_providers"]


def _factory(dialect: str) -> Callable[[ProviderConfig], Provider]:
    def make(config: ProviderConfig) -> Provider:
        from ._provider import make_provider

        return make_provider(config, dialect)

    make.__name__ = f"make_{dialect}"
    return make


# What the provider tables accept besides the common keys (the SDK client's own arguments go
# under options={...}).
_KEYS = ("organization", "project")


def _make_azure(config: ProviderConfig) -> Provider:
    from ._azure import make_azure

    return make_azure(config)


@hookimpl
def cencori_register_providers(register: Callable[..., None]) -> None:
    register(
        "openai", _factory("openai"),
        prefixes=("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-", "dall-e",
                  "gpt-image", "whisper", "tts-", "omni-moderation"),
        models=OPENAI_MODELS,
        env_keys=("OPENAI_API_KEY",), env_base_url="OPENAI_BASE_URL", extra="openai",
        config_keys=_KEYS,
    )
    register(
        "xai", _factory("xai"), prefixes=("grok-",), models=XAI_MODELS,
        env_keys=("XAI_API_KEY",), env_base_url="XAI_BASE_URL", extra="openai",
        config_keys=_KEYS,
        default_base_url="https://api.x.ai/v1",
    )
    register(
        "deepseek", _factory("deepseek"), prefixes=("deepseek-",), models=DEEPSEEK_MODELS,
        env_keys=("DEEPSEEK_API_KEY",), env_base_url="DEEPSEEK_BASE_URL", extra="openai",
        config_keys=_KEYS,
        default_base_url="https://api.deepseek.com",
    )
    register(
        "meta", _factory("meta"), prefixes=("llama-", "Llama-"), models=META_MODELS,
        env_keys=("LLAMA_API_KEY",), env_base_url="LLAMA_BASE_URL", extra="openai",
        config_keys=_KEYS,
        default_base_url="https://api.llama.com/compat/v1/",
    )
    # Azure OpenAI: names are deployment names (azure/<deployment>), no prefixes; a key, or a
    # Microsoft Entra ID token provider (azure_ad_token_provider) instead.
    register(
        "azure", _make_azure, env_keys=("AZURE_OPENAI_API_KEY",), extra="openai",
        config_keys=AZURE_CONFIG_KEYS,
    )
    # Local servers usually take no key; hosted ones (Together, Groq, ...) get one in config.
    register(
        "openai_compatible", _factory("openai_compatible"), extra="openai",
        config_keys=_KEYS,
        requires_key=False, type_only=True,
    )
