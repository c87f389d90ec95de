"""The error hierarchy of cencori-core.

Every error the router raises is a :class:`CencoriError`. Provider errors are mapped at the
plugin boundary from HTTP status codes and structured error codes (never from message text), and
chained with ``raise ... from exc`` so the SDK exception stays available as ``__cause__``.
Retry and fallback read only ``.retryable`` and ``.retry_after``.

::

    CencoriError
    ├── ConfigurationError
    │   ├── UnknownModelError            close matches; also a LookupError
    │   ├── ProviderNotConfiguredError   names the environment variable / how to enable the provider
    │   ├── MissingDependencyError       names the pip extra
    │   └── PluginError
    ├── InvalidRequestError              bad input, raised before any network call
    ├── OutputValidationError            the answer is not the structured output asked for:
    │                                    .raw (the text), .errors (what failed), .response
    ├── AuthenticationError              unknown or revoked project key
    ├── PolicyViolationError             .policy, .rule
    │   ├── BudgetExceededError
    │   └── RateLimitExceededError       .retry_after
    ├── ProviderError                    .provider, .model, .status_code, .retryable, .retry_after,
    │   │                                .request_id
    │   ├── ProviderAuthError 401/403 · ProviderBadRequestError 400/404/422
    │   ├── ProviderRateLimitError 429 · ProviderServerError 5xx
    │   ├── ProviderTimeoutError · ProviderConnectionError
    │   ├── ContextWindowExceededError · ContentFilterError · ProviderResponseError (unparseable)
    │   └── StreamInterruptedError       .partial (content and usage received so far)
    └── AllAttemptsFailedError           every attempt, in order (an ExceptionGroup)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import Attempt, ChatResponse

__all__ = [
    "CencoriError",
    "ConfigurationError",
    "UnknownModelError",
    "ProviderNotConfiguredError",
    "MissingDependencyError",
    "PluginError",
    "InvalidRequestError",
    "OutputValidationError",
    "AuthenticationError",
    "PolicyViolationError",
    "BudgetExceededError",
    "RateLimitExceededError",
    "ProviderError",
    "ProviderAuthError",
    "ProviderBadRequestError",
    "ProviderRateLimitError",
    "ProviderServerError",
    "ProviderTimeoutError",
    "ProviderConnectionError",
    "ContextWindowExceededError",
    "ContentFilterError",
    "ProviderResponseError",
    "StreamInterruptedError",
    "AllAttemptsFailedError",
    "error_for_status",
]


class CencoriError(Exception):
    """Base class of every error raised by cencori-core."""


# ---------------------------------------------------------------------------- configuration


class ConfigurationError(CencoriError):
    """The router, a provider or a plugin is configured wrongly."""


class UnknownModelError(ConfigurationError, LookupError):
    """No provider serves the model name; ``matches`` holds the closest known names."""

    def __init__(self, message: str, *, model: str = "", matches: list[str] | None = None):
        super().__init__(message)
        self.model = model
        self.matches = list(matches or [])


class ProviderNotConfiguredError(ConfigurationError):
    """The provider has no credentials, or the project has not enabled it."""

    def __init__(self, message: str, *, provider: str = "", env_vars: tuple[str, ...] = ()):
        super().__init__(message)
        self.provider = provider
        self.env_vars = env_vars


class MissingDependencyError(ConfigurationError, ImportError):
    """The provider's SDK is not installed; the message names the pip extra."""

    def __init__(self, message: str, *, extra: str = ""):
        super().__init__(message)
        self.extra = extra


class PluginError(ConfigurationError):
    """A plugin broke the contract (conflicting names, async hook, bad registration)."""


# ---------------------------------------------------------------------------- caller's side


class InvalidRequestError(CencoriError, ValueError):
    """The call's arguments are wrong; raised before any network call."""

    def __init__(self, message: str, *, param: str | None = None):
        super().__init__(message)
        self.param = param


class AuthenticationError(CencoriError):
    """An unknown or revoked project key."""


class OutputValidationError(CencoriError, ValueError):
    """The model's answer is not the structured output ``response_format`` asked for: not JSON,
    or JSON that does not validate against the type. ``raw`` is the answer's text, ``errors``
    the validation errors (pydantic's ``errors()`` without the input values: location, type,
    message), ``response`` the :class:`ChatResponse` (usage and cost were spent). Raised after
    ``output_retries`` re-asks, when given, all failed."""

    def __init__(self, message: str, *, raw: str | None = None,
                 errors: list[dict[str, Any]] | None = None,
                 response: ChatResponse | None = None):
        super().__init__(message)
        self.raw = raw
        self.errors = errors or []
        self.response = response


