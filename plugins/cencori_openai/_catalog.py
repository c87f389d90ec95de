"""Catalog entries of the OpenAI plugin's providers (plain data: no SDK import).

Context windows and output limits are the providers' published figures. A model id absent
here still routes by prefix (``gpt-``, ``grok-``, ...) and is then assumed to support what is
asked; an entry here lets the router refuse, before any network call, what a model cannot do.
"""

from __future__ import annotations

from cencori_core.catalog import ModelInfo

_CHAT = frozenset({"chat", "streaming", "tools", "json"})
_VISION = _CHAT | {"vision"}
_REASONING = _VISION | {"reasoning"}


def _m(name: str, caps: frozenset[str], ctx: int | None = None, out: int | None = None,
       *aliases: str) -> ModelInfo:
    return ModelInfo(name=name, capabilities=frozenset(caps), context_window=ctx,
                     max_output_tokens=out, aliases=aliases)


OPENAI_MODELS: tuple[ModelInfo, ...] = (
    _m("gpt-4o", _VISION, 128_000, 16_384),
    _m("gpt-4o-mini", _VISION, 128_000, 16_384),
    # chatgpt-4o-latest is the ChatGPT snapshot: no function calling.
    _m("chatgpt-4o-latest", frozenset({"chat", "streaming", "vision", "json"}), 128_000, 16_384),
    _m("gpt-4.1", _VISION, 1_047_576, 32_768),
    _m("gpt-4.1-mini", _VISION, 1_047_576, 32_768),
    _m("gpt-4.1-nano", _VISION, 1_047_576, 32_768),
    _m("o1", _REASONING, 200_000, 100_000),
    _m("o3", _REASONING, 200_000, 100_000),
    _m("o3-mini", _CHAT | {"reasoning"}, 200_000, 100_000),
    _m("o4-mini", _REASONING, 200_000, 100_000),
    _m("gpt-5", _REASONING, 400_000, 128_000),
    _m("gpt-5-mini", _REASONING, 400_000, 128_000),
    _m("gpt-5-nano", _REASONING, 400_000, 128_000),
    _m("text-embedding-3-small", frozenset({"embeddings"}), 8_191),
    _m("text-embedding-3-large", frozenset({"embeddings"}), 8_191),
    _m("text-embedding-ada-002", frozenset({"embeddings"}), 8_191),
    _m("dall-e-3", frozenset({"images"})),
    _m("gpt-image-1", frozenset({"images"})),
    _m("whisper-1", frozenset({"transcription"})),
    _m("gpt-4o-transcribe", frozenset({"transcription"})),
    _m("gpt-4o-mini-transcribe", frozenset({"transcription"})),
    _m("tts-1", frozenset({"speech"})),
    _m("tts-1-hd", frozenset({"speech"})),
    _m("gpt-4o-mini-tts", frozenset({"speech"})),
    _m("omni-moderation-latest", frozenset({"moderation"})),
)

XAI_MODELS: tuple[ModelInfo, ...] = (
    # grok-4 always reasons; its usage reports reasoning tokens apart from completion tokens.
    _m("grok-4", _REASONING, 256_000, None, "grok-4-latest"),
    _m("grok-3", _CHAT, 131_072, None, "grok-3-latest"),
    _m("grok-3-mini", _CHAT | {"reasoning"}, 131_072, None, "grok-3-mini-latest"),
)

DEEPSEEK_MODELS: tuple[ModelInfo, ...] = (
    _m("deepseek-chat", _CHAT, 128_000, 8_192),
    # deepseek-reasoner returns its chain of thought as `reasoning_content`.
    _m("deepseek-reasoner", _CHAT | {"reasoning"}, 128_000, 65_536),
)

# The Llama API serves its models under their full ids; the short names are aliases.
META_MODELS: tuple[ModelInfo, ...] = (
    _m("Llama-4-Maverick-17B-128E-Instruct-FP8", _VISION, 128_000, None, "llama-4-maverick"),
    _m("Llama-4-Scout-17B-16E-Instruct-FP8", _VISION, 128_000, None, "llama-4-scout"),
    _m("Llama-3.3-70B-Instruct", _CHAT, 128_000, None, "llama-3.3-70b"),
    _m("Llama-3.3-8B-Instruct", _CHAT, 128_000, None, "llama-3.3-8b"),
)

#: Provider-specific keys of an ``azure`` table (ProviderSpec.config_keys); here because
#: registering must not import the SDK.
AZURE_CONFIG_KEYS = ("endpoint", "api_version", "deployments", "deployment",
                     "azure_ad_token_provider", "organization", "project", "headers")
