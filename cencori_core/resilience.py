"""Retries, fallbacks and the attempt plan of one call (pure logic; the drivers do the waiting).

One retry loop, ours: every SDK client is built with its own retries off. The plan hands the
driver one :class:`Target` at a time (with the delay to wait first) and is told how each attempt
went. Delays honour ``retry-after-ms`` / ``Retry-After`` (already parsed into the error's
``retry_after``), else exponential backoff with jitter from tenacity's wait strategy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    AllAttemptsFailedError,
    CencoriError,
    ContextWindowExceededError,
    InvalidRequestError,
    ProviderError,
)
from .types import Attempt, Route

if TYPE_CHECKING:
    from .router import CallContext, Router

__all__ = ["RetryPolicy", "Target", "AttemptPlan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry one route before falling back.

    ``max_attempts`` counts every try of a route, the first included. ``deadline`` bounds the
    whole call (retries and fallbacks) in seconds. A ``Retry-After`` above ``max_retry_after`` is
    not slept inside the call: the call moves to the fallback, or raises with ``retry_after`` set.
    """

    max_attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.25
    """Random seconds added to each backoff delay (0 to ``jitter``)."""
    max_retry_after: float = 60.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise InvalidRequestError("RetryPolicy.max_attempts must be an integer >= 1",
                                      param="retry")
        for name in ("initial_delay", "max_delay", "jitter", "max_retry_after"):
            if getattr(self, name) < 0:
                raise InvalidRequestError(f"RetryPolicy.{name} must be >= 0", param="retry")

    @classmethod
    def coerce(cls, value: Any) -> RetryPolicy | None:
        if value is None or isinstance(value, RetryPolicy):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(max_attempts=value)
        if isinstance(value, Mapping):
            try:
                return cls(**value)
            except TypeError as exc:
                raise InvalidRequestError(f"retry: {exc}", param="retry") from None
        raise InvalidRequestError("retry must be a RetryPolicy, a dict of its fields or an int",
                                  param="retry")

    def backoff(self, retry_number: int) -> float:
        """Delay before retry number ``retry_number`` (1 for the first retry)."""
        import tenacity

        wait = tenacity.wait_exponential_jitter(
            initial=self.initial_delay, max=self.max_delay, exp_base=self.multiplier,
            jitter=self.jitter,
        )
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = retry_number
        return float(wait(state))


@dataclass(slots=True, kw_only=True)
class Target:
    """Where the next attempt goes."""

    route: Route
    delay: float = 0.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tries: int = 0


class AttemptPlan:
    """The attempt plan of one logical call: the route, its retries, then its fallbacks."""

    __slots__ = ("router", "ctx", "routes", "retry", "errors", "current", "deadline",
                 "_pending_delay", "_done_fallback_models", "_started")

    def __init__(self, router: Router, ctx: CallContext, route: Route, retry: RetryPolicy):
        self.router = router
        self.ctx = ctx
        self.retry = retry
        self.routes: list[Route] = [route]
        self.errors: list[BaseException] = []
        self.current: Target | None = None
        self._started = time.monotonic()
        self.deadline = self._started + retry.deadline if retry.deadline else None
        self._pending_delay = 0.0
        self._done_fallback_models: set[str] = {route.requested or route.model}

    def first(self) -> Target:
        self.current = Target(route=self.routes[0], retry=self.retry)
        return self.current

    def succeeded(self, target: Target, latency_ms: float) -> None:
        r = target.route
        self.ctx.attempts.append(Attempt(model=r.model, provider=r.provider,
                                         deployment=r.deployment, status="ok",
                                         delay=target.delay, latency_ms=latency_ms))

    def failed(self, target: Target, exc: BaseException, latency_ms: float) -> Target:
        """Record a failed attempt and return the next target, or raise the final error."""
        r = target.route
        self.ctx.attempts.append(Attempt(
            model=r.model, provider=r.provider, deployment=r.deployment,
            status=type(exc).__name__, status_code=getattr(exc, "status_code", None),
            error=_short(exc), delay=target.delay, latency_ms=latency_ms,
        ))
        self.errors.append(exc)
        target.tries += 1
        if not isinstance(exc, ProviderError):
            # Our own refusals (bad request, policy, configuration) and plugin bugs are final.
            raise self._final(exc)
        now = time.monotonic()
        # 1. retry the same route
        if exc.retryable and target.tries < target.retry.max_attempts:
            delay = self._delay(exc, target)
            if delay is not None and (self.deadline is None or now + delay < self.deadline):
                return Target(route=r, delay=delay, retry=target.retry, tries=target.tries)
        # 2. a larger-context model
        if isinstance(exc, ContextWindowExceededError):
            bigger = self.router._context_window_fallbacks.get(r.requested or r.model)
            if bigger and bigger not in self._done_fallback_models:
                return self._fallback_to(bigger)
            raise self._final(exc)
        # 3. the fallback chain, on retryable errors only
        if exc.retryable and (self.deadline is None or now < self.deadline):
            for name in self.router._fallbacks.get(self.routes[0].requested, ()):
                if name not in self._done_fallback_models:
                    return self._fallback_to(name)
        raise self._final(exc)

    def _fallback_to(self, name: str) -> Target:
        self._done_fallback_models.add(name)
        route = self.router._route_for(name, self.ctx)
        self.routes.append(route)
        retry = self.router._retry_for(name, self.ctx)
        return Target(route=route, retry=retry)

    def _delay(self, exc: ProviderError, target: Target) -> float | None:
        ra = exc.retry_after
        if ra is not None:
            if ra > target.retry.max_retry_after:
                return None  # too long to wait inside the call
            return max(0.0, float(ra))
        return target.retry.backoff(target.tries)

    def _final(self, exc: BaseException) -> BaseException:
        if len(self.errors) <= 1:
            return exc
        excs = [e for e in self.errors if isinstance(e, Exception)]
        models = []
        for a in self.ctx.attempts:
            label = f"{a.provider}/{a.model}"
            if label not in models:
                models.append(label)
        err = AllAttemptsFailedError(
            f"all {len(self.errors)} attempts failed ({', '.join(models)}); last error: "
            f"{_short(exc)}", excs, list(self.ctx.attempts))
        return err


def _short(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, CencoriError) else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
