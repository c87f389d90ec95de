"""Budgets and limits reserved for the duration of one call, as a context manager of the
pipeline (sync and async), so that no code path can forget a settle."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._pipeline import Pipeline
    from .context import CallContext

__all__ = ["Reserved"]


class Reserved:
    """Budgets and limits reserved for a call's duration, as a context manager (``with`` on the
    sync path, ``async with`` on the async one): whatever happens inside, a failure is recorded
    first and the reservation is then settled, so no path can forget a settle. A class rather
    than @contextmanager: this runs on every call."""

    __slots__ = ("pipe", "ctx")

    def __init__(self, pipe: Pipeline, ctx: CallContext) -> None:
        self.pipe = pipe
        self.ctx = ctx

    def __enter__(self) -> None:
        try:
            self.ctx._call.reservation = self.pipe._limiter.reserve(
                self.ctx, self.pipe.attempt_routes(self.ctx))
        except BaseException as exc:
            self.pipe.fail(self.ctx, exc)
            raise

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        ctx = self.ctx
        if exc is not None:
            self.pipe.fail(ctx, exc)  # recorded before the settle sees the record
        call = ctx._call
        res, call.reservation = call.reservation, None
        if res is not None:
            self.pipe._limiter.settle(res)

    async def __aenter__(self) -> None:
        try:
            self.ctx._call.reservation = await self.pipe._limiter.areserve(
                self.ctx, self.pipe.attempt_routes(self.ctx))
        except BaseException as exc:
            self.pipe.fail(self.ctx, exc)
            raise

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        ctx = self.ctx
        if exc is not None:
            self.pipe.fail(ctx, exc)
        call = ctx._call
        res, call.reservation = call.reservation, None
        if res is not None:
            await self.pipe._limiter.asettle(res)
