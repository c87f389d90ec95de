"""cencori-core: an AI gateway inside your application.

>>> from cencori_core import Router
>>> router = Router()
>>> router.chat(model="echo/echo", messages=[{"role": "user", "content": "Hi"}]).content
'echo: Hi'

Importing this package imports no provider SDK; each plugin imports its SDK on first use.
"""

from __future__ import annotations

from .catalog import ModelInfo
from .config import ProviderConfig, Secret
from .errors import (
    AllAttemptsFailedError,
    AuthenticationError,
    BudgetExceededError,
    CencoriError,
    ConfigurationError,
    ContentFilterError,
    ContextWindowExceededError,
    InvalidRequestError,
    MissingDependencyError,
    PluginError,
    PolicyViolationError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderNotConfiguredError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitExceededError,
    StreamInterruptedError,
    UnknownModelError,
)
from .hookspecs import hookimpl, hookspec
from .provider import Provider, ProviderSpec
from .resilience import RetryPolicy
from .router import AsyncChatStream, CallContext, ChatStream, Router
from .types import (
    Attempt,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Cost,
    EmbeddingRequest,
    EmbeddingResponse,
    GeneratedImage,
    ImageRequest,
    ImageResponse,
    Message,
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    PolicyDecision,
    Route,
    Speech,
    SpeechRequest,
    ToolCall,
    ToolCallDelta,
    Transcription,
    TranscriptionRequest,
    Usage,
    UsageRecord,
)

__version__ = "0.1.0"

__all__ = [
    "Router", "RetryPolicy", "hookimpl", "hookspec", "Secret", "ProviderConfig", "Provider",
    "ProviderSpec", "ModelInfo", "CallContext", "ChatStream", "AsyncChatStream",
    # types
    "Message", "ToolCall", "ToolCallDelta", "Usage", "Cost", "Attempt", "PolicyDecision",
    "Route", "ChatRequest", "ChatResponse", "ChatChunk", "EmbeddingRequest",
    "EmbeddingResponse", "ImageRequest", "ImageResponse", "GeneratedImage",
    "TranscriptionRequest", "Transcription", "SpeechRequest", "Speech", "ModerationRequest",
    "ModerationResponse", "ModerationResult", "UsageRecord",
    # errors
    "CencoriError", "ConfigurationError", "UnknownModelError", "ProviderNotConfiguredError",
    "MissingDependencyError", "PluginError", "InvalidRequestError", "AuthenticationError",
    "PolicyViolationError", "BudgetExceededError", "RateLimitExceededError", "ProviderError",
    "ProviderAuthError", "ProviderBadRequestError", "ProviderRateLimitError",
    "ProviderServerError", "ProviderTimeoutError", "ProviderConnectionError",
    "ContextWindowExceededError", "ContentFilterError", "ProviderResponseError",
    "StreamInterruptedError", "AllAttemptsFailedError",
]
