"""Budgets and rate limits: reserve before a call, settle after it.

Budgets are USD per project, user or key (or the whole router) over a window: ``total``,
``day`` or ``month`` (UTC). Before a call the router reserves its worst-case cost: an upper
bound of its input tokens (the UTF-8 size of its text, see ``max_request_tokens``) at the input
price plus ``max_tokens`` (else the model's output limit, else :data:`DEFAULT_MAX_OUTPUT`) at
the output price. The reservation fails (:class:`BudgetExceededError`, before any network call)
when ``spent + reserved + worst case`` would pass the limit. After the call the reservation is
replaced by the actual cost (a failure or a cancellation without usage releases it). The store
does each step atomically, so concurrent calls can overshoot a budget only by the amount an
actual cost exceeds its estimate.

Rate limits are requests (``rpm``) and tokens (``tpm``) per minute per project, user, model or
key (or the whole router), with `limits`: requests in a moving window (exact), tokens in a
sliding window counter, because a moving window keeps one entry per unit and a token limit
counts hundreds of thousands of them (memory and time per call would grow with the limit). A
call takes one request and its estimated input tokens up front, then the rest of its actual
tokens when it settles. Exceeding
a limit is a :class:`RateLimitExceededError` with ``retry_after``, or a wait of up to
``rate_limit_wait`` seconds when configured.

Rules, as ``Router(budgets=[...], rate_limits=[...])`` (or ``[[budgets]]`` / ``[[rate_limits]]``
tables)::

    {"limit": "100", "window": "month"}                       # the whole router
    {"project": "acme", "limit": "25", "window": "day"}       # one project
    {"user": "*", "limit": "1", "window": "day"}              # each user, separately
    {"model": "gpt-4o", "tpm": 30_000}, {"user": "*", "rpm": 10}

A project created with ``budget=`` / ``rate_limits=`` carries its own. When the store cannot be
reached, budgets fail closed and rate limits fail open by default
(``budget_fail_mode="open"``, ``rate_limit_fail_mode="closed"`` change that).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import (
    AuthenticationError,
    ConfigurationError,
)
from ..stores import Counter, StoreUnavailable, to_units, to_usd
from ..types import Usage
from .failmodes import FailModes
from .journal import MAX_UNSETTLED, RESERVATION_TTL, PendingJournal, Unsettled
from .projects import Project, check_window
from .rules import (
    _SELECTORS_BUDGET,
    _SELECTORS_RATE,
    _TTL,
    Budget,
    BudgetState,
    RateLimit,
    parse_budgets,
    parse_rate_limits,
)
from .rules import period as _period
from .rules import scope as _scope
from .usage import max_request_tokens, request_tokens

if TYPE_CHECKING:
    from ..catalog import ModelInfo
    from ..context import CallContext
    from ..types import Route, UsageRecord
    from .pricing import Pricing

__all__ = ["Budget", "RateLimit", "Limiter", "Reservation", "BudgetState", "Unsettled",
           "DEFAULT_MAX_OUTPUT", "RESERVATION_TTL", "SETTLE_RETRIES", "MAX_UNSETTLED",
           "parse_budgets", "parse_rate_limits"]

DEFAULT_MAX_OUTPUT = 4096
"""Output tokens reserved when neither the call nor the catalog gives a limit."""

_SETTLE_BACKOFF = (0.05, 0.25)
SETTLE_RETRIES = len(_SETTLE_BACKOFF)
"""Retries of a failed budget settle on the call's own path (after 50 ms, then 250 ms) before
it goes to the pending journal."""


class Reservation:
    """What a call took before it ran; the router settles it exactly once."""

    __slots__ = ("rid", "keys", "amount", "tokens", "tpm", "actual", "actual_tokens", "done",
                 "expires_at")

    def __init__(self, rid: str, keys: tuple[str, ...], amount: int, tokens: int,
                 tpm: list[tuple[Any, str]], expires_at: float = 0.0) -> None:
        self.rid = rid
        self.expires_at = expires_at
        """When the store stops counting the reservation (Unix time)."""
        self.keys = keys
        """The budget counters holding ``amount`` units."""
        self.amount = amount
        self.tokens = tokens
        """Tokens taken from the ``tpm`` windows up front."""
        self.tpm = tpm
        self.actual: Decimal | None = None
        self.actual_tokens = 0
        self.done = False

    def observe(self, record: UsageRecord) -> None:
        """Take the call's actual cost and tokens from its usage record."""
        self.actual = record.cost.total if record.cost is not None else None
        self.actual_tokens = record.usage.total_tokens


