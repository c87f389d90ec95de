"""The pipeline of one call, shared by every operation and both drivers.

::

    call ─▶ validate ─▶ resolve ─▶ route checks ─▶ pre-request hooks ─▶ short circuit
         ─▶ limits/budget reserve ─▶ attempt flow (retry · fallback · deployments, each route
         checked before its first attempt) ─▶ provider plugin ─▶ official SDK ─▶ normalize
         ─▶ post-response hooks ─▶ cost ─▶ record ─▶ settle ─▶ result

Everything here is plain synchronous code: :meth:`Pipeline.begin` (scope, resolve, checks,
pre-request hooks), :meth:`Pipeline.attempts` (the attempt loop as a generator flow, driven by
``_flow.run_sync`` / ``run_async``), :meth:`Pipeline.complete` and :meth:`Pipeline.fail` (each
call recorded exactly once). Only :meth:`Pipeline.run` / :meth:`Pipeline.arun`, the reservation
context managers and the stream shells differ between sync and async.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ._flow import Flow, run_async, run_sync
from ._hooks import Hooks
from ._logging import log_attempt_failed, log_call
from ._operations import OPERATIONS, Operation
from ._registry import Registry
from ._reserved import Reserved
from ._structured import can_force, finish, force, is_forced, unforce
from .accounting.usage import finalize_usage
from .catalog import Catalog, ModelInfo
from .context import CallContext
from .errors import (
    CencoriError,
    ConfigurationError,
    InvalidRequestError,
    PolicyViolationError,
    ProviderNotConfiguredError,
    StreamInterruptedError,
)
from .provider import Provider
from .resilience import AttemptPlan, Balancer, RetryPolicy, RoutingTable, Target
from .telemetry import NO_SPAN, AttemptScope, Telemetry
from .types import Choice, Cost, Route, Usage, UsageRecord, evolve

if TYPE_CHECKING:
    from .accounting.pricing import Pricing
    from .cache import ResponseCache

R = TypeVar("R")

__all__ = ["Pipeline", "is_cancel"]


def is_cancel(exc: BaseException) -> bool:
    """Cancellation of the call: task cancel, Ctrl-C, a closed generator. asyncio is imported
    only by the async paths (it costs 30 ms to import), so look it up lazily."""
    if isinstance(exc, (KeyboardInterrupt, GeneratorExit)):
        return True
    aio = sys.modules.get("asyncio")
    return aio is not None and isinstance(exc, aio.CancelledError)


def fill(obj: Any, **fields: Any) -> None:
    """Fill fields of a response the router has not yet handed to anyone (frozen to users)."""
    for k, val in fields.items():
        object.__setattr__(obj, k, val)


class Pipeline:
    """The call pipeline of one router (see the module docstring)."""

    def __init__(self, *, hooks: Hooks, registry: Registry, balancer: Balancer,
                 fallbacks: Mapping[str, list[str]], context_window_fallbacks: Mapping[str, str],
                 telemetry: Telemetry | None, accounting: Any, pricing: Pricing,
                 retry: RetryPolicy, retry_per_model: Mapping[str, RetryPolicy | None],
                 cache: ResponseCache | None = None) -> None:
        # no Router back-reference: contexts ask known_secrets() here, nothing else needs it
        self._known: tuple[str, ...] | None = None
        self._hooks = self.hooks = hooks
        self._registry = registry
        self.catalog: Catalog = registry.catalog
        self._routing = RoutingTable(
            deployments=registry.deployments, balancer=balancer, fallbacks=fallbacks,
            context_window_fallbacks=context_window_fallbacks, route_for=registry.route_for,
            retry_for=self.retry_for)
        self._telemetry = telemetry
        self._accounting = accounting
        self._limiter = self.limiter = accounting.limiter
        self.pricing = pricing
        self.retry = retry
        self._retry_per_model = retry_per_model
        self.cache = cache
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def known_secrets(self) -> tuple[str, ...]:
        """The router's provider keys for ``CallContext.known_secrets()``: read at the first
        call that asks (as the secret scanner always did) and then one tuple, so a scanner can
        cache its compiled scan on it."""
        known = self._known
        if known is None:
            known = self._known = tuple(self._registry.known_secrets())
        return known

    def check_route(self, ctx: CallContext, route: Route) -> None:
        """Everything that must hold for one route before anything is sent to it: the model's
        capabilities for this request, the project's provider list, and the route hooks
        (Access). Run once per distinct route the call reaches: the primary route, each
        fallback, each deployment. A refusal ends the call."""
        key = (route.provider, route.model, route.deployment)
        call = ctx._call
        checked = call.checked
        if checked is None:
            checked = call.checked = set()
        elif key in checked:
            return
        ptype = None
        info = self.catalog.info(route)
        if info is None:
            ptype = self._registry.provider_type(route)
            if ptype != route.provider:
                # a configured endpoint (or deployment): the catalog knows the model by its type
                info = self.catalog.info(replace(route, provider=ptype))
        if info is not None:
            self.check_request(ctx, route, info)
        if ctx.project_info is not None:
            self.check_project_provider(ctx, route)
        if self._hooks.has_route:
            if ptype is None:
                ptype = self._registry.provider_type(route)
            names = self.catalog.names(route)
            if ptype != route.provider:
                names = names | {f"{ptype}/{route.model}".casefold()}
            self._hooks.check_route(ctx, route, names)
        checked.add(key)

    def retry_for(self, name: str, retry: RetryPolicy | None) -> RetryPolicy:
        """The call's own policy, else the model's, else the router's."""
        if retry is not None:
            return retry
        return self._retry_per_model.get(name) or self.retry

    def check_request(self, ctx: CallContext, route: Route, info: ModelInfo) -> None:
        """The model's capabilities against the operation and the request (tools, streaming,
        JSON output, images), so an unsupported request is refused before it is sent."""
        need = OPERATIONS[ctx.operation].capability
        if not info.supports(need):
            raise InvalidRequestError(
                f"model {route.model!r} ({route.provider}) does not support {need}; its "
                f"capabilities: {', '.join(sorted(info.capabilities))}", param="model")
        if ctx.operation != "chat":
            return
        req = ctx.request
        if req.tools and not info.supports("tools"):
            raise InvalidRequestError(f"model {info.name!r} does not support tools",
                                      param="tools")
        if ctx.stream and not info.supports("streaming"):
            raise InvalidRequestError(f"model {info.name!r} does not support streaming",
                                      param="model")
        if req.response_format is not None and req.response_format["type"] != "text" \
                and not info.supports("json"):
            # no native structured output: a JSON schema travels as a forced tool call
            why = can_force(req, info.supports("tools"))
            if why is not None:
                raise InvalidRequestError(
                    f"model {info.name!r} ({route.provider}) does not support structured output "
                    f"(no json capability) and {why}: drop response_format or pick a model "
                    "that has it", param="response_format")
            call = ctx._call
            if call.forced is None:
                call.forced = set()
            call.forced.add((route.provider, route.model, route.deployment))
        if req.reasoning_effort is not None and not info.supports("reasoning"):
            raise InvalidRequestError(
                f"model {info.name!r} ({route.provider}) is not a reasoning model: drop "
                "reasoning_effort or pick a model that reasons", param="reasoning_effort")
        for part, capability, what in _PART_CAPABILITY:
            if not info.supports(capability) and any(
                    isinstance(m.content, list) and any(p.get("type") == part for p in m.content)
                    for m in req.messages):
                raise InvalidRequestError(
                    f"model {info.name!r} does not accept {what} (no {capability} capability)",
                    param="messages")

    # ------------------------------------------------------------------ shared pipeline

    def scope_call(self, ctx: CallContext, api_key: str | None, project: str | None) -> None:
        """api_key / project → ``ctx.project`` and ``ctx.project_info``. An unknown
        or revoked key is an AuthenticationError; without either the call has no project."""
        if api_key is not None or project is not None:
            self._accounting.scope(ctx, api_key, project)

    def check_project_provider(self, ctx: CallContext, route: Route) -> None:
        """A project that lists its providers may use only those (fallbacks included)."""
        proj = ctx.project_info
        if proj is not None and proj.providers is not None \
                and route.provider not in proj.providers:
            enabled = [*proj.providers, route.provider]
            raise ProviderNotConfiguredError(
                f"project {proj.name!r} has not enabled provider {route.provider!r} (model "
                f"{route.model!r}); enable it with router.projects.update({proj.name!r}, "
                f"providers={enabled!r})", provider=route.provider)

    def begin(self, operation: str, model: str, request: Any, *, stream: bool = False,
               user: str | None = None, metadata: dict[str, Any] | None = None,
               retry: Any = None, api_key: str | None = None,
               project: str | None = None, cache: Any = None,
               output: Any = None) -> CallContext:
        """validate (done by the caller) → scope → resolve → pre hooks. Raises on refusal
        (after recording the call as blocked or failed)."""
        if self._closed:
            raise ConfigurationError("this Router is closed")
        ctx = CallContext(operation, request, stream=stream, user=user, metadata=metadata,
                          known_secrets=self.known_secrets)
        if self._telemetry is not None:
            self._telemetry.start(ctx)
        if output is not None:
            ctx._call.output = output  # a structured output type's spec (_structured.py)
        try:
            ctx._call.retry = RetryPolicy.coerce(retry)
            self.scope_call(ctx, api_key, project)
            route = ctx.route = self._registry.route_for(model)
            ctx.model_info = self.catalog.info(route)
            if route.via != "deployment":
                self.check_route(ctx, route)
            hooks = self._hooks
            if hooks.has_pre:
                hooks.pre_request(ctx)
            if hooks.has_short:
                hit = hooks.short_circuit(ctx)
                if hit is not None:
                    ctx.response = hit
                    ctx._call.tags["short_circuit"] = True
            if cache is not None and ctx.response is None and self.cache is not None:
                # response cache: keyed by the request as the pre-request policies left it;
                # the lookup itself is I/O, done by the driver (cache_get / acache_get)
                ctx._call.cache = self.cache.plan(ctx, cache)
        except BaseException as exc:
            self.fail(ctx, exc)
            raise
        return ctx

    def plan(self, ctx: CallContext) -> tuple[AttemptPlan, Target]:
        assert ctx.route is not None
        retry = self.retry_for(ctx.route.requested, ctx._call.retry)
        plan = AttemptPlan(self._routing, ctx, ctx.route, retry,
                           check=lambda route: self.check_route(ctx, route))
        return plan, plan.first()

    def attempt_routes(self, ctx: CallContext) -> Iterator[Route]:
        """Every route this call may attempt, in order: its own, the deployments of a group,
        context-window fallbacks, the fallback chain (each with its deployments and
        context-window fallback). Lazy: the limiter iterates it only when a budget applies, to
        reserve for the dearest (issue 13, item 5). A name that does not resolve cannot be
        attempted and is skipped."""
        first = ctx.route
        assert first is not None
        first_name = first.requested or first.model
        names = [first_name]
        fb = self._routing.fallbacks
        names += fb.get(first_name) or fb.get("*") or ()
        cw = self._routing.context_window_fallbacks
        seen: set[str] = set()
        for i, start in enumerate(names):
            name: str | None = start
            while name and name not in seen:
                seen.add(name)
                try:
                    route = first if i == 0 and name == first_name \
                        else self._registry.route_for(name)
                except CencoriError:
                    break
                yield route
                for dep in self._registry.deployments.get(name) or ():
                    yield Route(alias=route.alias, model=dep.model, provider=dep.provider,
                                deployment=dep.name, via="deployment", requested=name)
                name = cw.get(name)

    def target_request(self, ctx: CallContext, target: Target, plan: AttemptPlan) -> Any:
        req = ctx.request
        changes: dict[str, Any] = {}
        if req.model != target.route.model:
            changes["model"] = target.route.model
        if plan.deadline is not None:
            left = plan.timeout_left()
            if req.timeout is None or req.timeout > left:
                changes["timeout"] = left
        if changes:  # one copy per attempt, whatever changed
            req = evolve(req, **changes)
        if ctx._call.forced and is_forced(ctx, target):
            req = force(req)
        return req

    def complete(self, ctx: CallContext, resp: Any, target: Target | None) -> Any:
        """normalize → post hooks → cost → record. Returns the final response."""
        route = target.route if target is not None else ctx.route
        assert route is not None
        if ctx._call.forced and is_forced(ctx, target):
            resp = unforce(resp)
        usage = self.estimate_usage(ctx, resp)
        # Filled in place (the response is not yet anyone else's): one store per field.
        store = object.__setattr__
        store(resp, "usage", usage)
        store(resp, "latency_ms", ctx.elapsed_ms)
        store(resp, "attempts", list(ctx.attempts))
        provider, model = resp.provider, resp.model
        if not provider:
            store(resp, "provider", provider := route.provider)
        if not model:
            store(resp, "model", model := route.model)
        if not resp.id:
            store(resp, "id", ctx.request_id)
        if getattr(resp, "created", None) == 0:
            store(resp, "created", int(ctx.time))
        if route.deployment is not None:
            store(resp, "deployment", route.deployment)
        look = ctx._call.cache
        cost: Cost | None
        if look is not None and look.hit:  # response cache: a hit costs nothing
            cost, reason = _NO_COST, None
            store(resp, "cache_hit", True)
        else:
            cost, reason = self.pricing.cost(self._registry.price_provider(provider), model,
                                             usage, ctx.operation, ctx.model_info)
        store(resp, "cost", cost)
        ctx.response = resp
        if look is not None and not look.hit and self.cache is not None:
            self.cache.keep(look, resp)  # the provider's answer, before the policies
        if reason:
            ctx._call.tags["cost_reason"] = reason
        try:
            if self._hooks.has_post:
                self._hooks.post_response(ctx)
        except BaseException as exc:
            self.fail(ctx, exc)
            raise
        resp = ctx.response
        if ctx.decisions:
            fill(resp, policy_decisions=list(ctx.decisions))
        if ctx.operation == "chat":
            if ctx._call.output is None and not resp.choices:
                store(resp, "choices", (Choice(
                    index=0, content=resp.content, tool_calls=resp.tool_calls,
                    finish_reason=resp.finish_reason, logprobs=resp.logprobs,
                    refusal=resp.refusal),))
            else:
                try:
                    resp = finish(ctx, resp)  # choices; parsed (structured output)
                except BaseException as exc:
                    self.fail(ctx, exc)
                    raise
        self.record(ctx, "ok", resp)
        return resp

    def estimate_usage(self, ctx: CallContext, resp: Any) -> Usage:
        """The provider's usage made consistent, else an estimate (accounting/usage.py)."""
        return finalize_usage(ctx.operation, ctx.request, resp)

    def fail(self, ctx: CallContext, exc: BaseException) -> None:
        """Record a failed logical call (exactly once) and tell the error hooks."""
        if ctx._call.record_sent:
            return
        if isinstance(exc, PolicyViolationError):
            status = "blocked"
        elif is_cancel(exc):
            status = "cancelled"
        elif isinstance(exc, StreamInterruptedError):
            status = "interrupted"
        else:
            status = "error"
        ctx._call.error = exc
        if self._hooks.has_error:
            self._hooks.on_error(ctx, exc)
        # What the provider already charged for stays on the record: a response blocked by a
        # post-response policy, or what a broken stream delivered.
        self.record(ctx, status, getattr(exc, "partial", None) or ctx.response)

    def attempt_span(self, ctx: CallContext, target: Target) -> AttemptScope:
        """The context manager around one provider attempt (its span when telemetry is on)."""
        tel = self._telemetry
        return NO_SPAN if tel is None else tel.attempt(ctx, target)

    def attempt_failed(self, ctx: CallContext, exc: BaseException) -> None:
        log_attempt_failed(ctx, exc)
        if self._hooks.has_error:
            ctx.attempt_error = True
            try:
                self._hooks.on_error(ctx, exc)
            finally:
                ctx.attempt_error = False

    def record(self, ctx: CallContext, status: str, resp: Any) -> None:
        call = ctx._call
        if call.record_sent:
            return
        call.record_sent = True
        call.status = status
        if self._telemetry is not None:
            self._telemetry.end(ctx, status, resp)
        log_call(ctx, status, resp)
        has_record = self._hooks.has_record
        if not has_record and call.reservation is None:
            return
        route = ctx.route
        usage = getattr(resp, "usage", None) or Usage(source="estimated")
        last = ctx.attempts[-1] if ctx.attempts else None
        provider = getattr(resp, "provider", None) or (last.provider if last else None) \
            or (route.provider if route else None)
        model = getattr(resp, "model", None) or (last.model if last else None) \
            or (route.model if route else getattr(ctx.request, "model", None))
        cost, reason = getattr(resp, "cost", None), call.tags.get("cost_reason")
        if cost is None and resp is not None and reason is None and provider and model:
            # What a cancelled or interrupted stream consumed before it stopped.
            cost, reason = self.pricing.cost(self._registry.price_provider(provider), model, usage,
                                             ctx.operation, ctx.model_info)
        record = UsageRecord(
            request_id=ctx.request_id,
            project=ctx.project,
            user=ctx.user,
            provider=provider,
            model=model,
            operation=ctx.operation,
            usage=usage,
            cost=cost,
            status=status,
            latency_ms=ctx.elapsed_ms,
            attempts=list(ctx.attempts),
            time=ctx.time,
            error=type(call.error).__name__ if call.error is not None else None,
            deployment=getattr(resp, "deployment", None) or (last.deployment if last else None),
            cost_reason=reason,
            tags={k: val for k, val in ctx.metadata.items()
                  if isinstance(val, (str, int, float, bool))} if ctx.metadata else {},
            cache_hit=call.cache is not None and call.cache.hit,
            saved_cost=call.cache.saved if call.cache is not None and call.cache.hit else None,
        )
        if call.reservation is not None:
            call.reservation.observe(record)
        if has_record:
            self._hooks.record_usage(ctx, record)

    # ------------------------------------------------------------------ the attempt flow

    def attempts(self, ctx: CallContext,
                  fn: Callable[[Provider, Any], Any]) -> Flow[tuple[Any, Target]]:
        """The attempt loop, written once: ``fn(provider, request)`` on each target the plan
        gives (retries, fallbacks, deployments) until one succeeds or the plan gives up.
        Driven by :func:`run_sync` (``fn`` returns the result) or :func:`run_async` (``fn``
        returns an awaitable)."""
        plan, target = self.plan(ctx)
        while True:
            call = partial(self.invoke, fn, ctx, target, plan)
            value, error, latency_ms = yield target.delay, self.attempt_span(ctx, target), call
            if error is None:
                plan.succeeded(target, latency_ms, value)
                return value, target
            self.attempt_failed(ctx, error)
            target = plan.failed(target, error, latency_ms)

    def invoke(self, fn: Callable[[Provider, Any], Any], ctx: CallContext, target: Target,
                plan: AttemptPlan) -> Any:
        # inside the attempt: a provider that cannot be built or a spent deadline is that
        # attempt's failure, seen by the plan like any other
        provider = self._registry.attempt_provider(target.key)
        return fn(provider, self.target_request(ctx, target, plan))

    def reserved(self, ctx: CallContext) -> Reserved:
        """Budgets and limits reserved for the call's duration (``with`` / ``async with``)."""
        return Reserved(self, ctx)

    def run(self, ctx: CallContext, op: Operation[R]) -> R:
        """Sync driver of a non-stream call."""
        if ctx._call.cache is not None:
            self.cache_get(ctx)
        if ctx.response is not None:
            return self.complete(ctx, ctx.response, None)  # type: ignore[no-any-return]
        with Reserved(self, ctx):
            resp, target = run_sync(self.attempts(ctx, op.call))
            resp = self.complete(ctx, resp, target)
        if ctx._call.cache is not None:
            self.cache_put(ctx)
        return resp  # type: ignore[no-any-return]

    async def arun(self, ctx: CallContext, op: Operation[R]) -> R:
        """Async driver of a non-stream call."""
        if ctx._call.cache is not None:
            await self.acache_get(ctx)
        if ctx.response is not None:
            return self.complete(ctx, ctx.response, None)  # type: ignore[no-any-return]
        async with Reserved(self, ctx):
            resp, target = await run_async(self.attempts(ctx, op.acall))
            resp = self.complete(ctx, resp, target)
        if ctx._call.cache is not None:
            await self.acache_put(ctx)
        return resp  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ response cache
    # A lookup before the reservation (a hit reserves nothing), a store after a completed
    # call. The cache fails open: its errors never reach the call (cache/_backends.py).

    def cache_get(self, ctx: CallContext) -> None:
        look, cache = ctx._call.cache, self.cache
        assert look is not None and cache is not None
        try:
            hit = cache.get(look)
        except Exception:  # noqa: BLE001 - a cache fault is a miss, never the call's failure
            log_cache_fault("lookup")
            return
        if hit is not None:
            ctx.response = hit

    async def acache_get(self, ctx: CallContext) -> None:
        look, cache = ctx._call.cache, self.cache
        assert look is not None and cache is not None
        try:
            hit = await cache.aget(look)
        except Exception:  # noqa: BLE001
            log_cache_fault("lookup")
            return
        if hit is not None:
            ctx.response = hit

    def cache_put(self, ctx: CallContext) -> None:
        look, cache = ctx._call.cache, self.cache
        if look is None or cache is None or look.value is None:
            return
        try:
            cache.put(look)
        except Exception:  # noqa: BLE001
            log_cache_fault("store")

    async def acache_put(self, ctx: CallContext) -> None:
        look, cache = ctx._call.cache, self.cache
        if look is None or cache is None or look.value is None:
            return
        try:
            await cache.aput(look)
        except Exception:  # noqa: BLE001
            log_cache_fault("store")


def log_cache_fault(what: str) -> None:
    import logging

    logging.getLogger("cencori_core").warning("response cache: the %s failed; the call goes on "
                                              "uncached", what, exc_info=True)


_NO_COST = Cost()

# Content parts a model must have a capability for: (part type, capability, what it is).
# (input_audio is not enforced: the plugin catalogs do not mark audio_input yet.)
_PART_CAPABILITY = (("image_url", "vision", "images"),)

