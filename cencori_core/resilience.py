"""Retries, fallbacks, deployments with cooldown and load balancing: the attempt plan of a call.

Pure logic; the two drivers in ``_flow.py`` do the waiting. One retry loop, ours: every SDK
client is built with its own retries off. The plan hands the driver one :class:`Target` at a time
(with the delay to wait first) and is told how each attempt went:

1. retry the same model while the error is retryable and ``RetryPolicy.max_attempts`` allows,
   after ``retry-after-ms`` / ``Retry-After`` (parsed by the plugin into ``retry_after``) or
   exponential backoff with jitter (tenacity's ``wait_exponential_jitter``); a Retry-After above
   ``max_retry_after`` is not slept inside the call;
2. on ``ContextWindowExceededError``, straight to the configured larger-context model;
3. then the fallback chain (``fallbacks[model]``, else ``fallbacks["*"]``), on retryable errors
   only;
4. finally the error itself (one attempt) or ``AllAttemptsFailedError`` listing every attempt.

A model with several deployments picks one per attempt (``weighted``, ``least_busy``,
``lowest_latency`` or ``usage_based``: the lowest tokens used in the current minute), preferring
deployments that have not failed in this call and are not cooling down. A deployment that fails
``allowed_fails`` times within ``window_s`` (or answers 401/403) cools down for ``cooldown_s``;
when every deployment is cooling, one is still tried. A deployment's own ``rpm`` / ``tpm``
(requests and tokens per UTC minute) are taken when it is chosen: one at its limit is skipped like
a cooling one, and when every deployment is at its limit the call fails with a
``RateLimitExceededError`` naming them. With Redis, all of this is shared by every process (see
``stores/redis_routing.py``).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    AllAttemptsFailedError,
    CencoriError,
    ConfigurationError,
    ContextWindowExceededError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitExceededError,
)
from .types import Attempt, Route

if TYPE_CHECKING:
    from .config import ProviderConfig
    from .context import CallContext

__all__ = ["RetryPolicy", "Target", "AttemptPlan", "Deployment", "Cooldown", "Balancer",
           "MemoryDeploymentState", "RoutingTable", "STRATEGIES"]

STRATEGIES = ("weighted", "least_busy", "lowest_latency", "usage_based")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry one model before falling back.

    ``max_attempts`` counts every try of a model, the first included. ``deadline`` bounds the
    whole call (retries and fallbacks) in seconds, and each attempt's timeout with it. A
    ``Retry-After`` above ``max_retry_after`` is not slept inside the call: the call moves to the
    fallback, or raises with ``retry_after`` set.
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
        # Every field is a bounded, finite number: an infinite delay or deadline overflows the
        # sleeps and timeouts it feeds (OverflowError), and NaN compares false everywhere.
        from ._validate import MAX_SECONDS, short

        n = self.max_attempts
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100:
            raise InvalidRequestError(f"RetryPolicy.max_attempts must be an integer from 1 to "
                                      f"100, got {short(n)}", param="retry")
        for name in ("initial_delay", "max_delay", "jitter", "max_retry_after", "multiplier",
                     "deadline"):
            value = getattr(self, name)
            if value is None and name == "deadline":
                continue
            low = 1 if name == "multiplier" else 0
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not low <= value <= MAX_SECONDS or (name == "deadline" and value == 0):
                bound = "> 0" if name == "deadline" else f">= {low}"
                raise InvalidRequestError(
                    f"RetryPolicy.{name} must be a number {bound} and at most "
                    f"{MAX_SECONDS:.0f} seconds (one day), got {short(value)}", param="retry")

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
        raise InvalidRequestError("retry must be a RetryPolicy, a dict of its fields or an int, "
                                  f"got {type(value).__name__}", param="retry")

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


# ---------------------------------------------------------------------------- deployments


@dataclass(slots=True, kw_only=True)
class Deployment:
    """One way to serve a public model name (a key, a base URL, a provider)."""

    key: str
    """Internal provider-instance key, unique per router."""
    name: str
    """Public name (``response.deployment``): the configured ``name``, else ``<model>#<i>``."""
    group: str
    """The public model name this deployment serves."""
    provider: str
    """The provider (type) name, e.g. ``openai``."""
    model: str
    """The model id sent to the provider."""
    weight: float = 1.0
    config: ProviderConfig | None = field(default=None, repr=False)
    rpm: int = 0
    """Requests per minute this deployment takes (0: no limit of its own)."""
    tpm: int = 0
    """Tokens per minute (estimated input tokens when chosen, the rest after the call)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cooldown:
    allowed_fails: int = 3
    window_s: float = 60.0
    cooldown_s: float = 30.0

    def __post_init__(self) -> None:
        # a negative, NaN or infinite window or cooldown would make every failure cool a
        # deployment forever, or never
        if isinstance(self.allowed_fails, bool) or not isinstance(self.allowed_fails, int) \
                or self.allowed_fails < 0:
            raise ConfigurationError(f"cooldown: allowed_fails must be an integer >= 0, got "
                                     f"{self.allowed_fails!r}")
        for name in ("window_s", "cooldown_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value <= 86_400:
                raise ConfigurationError(f"cooldown: {name} must be a number of seconds from 0 "
                                         f"to 86400 (one day), got {value!r}")

    @classmethod
    def coerce(cls, value: Any) -> Cooldown:
        if value is None:
            return cls()
        if isinstance(value, Cooldown):
            return value
        if isinstance(value, Mapping):
            try:
                return cls(**value)
            except TypeError as exc:
                raise ConfigurationError(f"cooldown: {exc}; keys: allowed_fails, window_s, "
                                         "cooldown_s") from None
        raise ConfigurationError("cooldown must be a dict with allowed_fails, window_s, "
                                 "cooldown_s")


class MemoryDeploymentState:
    """Per-router deployment health in memory: failures, cooldowns, in-flight, latency.

    A shared store (Redis) implements the same methods so several processes agree on cooldowns.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fails: dict[str, deque[float]] = {}
        self._cooling: dict[str, float] = {}
        self.in_flight: dict[str, int] = {}
        self.latency: dict[str, float] = {}
        self.minute: dict[str, tuple[int, int, int]] = {}
        """Deployment key → (UTC minute, requests, tokens) taken in that minute."""

    def record_failure(self, key: str, cfg: Cooldown, *, hard: bool, now: float) -> bool:
        """Count a failure; returns True when the deployment enters cooldown."""
        with self._lock:
            if hard:
                self._cooling[key] = now + cfg.cooldown_s
                self._fails.pop(key, None)
                return True
            q = self._fails.setdefault(key, deque())
            q.append(now)
            while q and q[0] <= now - cfg.window_s:
                q.popleft()
            if len(q) >= cfg.allowed_fails:
                self._cooling[key] = now + cfg.cooldown_s
                q.clear()
                return True
            return False

    def cooling_until(self, keys: list[str], now: float) -> dict[str, float]:
        """The deployments among ``keys`` that are cooling now, with the time they end."""
        out = {}
        for k in keys:
            until = self._cooling.get(k)
            if until is not None:
                if until > now:
                    out[k] = until
                else:
                    self._cooling.pop(k, None)
        return out

    def acquire(self, key: str) -> None:
        with self._lock:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1

    def tokens_used(self, key: str) -> int:
        """Tokens taken by ``key`` in the current UTC minute."""
        minute, _, tokens = self.minute.get(key, (0, 0, 0))
        return tokens if minute == int(time.time() // 60) else 0

    def take(self, deps: list[Deployment], tokens: int, strategy: str = "weighted",
             ranks: dict[str, int] | None = None) -> tuple[Deployment, Any] | None:
        """The first of ``deps`` (in the strategy's order, see ``Balancer.candidates``) under
        its ``rpm`` / ``tpm`` in this minute, with the request, the ``tokens`` and an in-flight
        call counted on it (None when all are at their limit). Returns (deployment, ticket):
        the ticket goes back to :meth:`release`. A shared state re-reads the strategy's metric
        itself (``strategy``, ``ranks``)."""
        minute = int(time.time() // 60)
        with self._lock:
            for d in deps:
                m, r, t = self.minute.get(d.key, (minute, 0, 0))
                if m != minute:
                    r = t = 0
                if (d.rpm and r + 1 > d.rpm) or (d.tpm and t + tokens > d.tpm):
                    continue
                self.minute[d.key] = (minute, r + 1, t + tokens)
                self.in_flight[d.key] = self.in_flight.get(d.key, 0) + 1
                return d, None
        return None

    def release(self, key: str, latency_ms: float | None, tokens: int = 0,
                ticket: Any = None) -> None:
        """The call on ``key`` is over: ``latency_ms`` when it succeeded, ``tokens`` it used
        beyond those taken up front."""
        with self._lock:
            self.in_flight[key] = max(0, self.in_flight.get(key, 0) - 1)
            if tokens:
                m, r, t = self.minute.get(key, (0, 0, 0))
                if m == int(time.time() // 60):
                    self.minute[key] = (m, r, max(0, t + tokens))
            if latency_ms is not None:
                prev = self.latency.get(key)
                # exponential moving average: recent calls weigh most
                self.latency[key] = latency_ms if prev is None else 0.7 * prev + 0.3 * latency_ms


class Balancer:
    """Chooses a deployment for the next attempt."""

    def __init__(self, strategy: str, cooldown: Cooldown, state: Any,
                 rng: random.Random | None = None) -> None:
        if strategy not in STRATEGIES:
            raise ConfigurationError(f"routing_strategy {strategy!r} is not one of "
                                     f"{', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.cooldown = cooldown
        self.state = state
        self.rng = rng or random.Random()

    def needs_tokens(self, deps: list[Deployment]) -> bool:
        """Whether choosing among ``deps`` needs the request's token estimate."""
        return self.strategy == "usage_based" or any(d.tpm for d in deps)

    def candidates(self, deps: list[Deployment], failed: set[str],
                   now: float) -> tuple[list[Deployment], dict[str, int]]:
        """Every deployment in the order to try them, and each one's rank: the strategy's
        order among healthy deployments not yet failed in this call (rank 1), then the other
        healthy ones (2), then the cooling ones, whose cooldown ends first first (3)."""
        cooling = self.state.cooling_until([d.key for d in deps], now)
        healthy = [d for d in deps if d.key not in cooling]
        fresh = [d for d in healthy if d.key not in failed]
        pool = fresh or healthy
        rest = [d for d in healthy if d not in pool]
        cooled = sorted((d for d in deps if d.key in cooling), key=lambda d: cooling[d.key])
        ranks = {d.key: 1 for d in pool} | {d.key: 2 for d in rest} | {d.key: 3 for d in cooled}
        return self._order(pool) + self._order(rest) + cooled, ranks

    def choose(self, deps: list[Deployment], failed: set[str],
               now: float) -> tuple[Deployment, bool]:
        """(deployment, all_cooling): the one the strategy prefers now, not taken."""
        cands, ranks = self.candidates(deps, failed, now)
        return cands[0], ranks[cands[0].key] == 3

    def _order(self, pool: list[Deployment]) -> list[Deployment]:
        if len(pool) <= 1:
            return list(pool)
        shuffled = list(pool)
        self.rng.shuffle(shuffled)  # ties go to a random one (the sorts below are stable)
        if self.strategy == "least_busy":
            busy = self.state.in_flight
            return sorted(shuffled, key=lambda d: busy.get(d.key, 0))
        if self.strategy == "lowest_latency":
            lat = self.state.latency
            # try every deployment once before trusting the averages
            return sorted(shuffled, key=lambda d: (d.key in lat, lat.get(d.key, 0.0)))
        if self.strategy == "usage_based":
            used = self.state.tokens_used
            return sorted(shuffled, key=lambda d: used(d.key))
        out, left = [], list(pool)  # weighted: a weighted draw without replacement
        while left:
            d = self.rng.choices(left, weights=[x.weight for x in left])[0]
            out.append(d)
            left.remove(d)
        return out

    def take(self, group: str, candidates: list[Deployment], tokens: int,
             ranks: dict[str, int]) -> tuple[Deployment, Any]:
        """The candidate to use, counted (see ``take`` of the state);
        :class:`RateLimitExceededError` naming the deployments when all are at their limit."""
        found = self.state.take(candidates, tokens, self.strategy, ranks)
        if found is not None:
            return found  # type: ignore[no-any-return]
        wait = 60.0 - time.time() % 60
        names = ", ".join(f"{d.name} (" + ", ".join(
            f"{n} {k}" for k, n in (("rpm", d.rpm), ("tpm", d.tpm)) if n) + ")"
            for d in sorted(candidates, key=lambda d: d.name))
        raise RateLimitExceededError(
            f"every deployment of {group} is at its rate limit for this minute: {names}; "
            f"retry in {wait:.2f} s", rule="deployment", retry_after=wait)


# ---------------------------------------------------------------------------- the plan


@dataclass(slots=True, kw_only=True)
class Target:
    """Where the next attempt goes."""

    route: Route
    delay: float = 0.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tries: int = 0
    """Attempts already made on this model (its retries count against ``max_attempts``)."""
    key: str = ""
    """Provider-instance key (the provider name, or a deployment's key)."""
    deployment: Deployment | None = None
    all_cooling: bool = False
    tokens: int = 0
    """Tokens taken from the deployment's minute when it was chosen."""
    ticket: Any = None
    """The deployment state's handle of this attempt's in-flight count."""


@dataclass(slots=True, kw_only=True)
class RoutingTable:
    """What an attempt plan needs from its router: deployments, the balancer (and through it
    the deployments' health), the fallback chains, and how to resolve a fallback's name and
    find its retry policy."""

    deployments: Mapping[str, list[Deployment]]
    balancer: Balancer
    fallbacks: Mapping[str, list[str]]
    context_window_fallbacks: Mapping[str, str]
    route_for: Callable[[str], Route]
    retry_for: Callable[[str, RetryPolicy | None], RetryPolicy]


class AttemptPlan:
    """The attempt plan of one logical call: the model, its retries, then its fallbacks."""

    __slots__ = ("table", "ctx", "routes", "retry", "errors", "deadline", "_tried_models",
                 "_failed_deps", "check")

    def __init__(self, table: RoutingTable, ctx: CallContext, route: Route, retry: RetryPolicy,
                 check: Callable[[Route], None] | None = None):
        self.table = table
        self.check = check
        """Called with every concrete route before its first attempt; raises to refuse it."""
        self.ctx = ctx
        self.retry = retry
        self.routes: list[Route] = [route]
        self.errors: list[BaseException] = []
        self.deadline = time.monotonic() + retry.deadline if retry.deadline else None
        self._tried_models: set[str] = {route.requested or route.model}
        self._failed_deps: set[str] = set()

    def first(self) -> Target:
        return self._target(self.routes[0], self.retry, tries=0, delay=0.0)

    def _target(self, route: Route, retry: RetryPolicy, *, tries: int, delay: float) -> Target:
        deps = self.table.deployments.get(route.requested) if route.via == "deployment" \
            else None
        if not deps:
            # the first route was checked when the call began; fallbacks are checked here
            if self.check is not None and route is not self.routes[0]:
                self.check(route)
            return Target(route=route, retry=retry, tries=tries, delay=delay, key=route.provider)
        balancer = self.table.balancer
        cands, ranks = balancer.candidates(deps, self._failed_deps, time.monotonic())
        if self.check is not None:
            # before the take: a refused deployment holds no slot
            self.check(_concrete(route, cands[0]))
        tokens = 0
        if balancer.needs_tokens(deps):
            from .accounting.usage import request_tokens

            tokens = max(1, request_tokens(self.ctx.request))
        dep, ticket = balancer.take(route.requested or route.model, cands, tokens, ranks)
        concrete = _concrete(route, dep)
        if self.check is not None and dep is not cands[0]:
            try:
                self.check(concrete)
            except BaseException:
                balancer.state.release(dep.key, None, 0, ticket)
                raise
        return Target(route=concrete, retry=retry, tries=tries, delay=delay, key=dep.key,
                      deployment=dep, all_cooling=ranks[dep.key] == 3, tokens=tokens,
                      ticket=ticket)

    def timeout_left(self) -> float | None:
        """Seconds left before the call's deadline (None without one); raises when spent."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProviderTimeoutError("the call's deadline (RetryPolicy.deadline) has passed",
                                       retryable=False)
        return left

    def succeeded(self, target: Target, latency_ms: float, value: Any = None) -> None:
        r = target.route
        if target.deployment is not None:
            # the tokens the response used beyond those taken up front (a stream's are not
            # known yet: its estimate stands)
            usage = getattr(value, "usage", None)
            total = getattr(usage, "total_tokens", None)
            extra = total - target.tokens if isinstance(total, int) and target.tokens else 0
            self.table.balancer.state.release(target.key, latency_ms, extra, target.ticket)
        self.ctx.attempts.append(Attempt(model=r.requested or r.model, provider=r.provider,
                                         deployment=r.deployment, status="ok",
                                         delay=target.delay, latency_ms=latency_ms))

    def failed(self, target: Target, exc: BaseException, latency_ms: float) -> Target:
        """Record a failed attempt and return the next target, or raise the final error."""
        r = target.route
        self.ctx.attempts.append(Attempt(
            model=r.requested or r.model, provider=r.provider, deployment=r.deployment,
            status=type(exc).__name__, status_code=getattr(exc, "status_code", None),
            error=short(exc), delay=target.delay, latency_ms=latency_ms,
        ))
        self.errors.append(exc)
        tries = target.tries + 1
        if target.deployment is not None:
            self._deployment_failed(target, exc)
        if not isinstance(exc, ProviderError):
            # Our own refusals (bad request, policy, configuration) and plugin bugs are final.
            raise self._final(exc, target)
        now = time.monotonic()
        group = self.routes[-1]
        # 1. retry the same model (another deployment when it has several)
        if exc.retryable and tries < target.retry.max_attempts:
            delay = self._delay(exc, target, tries)
            if delay is not None and (self.deadline is None or now + delay < self.deadline):
                return self._target(group, target.retry, tries=tries, delay=delay)
        # 2. a larger-context model
        if isinstance(exc, ContextWindowExceededError):
            bigger = self.table.context_window_fallbacks.get(group.requested or r.model)
            if bigger and bigger not in self._tried_models:
                return self._fallback_to(bigger)
            raise self._final(exc, target)
        # 3. the fallback chain, on retryable errors only
        if exc.retryable and (self.deadline is None or now < self.deadline):
            fb = self.table.fallbacks
            first = self.routes[0].requested
            for name in fb.get(first) or fb.get("*") or ():
                if name not in self._tried_models:
                    return self._fallback_to(name)
        raise self._final(exc, target)

    def _deployment_failed(self, target: Target, exc: BaseException) -> None:
        balancer = self.table.balancer
        balancer.state.release(target.key, None, 0, target.ticket)
        self._failed_deps.add(target.key)
        hard = isinstance(exc, ProviderAuthError)
        if hard or (isinstance(exc, ProviderError) and exc.retryable):
            balancer.state.record_failure(target.key, balancer.cooldown, hard=hard,
                                             now=time.monotonic())

    def _fallback_to(self, name: str) -> Target:
        self._tried_models.add(name)
        route = self.table.route_for(name)
        self.routes.append(route)
        retry = self.table.retry_for(name, self.ctx._call.retry)
        return self._target(route, retry, tries=0, delay=0.0)

    def _delay(self, exc: ProviderError, target: Target, tries: int) -> float | None:
        ra = exc.retry_after
        if ra is not None:
            if ra > target.retry.max_retry_after:
                return None  # too long to wait inside the call
            return max(0.0, float(ra))
        return target.retry.backoff(tries)

    def _final(self, exc: BaseException, target: Target) -> BaseException:
        if target.all_cooling and isinstance(exc, CencoriError) and exc.args:
            exc.args = (f"{exc.args[0]} (all deployments of {target.route.requested} are "
                        "cooling down)", *exc.args[1:])
        if len(self.errors) <= 1:
            return exc
        excs = [e for e in self.errors if isinstance(e, Exception)]
        models = []
        for a in self.ctx.attempts:
            label = f"{a.provider}/{a.model}"
            if label not in models:
                models.append(label)
        note = ""
        if target.all_cooling:
            note = f"; all deployments of {target.route.requested} are cooling down"
        return AllAttemptsFailedError(
            f"all {len(self.errors)} attempts failed ({', '.join(models)}){note}; last error: "
            f"{short(exc)}", excs, list(self.ctx.attempts))


def _concrete(route: Route, dep: Deployment) -> Route:
    return Route(alias=route.alias, model=dep.model, provider=dep.provider,
                 deployment=dep.name, via="deployment", requested=route.requested)


def short(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, CencoriError) else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