def _routes(ctx: CallContext, routes: Iterable[Route] | None) -> list[Route]:
    """The routes to price: those given (the primary first), else the call's own."""
    out = list(routes) if routes is not None else []
    if not out:
        assert ctx.route is not None
        out.append(ctx.route)
    return out


class _Plan:
    __slots__ = ("counters", "amount", "hits", "tokens", "tpm")

    def __init__(self) -> None:
        self.counters: list[Counter] = []
        self.amount = 0
        self.hits: list[tuple[Any, str, int, str]] = []  # (item, scope, cost, rule)
        self.tokens = 0
        self.tpm: list[tuple[Any, str]] = []


class Limiter(PendingJournal, FailModes):
    """Budgets and rate limits of one router, on a memory or Redis store."""

    def __init__(self, store: Any, pricing: Pricing, *, budgets: Any = None,
                 rate_limits: Any = None, budget_fail_mode: str = "closed",
                 rate_limit_fail_mode: str = "open", rate_limit_wait: float = 0.0) -> None:
        FailModes.__init__(self, budget_fail_mode, rate_limit_fail_mode, rate_limit_wait)
        self.store = store
        self.pricing = pricing
        # set by the router that owns this limiter (so limits never read the router's fields)
        self.price_provider: Callable[[str], str] = lambda name: name
        """Whose prices apply to a provider name (its type for a configured endpoint)."""
        self.model_info: Callable[[Route], ModelInfo | None] = lambda route: None
        """The catalog entry of a route."""
        self.budgets = parse_budgets(budgets)
        self.rate_limits = parse_rate_limits(rate_limits)
        # A store that reserves budget and rate limits in one script (Redis: one round trip
        # each way instead of one per counter and window).
        self._combined = hasattr(store, "reserve_all")
        self._items: dict[tuple[str, int, int], Any] = {}
        self.on_revoked: Callable[[str], None] = lambda key_id: None
        """Called with the id of a key the store found revoked (drops it from the cache)."""
        PendingJournal.__init__(self)

    # ------------------------------------------------------------------ planning (pure)

    def _plan(self, ctx: CallContext, routes: Iterable[Route] | None = None) -> _Plan | None:
        project: Project | None = ctx.project_info
        own = project is not None and (project.budget is not None or bool(project.rate_limits))
        if not (self.budgets or self.rate_limits or own):
            return None
        key_id = ctx.key_id
        route = ctx.route
        values = {"project": ctx.project, "user": ctx.user, "key": key_id,
                  "model": route.model if route is not None else None}
        now = time.time()
        plan = _Plan()

        limits: dict[str, tuple[int, str]] = {}  # counter key → (limit, window)
        budgets = list(self.budgets)
        if project is not None and project.budget is not None:
            budgets.append(Budget(limit=project.budget, window=project.budget_window,
                                  project=project.name))
        for b in budgets:
            scope = _scope(b, _SELECTORS_BUDGET, values, route)
            if scope is None:
                continue
            key = f"{scope}:{b.window}:{_period(b.window, now)}"
            units = to_units(b.limit)
            if key not in limits or units < limits[key][0]:
                limits[key] = (units, b.window)
        if limits:
            plan.counters = [Counter(k, lim, _TTL[w]) for k, (lim, w) in limits.items()]
            plan.amount = max(self._worst_case(ctx, r) for r in _routes(ctx, routes))

        rules = list(self.rate_limits)
        if project is not None and project.rate_limits:
            rules.append(RateLimit(project=project.name, rpm=project.rate_limits.get("rpm"),
                                   tpm=project.rate_limits.get("tpm")))
        for r in rules:
            scope = _scope(r, _SELECTORS_RATE, values, route)
            if scope is None:
                continue
            if r.rpm:
                plan.hits.append((self._item("rpm", r.rpm, r.window_s), scope, 1, "rpm"))
            if r.tpm:
                if not plan.tokens:
                    plan.tokens = max(1, request_tokens(ctx.request))
                item = self._item("tpm", r.tpm, r.window_s)
                plan.hits.append((item, scope, plan.tokens, "tpm"))
                plan.tpm.append((item, scope))
        return plan if plan.counters or plan.hits else None

    def _item(self, kind: str, amount: int, seconds: int) -> Any:
        item = self._items.get((kind, amount, seconds))
        if item is None:
            from limits import RateLimitItemPerSecond

            item = RateLimitItemPerSecond(amount, multiples=seconds, namespace=kind)
            self._items[(kind, amount, seconds)] = item
        return item

    def _worst_case(self, ctx: CallContext, route: Route) -> int:
        """The most this call can cost on ``route``, in units (at least 1: an exhausted budget
        refuses every call, priced or not)."""
        req = ctx.request
        info = ctx.model_info if route is ctx.route else self.model_info(route)
        prompt = max_request_tokens(req)
        if ctx.operation == "chat":
            out = req.max_tokens or (info.max_output_tokens if info else None) \
                or DEFAULT_MAX_OUTPUT
            usage = Usage.of(prompt, out, source="estimated")
        elif ctx.operation == "rerank":  # Cohere: a search unit per query and 100 documents
            usage = Usage.of(prompt, 0, search_units=-(-len(req.documents) // 100),
                             source="estimated")
        elif ctx.operation == "speech":
            usage = Usage(characters=len(req.input), source="estimated")
        elif ctx.operation == "generate_image":
            usage = Usage.of(prompt, DEFAULT_MAX_OUTPUT * req.n, images=req.n,
                             source="estimated")
        else:
            usage = Usage.of(prompt, 0, source="estimated")
        provider = self.price_provider(route.provider)
        cost, reason = self.pricing.cost(provider, route.model, usage, ctx.operation, info)
        if cost is None:
            self._warn(f"unpriced:{route.provider}/{route.model}",
                       "budgets cannot estimate the cost of %s/%s before the call (%s); "
                       "prices={...} can price it", route.provider, route.model, reason)
            return 1
        return max(1, to_units(cost.total))

    # ------------------------------------------------------------------ the two drivers

    def reserve(self, ctx: CallContext,
                routes: Iterable[Route] | None = None) -> Reservation | None:
        """Take the call's budget and rate-limit share before it runs.

        ``routes``: every route the call may attempt (primary, fallbacks, context-window
        fallback, deployments), iterated only when a budget applies; the budget reserves the
        dearest of them, so a fallback to a pricier model cannot overspend. None: the call's
        own route only."""
        plan = self._plan(ctx, routes)
        if plan is None:
            return None
        if self._pending:
            self.retry_unsettled()
        rid = ctx.request_id
        expires_at = time.time() + RESERVATION_TTL
        if self._combined:
            return self._reserve_all(plan, rid, expires_at, ctx.key_id)
        reserved = False
        if plan.counters:
            try:
                refused = self.store.reserve(plan.counters, rid, plan.amount, expires_at)
            except StoreUnavailable as exc:
                self._lost_reservation(plan, rid, expires_at, exc)
                self._budget_store_down(exc)
            else:
                if refused is not None:
                    raise self._budget_error(plan, refused)
                reserved = True
        res = self._reservation(plan, rid, reserved, expires_at)
        deadline = time.monotonic() + self.wait
        try:
            for item, scope, cost, rule in plan.hits:
                sliding = rule == "tpm"
                while True:
                    try:
                        if self.store.hit(item, scope, cost, sliding):
                            break
                        retry_after = self._retry_after(self.store.window(item, scope, sliding))
                    except StoreUnavailable as exc:
                        self._rate_store_down(exc)
                        break
                    if cost > item.amount or not self._may_wait(retry_after, deadline):
                        raise self._rate_error(item, scope, cost, rule, retry_after)
                    time.sleep(retry_after)
        except BaseException:
            self.settle(res, release=True)
            raise
        return res

    async def areserve(self, ctx: CallContext,
                       routes: Iterable[Route] | None = None) -> Reservation | None:
        """:meth:`reserve` for the async driver."""
        plan = self._plan(ctx, routes)
        if plan is None:
            return None
        import asyncio

        if self._pending:
            await self.aretry_unsettled()
        rid = ctx.request_id
        expires_at = time.time() + RESERVATION_TTL
        if self._combined:
            return await self._areserve_all(plan, rid, expires_at, ctx.key_id)
        reserved = False
        if plan.counters:
            try:
                refused = await self.store.areserve(plan.counters, rid, plan.amount, expires_at)
            except StoreUnavailable as exc:
                self._lost_reservation(plan, rid, expires_at, exc)
                self._budget_store_down(exc)
            else:
                if refused is not None:
                    raise self._budget_error(plan, refused)
                reserved = True
        res = self._reservation(plan, rid, reserved, expires_at)
        deadline = time.monotonic() + self.wait
        try:
            for item, scope, cost, rule in plan.hits:
                sliding = rule == "tpm"
                while True:
                    try:
                        if await self.store.ahit(item, scope, cost, sliding):
                            break
                        retry_after = self._retry_after(
                            await self.store.awindow(item, scope, sliding))
                    except StoreUnavailable as exc:
                        self._rate_store_down(exc)
                        break
                    if cost > item.amount or not self._may_wait(retry_after, deadline):
                        raise self._rate_error(item, scope, cost, rule, retry_after)
                    await asyncio.sleep(retry_after)
        except BaseException:
            await self.asettle(res, release=True)
            raise
        return res

    def _reserve_all(self, plan: _Plan, rid: str, expires_at: float,
                     key_id: str | None) -> Reservation:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                out = self.store.reserve_all(plan.counters, rid, plan.amount, expires_at,
                                             plan.hits, key_id=key_id)
            except StoreUnavailable as exc:
                return self._all_down(plan, rid, expires_at, exc)
            if out is None:
                return self._reservation(plan, rid, True, expires_at)
            self._check_revoked(out, key_id)
            retry_after = self._all_refused(plan, out, deadline)
            time.sleep(retry_after)

    async def _areserve_all(self, plan: _Plan, rid: str, expires_at: float,
                            key_id: str | None) -> Reservation:
        import asyncio

        deadline = time.monotonic() + self.wait
        while True:
            try:
                out = await self.store.areserve_all(plan.counters, rid, plan.amount, expires_at,
                                                    plan.hits, key_id=key_id)
            except StoreUnavailable as exc:
                return self._all_down(plan, rid, expires_at, exc)
            if out is None:
                return self._reservation(plan, rid, True, expires_at)
            self._check_revoked(out, key_id)
            item, scope, _, rule = plan.hits[out] if isinstance(out, int) else (None,) * 4
            window = None
            if item is not None:
                try:
                    window = await self.store.awindow(item, scope, rule == "tpm")
                except StoreUnavailable:
                    window = (time.time(), 0)
            await asyncio.sleep(self._all_refused(plan, out, deadline, window))

    def _lost_reservation(self, plan: _Plan, rid: str, expires_at: float,
                          exc: StoreUnavailable) -> None:
        """The store failed while reserving: its script may have run before the reply was lost
        (the connection dropped on the way back). Failing closed, the call ends here and never
        settles, so its release goes to the pending journal and is applied when the store
        answers again, instead of the budget staying held until the reservation expires (15
        min). Releasing a reservation that was never made changes nothing."""
        if not self.budget_fail_open:
            keys = tuple(c.key for c in plan.counters)
            self._journal(Reservation(rid, keys, plan.amount, 0, [], expires_at), 0,
                          f"the reservation's reply was lost: {exc}")

    def _check_revoked(self, out: Any, key_id: str | None) -> None:
        if isinstance(out, str) and key_id is not None:  # the store's REVOKED
            self.on_revoked(key_id)
            raise AuthenticationError("unknown or revoked project key")

    def _all_down(self, plan: _Plan, rid: str, expires_at: float,
                  exc: StoreUnavailable) -> Reservation:
        """The store is unreachable: each side fails open or closed as configured."""
        if plan.counters:
            self._lost_reservation(plan, rid, expires_at, exc)
            self._budget_store_down(exc)
        if plan.hits:
            self._rate_store_down(exc)
        return self._reservation(plan, rid, False, expires_at)

    def _all_refused(self, plan: _Plan, out: Any, deadline: float,
                     window: tuple[float, int] | None = None) -> float:
        """Raise the refusal of a combined reservation, or return how long to wait before
        trying it again (``rate_limit_wait``)."""
        if not isinstance(out, int):
            raise self._budget_error(plan, out)
        item, scope, cost, rule = plan.hits[out]
        if window is None:
            try:
                window = self.store.window(item, scope, rule == "tpm")
            except StoreUnavailable:
                window = (time.time(), 0)
        retry_after = self._retry_after(window)
        if cost > item.amount or not self._may_wait(retry_after, deadline):
            raise self._rate_error(item, scope, cost, rule, retry_after)
        return retry_after

    def settle(self, res: Reservation, release: bool = False) -> None:
        """Replace the reservation by the actual cost (``release``: by nothing). A store that
        fails is retried (:data:`SETTLE_RETRIES` times); if it still fails the charge goes to
        the pending journal (``router.usage.unsettled()``), logged as an ERROR, and is settled
        by the next reservation that reaches the store."""
        if res.done:
            return
        res.done = True
        actual, extra = self._actuals(res, release)
        if self._combined:
            tpm = [(item, scope, extra) for item, scope in res.tpm] if extra > 0 else []
            if not (res.keys or tpm):
                return
            for delay in (*_SETTLE_BACKOFF, None):
                try:
                    self.store.settle_all(res.keys, res.rid, actual, self._late(res), tpm)
                    return
                except StoreUnavailable as exc:
                    if delay is None:
                        return self._gave_up(res, actual, tpm, exc)
                    time.sleep(delay)
        # A store without one-script settles (in memory): nothing to retry.
        try:
            if res.keys:
                self.store.settle(res.keys, res.rid, actual)
        except StoreUnavailable as exc:
            return self._gave_up(res, actual, (), exc)
        try:
            for item, scope in res.tpm if extra > 0 else ():
                if not self.store.hit(item, scope, min(extra, item.amount), True):
                    # Over the window already: fill what is left so the next call waits.
                    remaining = self.store.window(item, scope, True)[1]
                    if remaining > 0:
                        self.store.hit(item, scope, remaining, True)
        except StoreUnavailable as exc:
            self._rate_store_down(exc, settling=True)

    async def asettle(self, res: Reservation, release: bool = False) -> None:
        """:meth:`settle` for the async driver."""
        if res.done:
            return
        import asyncio

        res.done = True
        actual, extra = self._actuals(res, release)
        if self._combined:
            tpm = [(item, scope, extra) for item, scope in res.tpm] if extra > 0 else []
            if not (res.keys or tpm):
                return
            for delay in (*_SETTLE_BACKOFF, None):
                try:
                    await self.store.asettle_all(res.keys, res.rid, actual, self._late(res),
                                                 tpm)
                    return
                except StoreUnavailable as exc:
                    if delay is None:
                        return self._gave_up(res, actual, tpm, exc)
                    await asyncio.sleep(delay)
        try:
            if res.keys:
                await self.store.asettle(res.keys, res.rid, actual)
        except StoreUnavailable as exc:
            return self._gave_up(res, actual, (), exc)
        try:
            for item, scope in res.tpm if extra > 0 else ():
                if not await self.store.ahit(item, scope, min(extra, item.amount), True):
                    remaining = (await self.store.awindow(item, scope, True))[1]
                    if remaining > 0:
                        await self.store.ahit(item, scope, remaining, True)
        except StoreUnavailable as exc:
            self._rate_store_down(exc, settling=True)

    def _gave_up(self, res: Reservation, actual: int, tpm: Any, exc: StoreUnavailable) -> None:
        if res.keys:
            self._unsettled(res, actual, exc)
        if tpm:
            self._rate_store_down(exc, settling=True)

    def settle_dropped(self, res: Reservation) -> None:
        """Settle for an async stream dropped without ``aclose()`` (from its finalizer, where
        nothing can be awaited and no network call should block): in-process stores settle
        now; otherwise the charge goes to the pending journal, applied before the next
        reservation, so the reservation does not hold the budget until it expires."""
        if self.store.name == "memory":
            self.settle(res)
            return
        if res.done:
            return
        res.done = True
        if res.keys:
            actual, _ = self._actuals(res, False)
            self._journal(res, actual, "an async stream was dropped without aclose()")

    # ------------------------------------------------------------------ shared steps

    @staticmethod
    def _reservation(plan: _Plan, rid: str, reserved: bool, expires_at: float) -> Reservation:
        keys = tuple(c.key for c in plan.counters) if reserved else ()
        return Reservation(rid, keys, plan.amount if reserved else 0, plan.tokens, plan.tpm,
                           expires_at)

    @staticmethod
    def _actuals(res: Reservation, release: bool) -> tuple[int, int]:
        if release:
            return 0, 0
        actual = to_units(res.actual) if res.actual else 0
        return actual, res.actual_tokens - res.tokens

    # ------------------------------------------------------------------ inspection

    def _state_key(self, project: str | None, user: str | None, key: str | None,
                   window: str, now: float | None) -> tuple[str, str, str]:
        check_window(window, "window")
        given = [(k, v) for k, v in (("project", project), ("user", user), ("key", key))
                 if v is not None]
        if len(given) > 1:
            raise ConfigurationError("give at most one of project, user, key")
        scope = f"{given[0][0]}:{given[0][1]}" if given else "all"
        period = _period(window, time.time() if now is None else now)
        return scope, period, f"{scope}:{window}:{period}"

    def state(self, *, project: str | None = None, user: str | None = None,
              key: str | None = None, window: str = "total",
              now: float | None = None) -> BudgetState:
        scope, period, ckey = self._state_key(project, user, key, window, now)
        spent, reserved = self.store.state(ckey)
        return BudgetState(scope=scope, window=window, period=period, spent=to_usd(spent),
                           reserved=to_usd(reserved))

    async def astate(self, *, project: str | None = None, user: str | None = None,
                     key: str | None = None, window: str = "total",
                     now: float | None = None) -> BudgetState:
        scope, period, ckey = self._state_key(project, user, key, window, now)
        spent, reserved = await self.store.astate(ckey)
        return BudgetState(scope=scope, window=window, period=period, spent=to_usd(spent),
                           reserved=to_usd(reserved))
