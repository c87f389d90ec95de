"""What every built-in policy shares: modes, fail-closed crash handling, findings and the work
meter. Beside it: ``_text`` (normalization, the class map), ``_rewrite`` (walking the texts of a
request or response) and ``_holdback`` (the hold-back buffer that lets stream chunks be scanned
safely).

A *finding* is ``(start, end, rule)``: a span of one text and the rule id that matched it. The
value itself never leaves the policy: decisions and errors carry only rule ids and counts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from ..context import CallContext
from ..errors import ConfigurationError, PolicyViolationError

__all__ = ["Policy", "guarded", "Finding", "Scan", "TextFn", "redact", "merge", "METER", "Meter"]

log = logging.getLogger("cencori_core.policies")

Finding = tuple[int, int, str]
Scan = Callable[[str], list[Finding]]
TextFn = Callable[..., str]  # fn(text) or fn(text, extra findings)
F = TypeVar("F", bound=Callable[..., Any])


class Policy:
    """Base class of the built-in policies (third-party policies may use it too).

    ``mode`` is one of the class's ``modes`` (the first is the default). A policy whose own code
    raises fails closed: the call is blocked with ``PolicyViolationError(rule="policy_error")``;
    with ``fail_open=True`` the failure is recorded as a decision and the call goes on.
    """

    name: ClassVar[str] = "policy"
    modes: ClassVar[tuple[str, ...]] = ("block", "flag")

    def __init__(self, *, mode: str | None = None, fail_open: bool = False) -> None:
        mode = self.modes[0] if mode is None else mode
        if mode not in self.modes:
            raise ConfigurationError(
                f"{type(self).__name__}: mode {mode!r} is not one of {', '.join(self.modes)}")
        self.mode = mode
        self.fail_open = bool(fail_open)
        # context.state key: one slot per policy object, so two instances never share state.
        self._key = f"{self.name}@{id(self):x}"

    def block(self, context: CallContext, rule: str, count: int, what: str) -> PolicyViolationError:
        """Record the block and build the error (``what`` describes the data, never quotes it)."""
        context.decide(self.name, rule, "block", count)
        return PolicyViolationError(f"blocked by the {self.name} policy: {what} (rule {rule})",
                                    policy=self.name, rule=rule)

    def _crashed(self, context: CallContext, exc: Exception) -> None:
        # Only the exception's type is reported: its message could quote the text being scanned.
        kind = type(exc).__name__
        if self.fail_open:
            log.warning("policy %s failed with %s; failing open", self.name, kind)
            context.decide(self.name, "policy_error", "fail_open", 1)
            return
        log.warning("policy %s failed with %s; failing closed", self.name, kind)
        raise PolicyViolationError(
            f"the {self.name} policy failed ({kind}) and fails closed; pass fail_open=True to "
            "let calls through when it fails", policy=self.name, rule="policy_error") from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} mode={self.mode!r}>"


def guarded(fn: F) -> F:
    """Wrap a hook method so that a crash fails closed (or open, per policy).

    ``PolicyViolationError`` passes through untouched: it is the policy's decision, not a crash.
    """

    @functools.wraps(fn)
    def wrapper(self: Policy, context: CallContext, *args: Any) -> Any:
        try:
            return fn(self, context, *args)
        except PolicyViolationError:
            raise
        except Exception as exc:  # noqa: BLE001 - any crash is handled by the policy's setting
            self._crashed(context, exc)
            return None

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------- findings


def merge(found: Iterable[Finding]) -> list[Finding]:
    """Sort findings by start and drop those overlapping an earlier (or longer) one."""
    out: list[Finding] = []
    end = -1
    for f in sorted(found, key=lambda f: (f[0], -f[1])):
        if f[0] >= end:
            out.append(f)
            end = f[1]
    return out


def redact(text: str, found: list[Finding], placeholder: Callable[[str], str]) -> str:
    """``text`` with every finding replaced by its rule's placeholder."""
    parts = []
    pos = 0
    for start, end, rule in found:
        parts.append(text[pos:start])
        parts.append(placeholder(rule))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


# ---------------------------------------------------------------------------- work meter


class Meter:
    """Characters the scanners examined, summed over every scan since the last ``reset()``.

    Each pass of a regex or ``str`` search over a whole text adds the text's length, a search
    in a window adds the window, an anchored match adds what it consumed (or its bound when it
    fails). The scanners are written so that this total is linear in their input; the tests
    read it to prove so (no wall clock), and it costs one addition per pass.
    """

    __slots__ = ("chars",)

    def __init__(self) -> None:
        self.chars = 0

    def reset(self) -> int:
        chars, self.chars = self.chars, 0
        return chars


#: The process-wide meter every built-in scanner adds to.
METER = Meter()
