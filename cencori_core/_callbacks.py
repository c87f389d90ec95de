"""``Router(on_success=..., on_error=...)``: plain callables instead of a plugin.

Sugar over the hooks for people who do not want to write a plugin:

- ``on_success(context, record)`` runs once per call that succeeded, with the call's
  :class:`~cencori_core.context.CallContext` (``context.response`` is the final response) and its
  :class:`~cencori_core.types.UsageRecord` (tokens, cost, latency, attempts);
- ``on_error(context, error)`` runs once per call that failed (including calls blocked by a
  policy and cancelled tasks), with the exception the caller receives; failed attempts that a
  retry or fallback recovered from are not reported (write a ``cencori_on_error`` hook for
  those).

Each may be one callable or a list. Callbacks are synchronous, like every hook (an ``async def``
is refused); an exception in a callback is logged and never changes the call's outcome.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._logging import log
from .errors import ConfigurationError
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .context import CallContext
    from .types import UsageRecord

__all__ = ["callback_plugins"]

Callback = Callable[..., Any]


def _callables(value: Callback | Iterable[Callback] | None, name: str) -> list[Callback]:
    if value is None:
        return []
    items = [value] if callable(value) else list(value)
    for cb in items:
        if not callable(cb):
            raise ConfigurationError(f"{name} must be a callable or a list of callables, "
                                     f"got {type(cb).__name__}")
        if inspect.iscoroutinefunction(cb):
            raise ConfigurationError(f"{name} callbacks are called synchronously, like hooks; "
                                     f"{getattr(cb, '__name__', cb)!r} is async")
    return items


class _OnSuccess:
    name = "cencori-on-success"

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks

    @hookimpl
    def cencori_record_usage(self, context: CallContext, record: UsageRecord) -> None:
        if record.status != "ok":
            return
        for cb in self.callbacks:
            try:
                cb(context, record)
            except Exception:  # noqa: BLE001 - a user callback must not fail the call
                log.exception("on_success callback %r failed", cb)


class _OnError:
    name = "cencori-on-error"

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks

    @hookimpl
    def cencori_on_error(self, context: CallContext, error: BaseException) -> None:
        if context.attempt_error:
            return
        for cb in self.callbacks:
            try:
                cb(context, error)
            except Exception:  # noqa: BLE001 - a user callback must not fail the call
                log.exception("on_error callback %r failed", cb)


def callback_plugins(on_success: Callback | Iterable[Callback] | None,
                     on_error: Callback | Iterable[Callback] | None) -> list[Any]:
    """The plugin objects for the given callbacks (none for what is not given, so the router's
    hook fast paths stay off)."""
    out: list[Any] = []
    success = _callables(on_success, "on_success")
    if success:
        out.append(_OnSuccess(success))
    error = _callables(on_error, "on_error")
    if error:
        out.append(_OnError(error))
    return out
