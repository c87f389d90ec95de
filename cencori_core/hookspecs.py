"""The plugin contract: every hook cencori-core calls, documented.

Hooks are synchronous and must do no network I/O: they decide, providers do I/O. A hook
implementation that returns an awaitable (an ``async def``) is a
:class:`~cencori_core.errors.PluginError` on both the sync and the async path. I/O-bound limits
(budgets, rate limits on Redis) are router components, not hooks, so the event loop is never
blocked.

Implement hooks with :data:`cencori_core.hookimpl` on a plain object or module and hand it to
``Router(policies=[obj])`` or ``Router(plugins=[obj])`` (objects are *added* to the installed
plugins; plugin *names* in the same list are an allow-list of installed entry-point plugins,
like ``CENCORI_PLUGINS``), or register it later with ``router.register(obj)``, or ship it in a
distribution under the ``cencori`` entry-point group. Around-behaviour uses
``@hookimpl(wrapper=True)``.

Every hook receives the mutable :class:`~cencori_core.context.CallContext` of the call. Requests and
responses inside it are frozen: replace them (``context.request = dataclasses.replace(...)``)
rather than mutating them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

# Imported at run time (not under TYPE_CHECKING) so typing.get_type_hints() resolves every hook
# specification: context.py is a leaf, so this imports no pipeline code.
from .context import CallContext
from .types import ChatChunk, Route, UsageRecord

PROJECT = "cencori"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["hookspec", "hookimpl", "PROJECT"]


# -------------------------------------------------------------------------------------------
# Registration
# -------------------------------------------------------------------------------------------


@hookspec
def cencori_register_providers(register: Callable[..., None]) -> None:
    """Register provider implementations.

    Called once per router, when it is built. Call ``register`` once per provider::

        register(
            "openai",                         # provider name (and default instance name)
            factory,                          # factory(config: ProviderConfig) -> Provider
            prefixes=("gpt-", "o1"),          # bare names starting with these resolve here
            models=(ModelInfo(...), "name"),  # catalog entries (capabilities, context window)
            aliases={"gpt4": "gpt-4o"},
            env_keys=("OPENAI_API_KEY",),     # where the key comes from, first found wins
            env_base_url="OPENAI_BASE_URL",
            extra="openai",                   # pip install "cencori-core[openai]"
            requires_key=True,
            type_only=False,                  # True: only usable as {"type": name} config
        )

    ``factory`` is called on first use of the provider, so the plugin must import its SDK inside
    the factory, never at module import. Two plugins claiming one model name, alias or prefix is a
    :class:`~cencori_core.errors.PluginError` when the router is built.

    :param register: the registration callback.
    """


# -------------------------------------------------------------------------------------------
# Request side
# -------------------------------------------------------------------------------------------


@hookspec
def cencori_pre_request(context: CallContext) -> None:
    """Inspect or replace ``context.request`` before anything is sent.

    Called after validation and model resolution, before budgets and rate limits are reserved,
    once per logical call (not per retry). Implementations run in pluggy's order: last registered
    first, ``tryfirst``/``trylast`` to adjust. Policies passed as ``Router(policies=[a, b])`` run
    in list order.

    To block the call raise :class:`~cencori_core.errors.PolicyViolationError` (``policy``,
    ``rule``): nothing is sent, no cost is charged, and the usage record says ``blocked``. Record
    what you did with ``context.decide(policy, rule, action, count)``; never put the sensitive
    value itself anywhere.

    :param context: the call's context; ``context.operation`` says which operation
        (``chat``, ``embed``, ``generate_image``, ``transcribe``, ``speech``, ``moderate``).
    """


@hookspec
def cencori_check_route(context: CallContext, route: Route, names: frozenset[str]) -> None:
    """Allow or refuse one route (model, provider, deployment) the call is about to use.

    Called for every distinct route the call may reach, before anything is sent to it: the
    resolved model (before ``cencori_pre_request``), and each fallback, context-window fallback and
    deployment before its first attempt. A route that is refused is never tried.

    Raise :class:`~cencori_core.errors.PolicyViolationError` to block: a block ends the call (no
    further retry or fallback) and the usage record says ``blocked``.

    :param context: the call's context (``context.route`` is the route first resolved).
    :param route: the route about to be tried (``route.deployment`` set for a deployment).
    :param names: every name of the route's model, casefolded: its id, ``provider/id``, every
        alias of it and the name the caller used. Match a deny list against all of them.
    """


@hookspec(firstresult=True)
def cencori_short_circuit(context: CallContext) -> Any:
    """Answer the call without the provider (a cache hit, a canned answer).

    Called after ``cencori_pre_request``. Return a response of the operation's type
    (``ChatResponse`` for chat) to skip the provider; return ``None`` to go on.
    Stops at first non-None result. On a stream call the response is replayed as a stream and
    becomes ``stream.response``. ``cencori_post_response`` and ``cencori_record_usage`` still run.

    :param context: the call's context.
    :return: a response, or ``None``.
    """


# -------------------------------------------------------------------------------------------
# Response side
# -------------------------------------------------------------------------------------------


@hookspec
def cencori_post_response(context: CallContext) -> None:
    """Inspect or replace ``context.response`` before the caller sees it.

    Called once per successful logical call, after usage and cost are known. For streams it is
    called on the assembled final response after the last chunk (``context.stream`` is True);
    policies that already acted chunk by chunk may skip it then. Raise
    :class:`~cencori_core.errors.PolicyViolationError` to block the response.

    :param context: the call's context; ``context.response`` is set.
    """


@hookspec
def cencori_stream_chunk(context: CallContext, chunk: ChatChunk) -> Any:
    """See each stream chunk before the caller does (output policies on streams).

    Return ``None`` to pass the chunk on unchanged, a replacement ``ChatChunk``, or a list of
    chunks to emit in its place (an empty list holds it back: keep the text in
    ``context.state`` and release it later). Implementations are chained: each receives what
    the previous one returned, in pluggy's call order (``tryfirst``/``trylast`` apply), and may
    declare any subset of the arguments. A wrapper (``wrapper=True`` or ``hookwrapper=True``)
    runs once per chunk around the whole chain: its result is the list of chunks the chain
    produced; return it or a replacement list. At the end of every stream the router sends
    one last chunk with ``final=True`` (and no text of its own): flush anything held back onto it.
    Raise :class:`~cencori_core.errors.PolicyViolationError` to stop the stream.

    :param context: the call's context.
    :param chunk: the chunk as the provider produced it (or as the previous hook left it).
    :return: ``None``, a chunk, or a list of chunks.
    """


@hookspec
def cencori_on_error(context: CallContext, error: BaseException) -> None:
    """Observe a failure: each failed attempt, and the call's final error.

    Called once per failed attempt (``context.attempt_error`` is True while an attempt is being
    reported) and once with the error the caller receives. Must not raise; its return value is
    ignored.

    :param context: the call's context.
    :param error: the exception.
    """


@hookspec
def cencori_record_usage(context: CallContext, record: UsageRecord) -> None:
    """Receive the usage record of a finished logical call (accounting sinks).

    Called exactly once per logical call, whatever happened: success, error, ``blocked`` by a
    policy, ``cancelled``, ``interrupted`` stream. The record never holds prompt text or keys.
    Keep this cheap: batch writes and do them off the hot path.

    :param context: the call's context.
    :param record: the :class:`~cencori_core.types.UsageRecord`.
    """
