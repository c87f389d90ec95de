"""Pins the public names of the contract (DESIGN.md)."""

from __future__ import annotations

import types

import cencori_core
import cencori_core.errors as errors

PUBLIC = {
    "Router", "RetryPolicy", "hookimpl", "hookspec", "Secret", "ProviderConfig", "Provider",
    "ProviderSpec", "ModelInfo", "CallContext", "ChatStream", "AsyncChatStream",
    "Message", "ToolCall", "ToolCallDelta", "Usage", "Cost", "Attempt", "PolicyDecision",
    "Route", "ChatRequest", "ChatResponse", "ChatChunk", "EmbeddingRequest",
    "EmbeddingResponse", "ImageRequest", "ImageResponse", "GeneratedImage",
    "TranscriptionRequest", "Transcription", "SpeechRequest", "Speech", "ModerationRequest",
    "ModerationResponse", "ModerationResult", "RerankRequest", "RerankResponse", "RerankResult",
    "UsageRecord", "ResponseCache",
    "Choice",  # issue 17
}
ERRORS = {
    "CencoriError", "ConfigurationError", "UnknownModelError", "ProviderNotConfiguredError",
    "MissingDependencyError", "PluginError", "InvalidRequestError", "AuthenticationError",
    "PolicyViolationError", "BudgetExceededError", "RateLimitExceededError", "ProviderError",
    "ProviderAuthError", "ProviderBadRequestError", "ProviderRateLimitError",
    "ProviderServerError", "ProviderTimeoutError", "ProviderConnectionError",
    "ContextWindowExceededError", "ContentFilterError", "ProviderResponseError",
    "StreamInterruptedError", "AllAttemptsFailedError",
    "OutputValidationError",  # issue 17
}


def test_public_names():
    assert PUBLIC | ERRORS <= set(cencori_core.__all__)
    for name in cencori_core.__all__:
        assert hasattr(cencori_core, name), name


def test_public_names_equal_all():
    """Every public name of the package is in __all__ and nothing else is (httpx's check):
    submodules aside, and ``annotations``, which ``from __future__ import annotations`` binds."""
    public = {n for n in dir(cencori_core) if not n.startswith("_")
              and not isinstance(getattr(cencori_core, n), types.ModuleType)}
    assert public - {"annotations"} == set(cencori_core.__all__)
    assert len(cencori_core.__all__) == len(set(cencori_core.__all__))
    for name in ERRORS:
        assert getattr(errors, name) is getattr(cencori_core, name)


def test_error_tree():
    e = errors
    assert issubclass(e.UnknownModelError, (e.ConfigurationError, LookupError))
    for cls in (e.ProviderNotConfiguredError, e.MissingDependencyError, e.PluginError):
        assert issubclass(cls, e.ConfigurationError)
    for cls in (e.BudgetExceededError, e.RateLimitExceededError):
        assert issubclass(cls, e.PolicyViolationError)
    for cls in (e.ProviderAuthError, e.ProviderBadRequestError, e.ProviderRateLimitError,
                e.ProviderServerError, e.ProviderTimeoutError, e.ProviderConnectionError,
                e.ContextWindowExceededError, e.ContentFilterError, e.ProviderResponseError,
                e.StreamInterruptedError):
        assert issubclass(cls, e.ProviderError)
    assert issubclass(e.AllAttemptsFailedError, (e.CencoriError, ExceptionGroup))
    assert issubclass(e.OutputValidationError, (e.CencoriError, ValueError))
    assert e.error_for_status(401) is e.ProviderAuthError
    assert e.error_for_status(404) is e.ProviderBadRequestError
    assert e.error_for_status(429) is e.ProviderRateLimitError
    assert e.error_for_status(503) is e.ProviderServerError
    assert e.error_for_status(529) is e.ProviderServerError
    assert e.ProviderRateLimitError("x").retryable and not e.ProviderBadRequestError("x").retryable
