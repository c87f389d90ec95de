"""Budget and rate-limit rules: their types, how they are parsed from configuration, and which
counter scope and period a rule gives a call. Pure code, no store."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import ConfigurationError
from ..types import _DictMixin
from .projects import check_window, parse_money

__all__ = ["Budget", "RateLimit", "BudgetState", "parse_budgets", "parse_rate_limits",
           "period", "scope"]

# How long a window's counter outlives its period (a little, for late settlements).
_TTL = {"total": 0, "day": 3 * 86400, "month": 70 * 86400}
_SELECTORS_BUDGET = ("project", "user", "key")
_SELECTORS_RATE = ("project", "user", "model", "key")


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """A USD budget over a window for the router, a project, a user or a key (``"*"``: each
    one separately)."""

    limit: Decimal
    window: str = "total"
    project: str | None = None
    user: str | None = None
    key: str | None = None
    """A key id (``csk_<12 hex>``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """Requests and/or tokens per minute for the router, a project, a user, a model or a key."""

    rpm: int | None = None
    tpm: int | None = None
    project: str | None = None
    user: str | None = None
    model: str | None = None
    key: str | None = None
    window_s: int = 60
    """The window's length: a minute unless set (``rpm`` / ``tpm`` then count per window)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetState(_DictMixin):
    """Where a budget counter stands (USD)."""

    scope: str
    window: str
    period: str
    spent: Decimal
    reserved: Decimal


def _selector(rule: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> dict[str, str]:
    sel = {k: rule[k] for k in allowed if rule.get(k) is not None}
    if len(sel) > 1:
        raise ConfigurationError(f"{where}: give at most one of {', '.join(allowed)}")
    for k, v in sel.items():
        if not isinstance(v, str) or not v:
            raise ConfigurationError(f"{where}.{k} must be a name or '*'")
    return sel


def parse_budgets(value: Any) -> list[Budget]:
    if value is None:
        return []
    if isinstance(value, (Budget, Mapping)):
        value = [value]
    out = []
    for i, rule in enumerate(value):
        if isinstance(rule, Budget):
            out.append(rule)
            continue
        where = f"budgets[{i}]"
        if not isinstance(rule, Mapping):
            raise ConfigurationError(f"{where} must be a dict such as "
                                     '{"project": "acme", "limit": "25", "window": "day"}')
        unknown = sorted(set(rule) - {"limit", "window", *_SELECTORS_BUDGET})
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {unknown}; known: limit, window, "
                                     f"{', '.join(_SELECTORS_BUDGET)}")
        if "limit" not in rule:
            raise ConfigurationError(f"{where} needs a 'limit' in USD")
        out.append(Budget(limit=parse_money(rule["limit"], f"{where}.limit"),
                          window=check_window(rule.get("window", "total"), f"{where}.window"),
                          **_selector(rule, _SELECTORS_BUDGET, where)))
    return out


def parse_rate_limits(value: Any) -> list[RateLimit]:
    if value is None:
        return []
    if isinstance(value, (RateLimit, Mapping)):
        value = [value]
    out = []
    for i, rule in enumerate(value):
        if isinstance(rule, RateLimit):
            out.append(rule)
            continue
        where = f"rate_limits[{i}]"
        if not isinstance(rule, Mapping):
            raise ConfigurationError(f'{where} must be a dict such as {{"user": "*", "rpm": 10}}')
        unknown = sorted(set(rule) - {"rpm", "tpm", "window_s", *_SELECTORS_RATE})
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {unknown}; known: rpm, tpm, "
                                     f"window_s, {', '.join(_SELECTORS_RATE)}")
        counts: dict[str, int] = {}
        for k in ("rpm", "tpm", "window_s"):
            v = rule.get(k)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ConfigurationError(f"{where}.{k} must be a positive integer")
                counts[k] = v
        if not counts.keys() & {"rpm", "tpm"}:
            raise ConfigurationError(f"{where} needs 'rpm' and/or 'tpm'")
        out.append(RateLimit(**counts, **_selector(rule, _SELECTORS_RATE, where)))  # type: ignore[arg-type]
    return out


_periods: dict[tuple[str, int], str] = {}


def period(window: str, now: float) -> str:
    """``total``, the UTC day (``2025-01-31``) or month (``2025-01``) of ``now``."""
    if window == "total":
        return "total"
    minute = int(now // 60)  # formatting a date is slower than the rest of a reservation
    found = _periods.get((window, minute))
    if found is None:
        d = _dt.datetime.fromtimestamp(minute * 60, _dt.UTC)
        found = d.strftime("%Y-%m-%d") if window == "day" else d.strftime("%Y-%m")
        if len(_periods) > 64:
            _periods.clear()
        _periods[(window, minute)] = found
    return found


def scope(rule: Budget | RateLimit, selectors: Iterable[str], values: dict[str, Any],
           route: Any) -> str | None:
    """The counter scope a rule gives this call, or None when it does not apply."""
    for sel in selectors:
        want = getattr(rule, sel)
        if want is None:
            continue
        have = values.get(sel)
        if have is None:
            return None
        if want == "*":
            return f"{sel}:{have}"
        if sel == "model" and route is not None:
            names = {route.model, route.requested, route.alias, f"{route.provider}/{route.model}"}
            return f"model:{want}" if want in names else None
        return f"{sel}:{have}" if have == want else None
    return "all"

