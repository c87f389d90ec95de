"""Catalog entries of the common Bedrock model ids (capabilities, context windows), each also
under its cross-region inference profile ids (``us.``, ``eu.``, ``apac.``, ``global.`` ...).

Any other id or profile still works as ``bedrock/<id>``: it is sent as written, with no catalog
checks, and priced when genai-prices' ``aws`` data knows it. No SDK import here.
"""

from __future__ import annotations

from dataclasses import replace

from cencori_core.catalog import ModelInfo

__all__ = ["MODELS"]

CHAT = frozenset({"chat", "streaming", "tools"})
VISION = CHAT | {"vision"}
CLAUDE = VISION | {"json", "reasoning"}
EMBEDDINGS = frozenset({"embeddings"})

_BASE: tuple[tuple[ModelInfo, tuple[str, ...]], ...] = (
    # Anthropic: the geographic profiles Bedrock offers for each.
    (ModelInfo(name="anthropic.claude-sonnet-4-5-20250929-v1:0", capabilities=CLAUDE,
               context_window=200_000, max_output_tokens=64_000),
     ("us", "eu", "apac", "jp", "global")),
    (ModelInfo(name="anthropic.claude-sonnet-4-20250514-v1:0", capabilities=CLAUDE,
               context_window=200_000, max_output_tokens=64_000),
     ("us", "eu", "apac", "global")),
    (ModelInfo(name="anthropic.claude-opus-4-1-20250805-v1:0", capabilities=CLAUDE,
               context_window=200_000, max_output_tokens=32_000), ("us",)),
    (ModelInfo(name="anthropic.claude-haiku-4-5-20251001-v1:0", capabilities=CLAUDE,
               context_window=200_000, max_output_tokens=64_000),
     ("us", "eu", "apac", "global")),
    (ModelInfo(name="anthropic.claude-3-7-sonnet-20250219-v1:0", capabilities=CLAUDE,
               context_window=200_000, max_output_tokens=64_000), ("us", "eu", "apac")),
    (ModelInfo(name="anthropic.claude-3-5-haiku-20241022-v1:0", capabilities=CHAT,
               context_window=200_000, max_output_tokens=8_192), ("us",)),
    # Amazon Nova
    (ModelInfo(name="amazon.nova-premier-v1:0", capabilities=VISION, context_window=1_000_000,
               max_output_tokens=32_000), ("us",)),
    (ModelInfo(name="amazon.nova-pro-v1:0", capabilities=VISION, context_window=300_000,
               max_output_tokens=10_000), ("us", "eu", "apac")),
    (ModelInfo(name="amazon.nova-lite-v1:0", capabilities=VISION, context_window=300_000,
               max_output_tokens=10_000), ("us", "eu", "apac")),
    (ModelInfo(name="amazon.nova-micro-v1:0", capabilities=CHAT, context_window=128_000,
               max_output_tokens=10_000), ("us", "eu", "apac")),
    # Meta Llama (served through inference profiles in most regions)
    (ModelInfo(name="meta.llama3-3-70b-instruct-v1:0", capabilities=CHAT,
               context_window=128_000, max_output_tokens=8_192), ("us",)),
    (ModelInfo(name="meta.llama4-maverick-17b-instruct-v1:0", capabilities=VISION,
               context_window=1_000_000, max_output_tokens=8_192), ("us",)),
    (ModelInfo(name="meta.llama4-scout-17b-instruct-v1:0", capabilities=VISION,
               context_window=3_500_000, max_output_tokens=8_192), ("us",)),
    (ModelInfo(name="meta.llama3-1-8b-instruct-v1:0", capabilities=CHAT,
               context_window=128_000, max_output_tokens=2_048), ("us",)),
    # Mistral
    (ModelInfo(name="mistral.mistral-large-2402-v1:0", capabilities=CHAT,
               context_window=32_000, max_output_tokens=8_192), ()),
    (ModelInfo(name="mistral.pixtral-large-2502-v1:0", capabilities=VISION,
               context_window=128_000, max_output_tokens=8_192), ("us", "eu")),
    # DeepSeek (reasoning comes back as reasoningContent)
    (ModelInfo(name="deepseek.r1-v1:0", capabilities=frozenset({"chat", "streaming",
                                                                "reasoning"}),
               context_window=128_000, max_output_tokens=32_768), ("us",)),
    # Embeddings through InvokeModel
    (ModelInfo(name="amazon.titan-embed-text-v2:0", capabilities=EMBEDDINGS,
               context_window=8_192), ()),
    (ModelInfo(name="amazon.titan-embed-text-v1", capabilities=EMBEDDINGS,
               context_window=8_192), ()),
    (ModelInfo(name="cohere.embed-english-v3", capabilities=EMBEDDINGS, context_window=512),
     ()),
    (ModelInfo(name="cohere.embed-multilingual-v3", capabilities=EMBEDDINGS,
               context_window=512), ()),
    (ModelInfo(name="cohere.embed-v4:0", capabilities=EMBEDDINGS, context_window=128_000),
     ()),
)


def _all() -> tuple[ModelInfo, ...]:
    out: list[ModelInfo] = []
    for info, profiles in _BASE:
        out.append(info)
        out.extend(replace(info, name=f"{geo}.{info.name}") for geo in profiles)
    return tuple(out)


MODELS = _all()
