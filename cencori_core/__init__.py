"""cencori-core: an AI gateway inside your application.

>>> from cencori_core import Router
>>> router = Router()
>>> router.chat(model="echo/echo", messages=[{"role": "user", "content": "Hi"}]).content
'echo: Hi'

Importing this package imports no provider SDK; each plugin imports its SDK on first use.
"""

from __future__ import annotations

# Imported under private names: every public name of this module is in __all__.
import typing as _typing

# Public names are loaded on first use (PEP 562), so `import cencori_core` costs almost nothing
# (the pytest plugin is imported by every test run where we are installed) and never imports a
# provider SDK. `from cencori_core import Router` loads the router and what it needs.
_LAZY: dict[str, str] = {
    'ResponseCache': '.cache',
    'ModelInfo': '.catalog',
    'ProviderConfig': '.config',
    'Secret': '.config',
    'AllAttemptsFailedError': '.errors',
    'AuthenticationError': '.errors',
    'BudgetExceededError': '.errors',
    'CencoriError': '.errors',
    'ConfigurationError': '.errors',
    'ContentFilterError': '.errors',
    'ContextWindowExceededError': '.errors',
    'InvalidRequestError': '.errors',
    'MissingDependencyError': '.errors',
    'OutputValidationError': '.errors',
    'PluginError': '.errors',
    'PolicyViolationError': '.errors',
    'ProviderAuthError': '.errors',
    'ProviderBadRequestError': '.errors',
    'ProviderConnectionError': '.errors',
    'ProviderError': '.errors',
    'ProviderNotConfiguredError': '.errors',
    'ProviderRateLimitError': '.errors',
    'ProviderResponseError': '.errors',
    'ProviderServerError': '.errors',
    'ProviderTimeoutError': '.errors',
    'RateLimitExceededError': '.errors',
    'StreamInterruptedError': '.errors',
    'UnknownModelError': '.errors',
    'hookimpl': '.hookspecs',
    'hookspec': '.hookspecs',
    'Provider': '.provider',
    'ProviderSpec': '.provider',
    'RetryPolicy': '.resilience',
    'AsyncChatStream': '.router',
    'CallContext': '.router',
    'ChatStream': '.router',
    'Router': '.router',
    'Attempt': '.types',
    'ChatChunk': '.types',
    'ChatRequest': '.types',
    'ChatResponse': '.types',
    'Choice': '.types',
    'Cost': '.types',
    'EmbeddingRequest': '.types',
    'EmbeddingResponse': '.types',
    'GeneratedImage': '.types',
    'ImageRequest': '.types',
    'ImageResponse': '.types',
    'Message': '.types',
    'ModerationRequest': '.types',
    'ModerationResponse': '.types',
    'ModerationResult': '.types',
    'RerankRequest': '.types',
    'RerankResponse': '.types',
    'RerankResult': '.types',
    'PolicyDecision': '.types',
    'Route': '.types',
    'Speech': '.types',
    'SpeechRequest': '.types',
    'ToolCall': '.types',
    'ToolCallDelta': '.types',
    'Transcription': '.types',
    'TranscriptionRequest': '.types',
    'Usage': '.types',
    'UsageRecord': '.types',
}

if _typing.TYPE_CHECKING:  # static type checkers see the real imports
    from .cache import (  # noqa: F401
        ResponseCache,
    )
    from .catalog import (  # noqa: F401
        ModelInfo,
    )
    from .config import (  # noqa: F401
        ProviderConfig,
        Secret,
    )
    from .errors import (  # noqa: F401
        AllAttemptsFailedError,
        AuthenticationError,
        BudgetExceededError,
        CencoriError,
        ConfigurationError,
        ContentFilterError,
        ContextWindowExceededError,
        InvalidRequestError,
        MissingDependencyError,
        OutputValidationError,
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
    from .hookspecs import (  # noqa: F401
        hookimpl,
        hookspec,
    )
    from .provider import (  # noqa: F401
        Provider,
        ProviderSpec,
    )
    from .resilience import (  # noqa: F401
        RetryPolicy,
    )
    from .router import (  # noqa: F401
        AsyncChatStream,
        CallContext,
        ChatStream,
        Router,
    )
    from .types import (  # noqa: F401
        Attempt,
        ChatChunk,
        ChatRequest,
        ChatResponse,
        Choice,
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
        RerankRequest,
        RerankResponse,
        RerankResult,
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
    "ResponseCache",
    # types
    "Message", "ToolCall", "ToolCallDelta", "Usage", "Cost", "Attempt", "PolicyDecision",
    "Route", "ChatRequest", "ChatResponse", "ChatChunk", "EmbeddingRequest",
    "EmbeddingResponse", "ImageRequest", "ImageResponse", "GeneratedImage",
    "TranscriptionRequest", "Transcription", "SpeechRequest", "Speech", "ModerationRequest",
    "ModerationResponse", "ModerationResult", "RerankRequest", "RerankResponse", "RerankResult",
    "UsageRecord",
    # errors
    "CencoriError", "ConfigurationError", "UnknownModelError", "ProviderNotConfiguredError",
    "MissingDependencyError", "PluginError", "InvalidRequestError", "AuthenticationError",
    "PolicyViolationError", "BudgetExceededError", "RateLimitExceededError", "ProviderError",
    "ProviderAuthError", "ProviderBadRequestError", "ProviderRateLimitError",
    "ProviderServerError", "ProviderTimeoutError", "ProviderConnectionError",
    "ContextWindowExceededError", "ContentFilterError", "ProviderResponseError",
    "StreamInterruptedError", "AllAttemptsFailedError",
    # structured output and common parameters (issue 17)
    "OutputValidationError", "Choice",
]


def __getattr__(name: str) -> _typing.Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'cencori_core' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