class PolicyViolationError(CencoriError):
    """A policy blocked the call; ``policy`` and ``rule`` say which (never the offending value)."""

    def __init__(self, message: str, *, policy: str = "", rule: str = ""):
        super().__init__(message)
        self.policy = policy
        self.rule = rule


class BudgetExceededError(PolicyViolationError):
    """The call's worst-case cost does not fit in the remaining budget."""

    def __init__(self, message: str, *, policy: str = "budget", rule: str = "", **kw: Any):
        super().__init__(message, policy=policy, rule=rule)
        self.scope = kw.get("scope")
        self.limit = kw.get("limit")
        self.spent = kw.get("spent")


class RateLimitExceededError(PolicyViolationError):
    """A local rate limit is exhausted; ``retry_after`` is in seconds."""

    def __init__(
        self, message: str, *, policy: str = "rate_limit", rule: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(message, policy=policy, rule=rule)
        self.retry_after = retry_after


# ---------------------------------------------------------------------------- provider side


class ProviderError(CencoriError):
    """The provider failed the call. ``retryable`` drives retries and fallbacks."""

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status_code: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.request_id = request_id
        self.code = code

    def __str__(self) -> str:
        base = super().__str__()
        where = "/".join(p for p in (self.provider, self.model) if p)
        extra = []
        if self.status_code is not None:
            extra.append(f"status {self.status_code}")
        if self.request_id:
            extra.append(f"request id {self.request_id}")
        suffix = f" ({', '.join(extra)})" if extra else ""
        return f"{where}: {base}{suffix}" if where else f"{base}{suffix}"


class ProviderAuthError(ProviderError):
    """401/403: the provider rejected the key."""


class ProviderBadRequestError(ProviderError):
    """400/404/422: the provider rejected the request."""


class ProviderRateLimitError(ProviderError):
    """429: the provider's rate limit; ``retry_after`` from the response headers."""

    default_retryable = True


class ProviderServerError(ProviderError):
    """5xx (and Anthropic's 529 overloaded)."""

    default_retryable = True


class ProviderTimeoutError(ProviderError):
    """The request timed out."""

    default_retryable = True


class ProviderConnectionError(ProviderError):
    """The connection failed or dropped."""

    default_retryable = True


class ContextWindowExceededError(ProviderBadRequestError):
    """The prompt does not fit the model's context window."""


class ContentFilterError(ProviderBadRequestError):
    """The provider refused the prompt or the output on content grounds."""


class ProviderResponseError(ProviderError):
    """The provider answered something that cannot be parsed."""


class StreamInterruptedError(ProviderError):
    """A stream failed after chunks reached the caller; ``partial`` holds what arrived."""

    default_retryable = False

    def __init__(self, message: str, *, partial: ChatResponse | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.partial = partial


_STATUS_CLASSES: dict[int, type[ProviderError]] = {
    400: ProviderBadRequestError,
    401: ProviderAuthError,
    403: ProviderAuthError,
    404: ProviderBadRequestError,
    408: ProviderTimeoutError,
    409: ProviderServerError,
    413: ProviderBadRequestError,
    422: ProviderBadRequestError,
    429: ProviderRateLimitError,
}


def error_for_status(status_code: int | None) -> type[ProviderError]:
    """The most specific :class:`ProviderError` class for an HTTP status code."""
    if status_code is None:
        return ProviderError
    cls = _STATUS_CLASSES.get(status_code)
    if cls is not None:
        return cls
    if status_code >= 500:
        return ProviderServerError
    if status_code >= 400:
        return ProviderBadRequestError
    return ProviderError


# ---------------------------------------------------------------------------- the end of the line


class AllAttemptsFailedError(CencoriError, ExceptionGroup):  # type: ignore[misc,unused-ignore]
    """Every attempt (retries and fallbacks) failed; the exceptions are in attempt order."""

    attempts: list[Attempt]

    def __new__(
        cls, message: str, exceptions: list[Exception], attempts: list[Attempt] | None = None
    ) -> AllAttemptsFailedError:
        self = super().__new__(cls, message, exceptions)
        self.attempts = list(attempts or [])
        return self

    def __init__(
        self, message: str, exceptions: list[Exception], attempts: list[Attempt] | None = None
    ) -> None:
        super().__init__(message, exceptions)

    def derive(self, excs: Any) -> AllAttemptsFailedError:  # type: ignore[override]
        return AllAttemptsFailedError(self.message, list(excs), self.attempts)

    @property
    def retry_after(self) -> float | None:
        last = self.exceptions[-1] if self.exceptions else None
        return getattr(last, "retry_after", None)
