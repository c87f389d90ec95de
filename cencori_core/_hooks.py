"""Hook dispatch: every call of a cencori hook goes through :class:`Hooks`.

This is the only module that touches pluggy's private attributes. Two paths give one outcome:

- the fast path calls plain implementations directly (no wrappers, no keyword-only arguments,
  pluggy's tracing and call monitoring off): pluggy's order, each implementation given the
  arguments it declares (any subset of the hookspec's, in any order);
- everything else goes through pluggy's own executor, so wrappers (``wrapper=True`` and the
  old-style ``hookwrapper=True``), ``tryfirst``/``trylast`` and ``PluginManager.trace`` /
  ``add_hookcall_monitoring`` behave as pluggy documents. Tracing or monitoring switched on
  after the router was built is seen on the next call: they replace the executor.

``cencori_stream_chunk`` is a chain (each implementation receives what the previous returned):
on pluggy's path each link is its own hook call through the executor, and the wrappers run once
per chunk around the whole chain, seeing the list of chunks it produced as their result.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

from .errors import PluginError
from .types import ChatChunk

if TYPE_CHECKING:
    from .context import CallContext
    from .types import Route, UsageRecord

__all__ = ["Hooks"]

log = logging.getLogger("cencori_core")

# A directly callable implementation: takes the hook's arguments positionally in spec order.
_Direct = Callable[..., Any]

_CHUNK = "cencori_stream_chunk"


def _adapt(impl: pluggy.HookImpl, spec: tuple[str, ...]) -> _Direct:
    """``impl.function`` called with the hookspec's arguments in spec order, whatever subset
    (and order) of them it declares."""
    fn, names = impl.function, tuple(impl.argnames)
    if names == spec:
        return fn
    if not names:
        return lambda *_: fn()
    index = tuple(spec.index(n) for n in names)
    if len(index) == 1:
        i = index[0]
        return lambda *a: fn(a[i])
    return lambda *a: fn(*[a[i] for i in index])


def _direct(caller: pluggy.HookCaller, spec: tuple[str, ...]) -> tuple[_Direct, ...] | None:
    """The implementations in pluggy's calling order when all of them can be called directly,
    else None (a wrapper or keyword-only arguments need pluggy's executor)."""
    out = []
    for impl in reversed(caller.get_hookimpls()):
        if impl.wrapper or impl.hookwrapper or impl.kwargnames:
            return None
        out.append(_adapt(impl, spec))
    return tuple(out)


def check_results(results: Any, hook: str) -> None:
    """A hook returned an awaitable (an ``async def`` slipped through): a PluginError, after
    closing the coroutine so it does not warn 'never awaited'."""
    for r in results or ():
        if inspect.isawaitable(r):
            if hasattr(r, "close"):
                r.close()
            raise PluginError(f"a {hook} implementation returned an awaitable; cencori hooks "
                              "are synchronous and must not do I/O")


def call_each(pm: pluggy.PluginManager, name: str,
              kwargs_for: Callable[[pluggy.HookImpl], dict[str, Any]]
              ) -> list[tuple[pluggy.HookImpl, Any]]:
    """Call each plain implementation of hook ``name`` as its own hook call through pluggy's
    executor (wrappers around each, tracing and monitoring see it), with arguments made for that
    implementation: ``cencori_register_providers`` hands every plugin a ``register`` that knows
    which plugin registers. Returns (implementation, its results), in registration order."""
    impls = getattr(pm.hook, name).get_hookimpls()
    wrappers = [i for i in impls if i.wrapper or i.hookwrapper]
    out = []
    for impl in impls:
        if not (impl.wrapper or impl.hookwrapper):
            out.append((impl, pm._hookexec(name, [impl, *wrappers], kwargs_for(impl), False)))
    return out


class Hooks:
    """The hooks of one router's plugin manager, refreshed when plugins are registered."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        # pluggy's executor as built; tracing and monitoring replace it (then: no fast path)
        self._plain_exec = pm._inner_hookexec
        self.refresh()

    def refresh(self) -> None:
        h = self.pm.hook
        self.has_pre = bool(h.cencori_pre_request.get_hookimpls())
        self.has_route = bool(h.cencori_check_route.get_hookimpls())
        self.has_short = bool(h.cencori_short_circuit.get_hookimpls())
        self.has_post = bool(h.cencori_post_response.get_hookimpls())
        self.has_chunk = bool(h.cencori_stream_chunk.get_hookimpls())
        self.has_error = bool(h.cencori_on_error.get_hookimpls())
        self.has_record = bool(h.cencori_record_usage.get_hookimpls())
        self._pre = _direct(h.cencori_pre_request, ("context",))
        self._post = _direct(h.cencori_post_response, ("context",))
        self._record = _direct(h.cencori_record_usage, ("context", "record"))
        self._chunk = _direct(h.cencori_stream_chunk, ("context", "chunk"))
        impls = h.cencori_stream_chunk.get_hookimpls()
        self._chunk_links = [i for i in reversed(impls) if not (i.wrapper or i.hookwrapper)]
        wrappers = [i for i in impls if i.wrapper or i.hookwrapper]
        # The chain as one implementation the wrappers wrap (pluggy calls the list backwards:
        # the chain goes first in it, wrappers after, in their registered order).
        self._chunk_around: list[pluggy.HookImpl] | None = None
        if wrappers:
            chain = pluggy.HookImpl(None, "cencori-stream-chain", self._chain, {
                "wrapper": False, "hookwrapper": False, "optionalhook": False,
                "tryfirst": False, "trylast": False, "specname": None})
            self._chunk_around = [chain, *wrappers]

    def _fast(self) -> bool:
        return self.pm._inner_hookexec is self._plain_exec

    # ------------------------------------------------------------------ per-call hooks

    def pre_request(self, ctx: CallContext) -> None:
        impls = self._pre if self._fast() else None
        if impls is not None:
            results = [r for fn in impls if (r := fn(ctx)) is not None]
        else:
            results = self.pm.hook.cencori_pre_request(context=ctx)
        check_results(results, "cencori_pre_request")

    def check_route(self, ctx: CallContext, route: Route, names: frozenset[str]) -> None:
        check_results(self.pm.hook.cencori_check_route(context=ctx, route=route, names=names),
                      "cencori_check_route")

    def short_circuit(self, ctx: CallContext) -> Any:
        hit = self.pm.hook.cencori_short_circuit(context=ctx)
        if hit is not None:
            check_results([hit], "cencori_short_circuit")
        return hit

    def post_response(self, ctx: CallContext) -> None:
        impls = self._post if self._fast() else None
        if impls is not None:
            results = [r for fn in impls if (r := fn(ctx)) is not None]
        else:
            results = self.pm.hook.cencori_post_response(context=ctx)
        check_results(results, "cencori_post_response")

    def on_error(self, ctx: CallContext, exc: BaseException) -> None:
        """Observers must not change the outcome: a failing one is logged."""
        try:
            self.pm.hook.cencori_on_error(context=ctx, error=exc)
        except Exception:  # noqa: BLE001
            log.exception("a cencori_on_error hook failed")

    def record_usage(self, ctx: CallContext, record: UsageRecord) -> None:
        """A broken sink must not fail the call: a failing one is logged."""
        try:
            impls = self._record if self._fast() else None
            if impls is not None:
                for fn in impls:
                    fn(ctx, record)
            else:
                self.pm.hook.cencori_record_usage(context=ctx, record=record)
        except Exception:  # noqa: BLE001
            log.exception("a cencori_record_usage hook failed")

    # ------------------------------------------------------------------ stream chunks

    def stream_chunk(self, ctx: CallContext, chunk: ChatChunk) -> list[ChatChunk]:
        """The chunks to emit in place of ``chunk`` after every implementation (the chain)."""
        if self._fast():
            impls = self._chunk
            if impls is not None:
                out = [chunk]
                for fn in impls:
                    out = _link(out, fn, ctx)
                return out
        if self._chunk_around is None:
            return self._chain(ctx, chunk)
        return _as_chunks(self.pm._hookexec(_CHUNK, self._chunk_around,
                                            {"context": ctx, "chunk": chunk}, True))

    def _chain(self, context: CallContext, chunk: ChatChunk) -> list[ChatChunk]:
        """The chain on pluggy's path: each link is one hook call through its executor."""
        out = [chunk]
        hookexec = self.pm._hookexec
        for impl in self._chunk_links:
            def one(ctx: CallContext, c: ChatChunk, impl: pluggy.HookImpl = impl) -> Any:
                res = hookexec(_CHUNK, [impl], {"context": ctx, "chunk": c}, False)
                return res[0] if res else None  # type: ignore[index]

            out = _link(out, one, context)
        return out


def _link(chunks: list[ChatChunk], fn: _Direct, ctx: CallContext) -> list[ChatChunk]:
    """One link of the chain over every chunk so far: None keeps a chunk, a chunk replaces
    it, a list replaces it by several (or none)."""
    nxt: list[ChatChunk] = []
    for c in chunks:
        r = fn(ctx, c)
        if r is None:
            nxt.append(c)
        elif isinstance(r, ChatChunk):
            nxt.append(r)
        else:
            nxt.extend(_as_chunks(r))
    return nxt


def _as_chunks(value: Any) -> list[ChatChunk]:
    if isinstance(value, ChatChunk):
        return [value]
    if inspect.isawaitable(value):
        check_results([value], _CHUNK)
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, ChatChunk) for c in value):
        raise PluginError(f"a {_CHUNK} implementation returned {type(value).__name__}; return "
                          "None, a ChatChunk or a list of ChatChunk")
    return list(value)
