"""The operation table: each router operation's name, the capability a model needs for it, and
the provider methods that serve it (sync and async), typed by request and response.

The pipeline runs ``op.call(provider, request)`` / ``op.acall(provider, request)`` from here
instead of looking provider methods up by name, so an operation is declared in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .catalog import OPERATION_CAPABILITY
from .provider import Provider
from .types import (
    ChatResponse,
    EmbeddingResponse,
    ImageResponse,
    ModerationResponse,
    RerankResponse,
    Speech,
    Transcription,
)

__all__ = ["Operation", "CHAT", "EMBED", "GENERATE_IMAGE", "TRANSCRIBE", "SPEECH", "MODERATE",
           "RERANK", "OPERATIONS"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Operation(Generic[R]):
    """One router operation and the provider methods that serve it."""

    name: str
    call: Callable[[Provider, Any], R]
    acall: Callable[[Provider, Any], Awaitable[R]]

    @property
    def capability(self) -> str:
        """What a catalog model must support for this operation."""
        return OPERATION_CAPABILITY[self.name]


CHAT: Operation[ChatResponse] = Operation(
    "chat", lambda p, r: p.chat(r), lambda p, r: p.achat(r))
EMBED: Operation[EmbeddingResponse] = Operation(
    "embed", lambda p, r: p.embed(r), lambda p, r: p.aembed(r))
GENERATE_IMAGE: Operation[ImageResponse] = Operation(
    "generate_image", lambda p, r: p.generate_image(r), lambda p, r: p.agenerate_image(r))
TRANSCRIBE: Operation[Transcription] = Operation(
    "transcribe", lambda p, r: p.transcribe(r), lambda p, r: p.atranscribe(r))
SPEECH: Operation[Speech] = Operation(
    "speech", lambda p, r: p.speech(r), lambda p, r: p.aspeech(r))
MODERATE: Operation[ModerationResponse] = Operation(
    "moderate", lambda p, r: p.moderate(r), lambda p, r: p.amoderate(r))
RERANK: Operation[RerankResponse] = Operation(
    "rerank", lambda p, r: p.rerank(r), lambda p, r: p.arerank(r))

OPERATIONS: dict[str, Operation[Any]] = {
    op.name: op for op in (CHAT, EMBED, GENERATE_IMAGE, TRANSCRIBE, SPEECH, MODERATE, RERANK)}
