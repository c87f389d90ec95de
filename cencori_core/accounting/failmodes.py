"""The refusals and fail modes of a limiter: the errors a refused call gets, what happens when
the store cannot be reached (budgets fail closed, rate limits open, unless configured otherwise),
and how long a call may wait for a rate-limit window (``rate_limit_wait``)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..errors import BudgetExceededError, ConfigurationError, RateLimitExceededError
from ..stores import StoreUnavailable, to_usd

if TYPE_CHECKING:
    from .limits import _Plan

__all__ = ["FailModes"]

log = logging.getLogger("cencori_core")

_WARN_EVERY = 60.0


class FailModes:
    """The refusals and fail-modes part of :class:`~cencori_core.accounting.limits.Limiter`."""

    def __init__(self, budget_fail_mode: str, rate_limit_fail_mode: str,
                 rate_limit_wait: float) -> None:
        for name, mode in (("budget_fail_mode", budget_fail_mode),
                           ("rate_limit_fail_mode", rate_limit_fail_mode)):
            if mode not in ("open", "closed"):
                raise ConfigurationError(f"{name} must be 'open' or 'closed', got {mode!r}")
        if isinstance(rate_limit_wait, bool) or not isinstance(rate_limit_wait, (int, float)) \
                or rate_limit_wait < 0:
            raise ConfigurationError("rate_limit_wait must be a number of seconds >= 0")
        self.budget_fail_open = budget_fail_mode == "open"
        self.rate_limit_fail_open = rate_limit_fail_mode == "open"
        self.wait = float(rate_limit_wait)
        self._warned: dict[str, float] = {}

    @staticmethod
    def _retry_after(window: tuple[float, int]) -> float:
        return max(0.0, window[0] - time.time())

    def _may_wait(self, retry_after: float, deadline: float) -> bool:
        return self.wait > 0 and time.monotonic() + retry_after <= deadline

    def _budget_error(self, plan: _Plan, refused: Any) -> BudgetExceededError:
        c = refused.counter
        scope, window, period = c.key.rsplit(":", 2)
        limit, spent, reserved = to_usd(c.limit), to_usd(refused.spent), to_usd(refused.reserved)
        label = "the router" if scope == "all" else scope.replace(":", " ", 1)
        when = "" if window == "total" else f" for {period}"
        return BudgetExceededError(
            f"budget of {label} ({window}) exhausted{when}: spent ${spent} and ${reserved} "
            f"reserved of ${limit}; this call may cost up to ${to_usd(plan.amount)}",
            rule=window, scope=scope, limit=limit, spent=spent)

    @staticmethod
    def _rate_error(item: Any, scope: str, cost: int, rule: str,
                    retry_after: float) -> RateLimitExceededError:
        label = "the router" if scope == "all" else scope.replace(":", " ", 1)
        what = "requests" if rule == "rpm" else "tokens"
        per = "minute" if item.get_expiry() == 60 else f"{item.get_expiry()} s"
        extra = (f" (this call needs {cost}, more than the whole window)"
                 if cost > item.amount else "")
        return RateLimitExceededError(
            f"rate limit of {label}: {item.amount} {what} per {per}{extra}; retry in "
            f"{retry_after:.2f} s", rule=rule, retry_after=retry_after)

    def _budget_store_down(self, exc: StoreUnavailable) -> None:
        if not self.budget_fail_open:
            raise BudgetExceededError(
                f"cannot check the budget: {exc}; failing closed (Router(budget_fail_mode="
                "'open') lets calls through while the store is down)",
                rule="store_unavailable") from exc
        self._warn("budget-down", "budgets not enforced: %s (budget_fail_mode='open')", exc)

    def _rate_store_down(self, exc: StoreUnavailable, settling: bool = False) -> None:
        if settling:  # the call has run: only its extra tokens go uncounted
            self._warn("rate-settle-down", "could not count a call's tokens in its rate "
                       "limits: %s", exc)
            return
        if not self.rate_limit_fail_open:
            raise RateLimitExceededError(
                f"cannot check the rate limit: {exc}; failing closed "
                "(rate_limit_fail_mode='open' lets calls through while the store is down)",
                rule="store_unavailable") from exc
        self._warn("rate-down", "rate limits not enforced: %s (rate_limit_fail_mode='open')",
                   exc)

    def _warn(self, what: str, msg: str, *args: Any) -> None:
        """Log a warning at most once a minute per kind: a store outage must not flood logs."""
        now = time.monotonic()
        last = self._warned.get(what)
        if last is None or now - last >= _WARN_EVERY:
            self._warned[what] = now
            log.warning(msg, *args)
