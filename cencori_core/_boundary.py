"""The provider toolkit's error boundary (see :mod:`cencori_core.provider`): SDK exceptions
mapped to ours and scrubbed of secrets, and malformed answers turned into
:class:`ProviderResponseError`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from ._scrub import Scrubber
from ._transport import refiled
from .errors import (
    CencoriError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
)

if TYPE_CHECKING:
    from .provider import MapError

# ---------------------------------------------------------------------------- errors

#: What a converter raises on an answer of the wrong shape.
CONVERTER_ERRORS: tuple[type[Exception], ...] = (
    AttributeError, LookupError, TypeError, ValueError, ArithmeticError, RecursionError)

# Exceptions that are control flow, never an SDK failure.
_PASS_THROUGH = (StopIteration, StopAsyncIteration)


def malformed(exc: BaseException, *, provider: str, model: str, what: str = "answer",
              scrubber: Scrubber | None = None) -> ProviderResponseError:
    """The :class:`ProviderResponseError` (retryable) for ``exc``, raised by a converter while
    reading the provider's ``what``. Its message names the exception type and, for structural
    errors (attribute, key, index, type), their text; never a value from the body."""
    kind = type(exc).__name__
    detail = ""
    if isinstance(exc, (AttributeError, KeyError, IndexError, TypeError)):
        text = str(exc)
        detail = f": {text[:200]}" if text else ""
        if scrubber:
            detail = scrubber.text(detail)
    if isinstance(exc, json.JSONDecodeError):
        message = f"{provider} sent a {what} that is not valid JSON"
    else:
        message = f"{provider} sent a {what} of an unexpected shape ({kind}{detail})"
    err = ProviderResponseError(message, provider=provider, model=model, retryable=True)
    err.__cause__ = exc
    if scrubber:
        scrubber.exception(err)
    return err


class ErrorBoundary:
    """Maps SDK exceptions to cencori errors at one place: ``with boundary(model): ...``.

    ``map_error(exc, *, provider, model)`` returns the :class:`ProviderError` (or None for a
    generic one). The result is raised ``from exc``; it and the whole chain behind it are
    scrubbed first. :class:`CencoriError` instances pass through (scrubbed); ``StopIteration``
    and ``BaseException`` (cancellation, ``GeneratorExit``) are never touched.
    """

    __slots__ = ("provider", "map_error", "scrubber")

    def __init__(self, *, provider: str, map_error: MapError,
                 scrubber: Scrubber | None = None) -> None:
        self.provider = provider
        self.map_error = map_error
        self.scrubber = scrubber or Scrubber()

    def __call__(self, model: str) -> _Guard:
        return _Guard(self, model, None)

    def reading(self, model: str, what: str = "answer") -> _Guard:
        """The converter boundary: :data:`CONVERTER_ERRORS` become :func:`malformed`."""
        return _Guard(self, model, what)

    def translate(self, exc: BaseException, model: str) -> BaseException:
        """The scrubbed error to raise for ``exc`` (``exc`` itself when it is ours)."""
        if isinstance(exc, CencoriError):
            return self.scrubber.exception(exc)
        try:
            err = self.map_error(exc, provider=self.provider, model=model)
        except Exception as bug:  # noqa: BLE001 - a broken mapper must not leak the SDK error
            err = ProviderError(f"could not map {type(exc).__name__} ({type(bug).__name__} in "
                                "map_error)", provider=self.provider, model=model)
        if err is None:
            err = ProviderError(f"{type(exc).__name__}: {exc}", provider=self.provider,
                                model=model)
        if isinstance(err, ProviderTimeoutError):
            err = refiled(err, exc, provider=self.provider, model=model)
        err.__cause__ = exc
        err.__suppress_context__ = True
        return self.scrubber.exception(err)


class _Guard:
    __slots__ = ("_b", "_model", "_what")

    def __init__(self, boundary: ErrorBoundary, model: str, what: str | None) -> None:
        self._b = boundary
        self._model = model
        self._what = what

    def __enter__(self) -> _Guard:
        return self

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, _PASS_THROUGH):
            return False
        b = self._b
        if (self._what is not None and isinstance(exc, CONVERTER_ERRORS)
                and not isinstance(exc, ProviderError)):
            # An InvalidRequestError (a ValueError) raised while reading an answer is the
            # answer's fault too, not the caller's.
            err: BaseException = malformed(exc, provider=b.provider, model=self._model,
                                           what=self._what, scrubber=b.scrubber)
        else:
            err = b.translate(exc, self._model)
        if err is exc:
            return False  # re-raised as it is (scrubbed)
        raise err from exc

    async def __aenter__(self) -> _Guard:
        return self

    async def __aexit__(self, typ: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        return self.__exit__(typ, exc, tb)
