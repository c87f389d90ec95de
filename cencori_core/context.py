"""The call context: the mutable state of one logical call, handed to every hook.

A leaf module (it imports only types, catalog and errors) so that the hook contract, policies,
accounting, logging and telemetry can import it at run time without importing the pipeline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .catalog import ModelInfo
from .types import PolicyDecision, Route

if TYPE_CHECKING:
    from .accounting.projects import Project

__all__ = ["CallContext"]

_perf = time.perf_counter


def _no_secrets() -> tuple[str, ...]:
    return ()


class _CallState:
    """The pipeline's bookkeeping of one call, kept off the public context (issue 14): the
    retry policy, the budget reservation, the telemetry span, the record-sent flag, the final
    status and error, internal tags and the routes already checked. Plugins must not read it;
    the pipeline, streams, telemetry and logging reach it through ``CallContext._call``."""

    __slots__ = ("retry", "reservation", "span", "record_sent", "status", "error", "tags",
                 "checked", "secrets", "cache", "output", "forced")

    def __init__(self, secrets: Callable[[], Sequence[str]] | None = None) -> None:
        self.retry: Any = None
        self.reservation: Any = None
        self.span: Any = None
        self.record_sent = False
        self.status = "ok"
        self.error: BaseException | None = None
        self.tags: dict[str, Any] = {}
        self.checked: set[tuple[str, str, str | None]] | None = None
        # where known_secrets() reads from (the router's registry); no router back-reference
        self.secrets: Callable[[], Sequence[str]] = secrets or _no_secrets
        self.cache: Any = None  # the response cache's Lookup of this call (cache/__init__.py)
        # structured output (issue 17): the type's OutputSpec, and the routes (provider,
        # model, deployment) that carry the schema as a forced tool call
        self.output: Any = None
        self.forced: set[tuple[str, str, str | None]] | None = None


class CallContext:
    """The mutable state of one logical call, handed to every hook.

    Requests and responses are frozen: replace ``request`` / ``response`` to change them.
    ``state`` is free for plugins (key it by your plugin's name); cencori-core keeps nothing
    there. ``project`` is the project's name, ``project_info`` its record and ``key_id`` the id of
    the project key the call used (each None when the call has none). ``attempt_error`` is True
    while ``cencori_on_error`` reports a failed attempt (not the call's final error).
    :meth:`known_secrets` lists the provider keys the router knows (for secret scanners).
    The pipeline's own bookkeeping is not part of the context's interface.
    """

    __slots__ = ("operation", "request", "route", "model_info", "project", "project_info",
                 "key_id", "user", "metadata", "request_id", "response", "attempts",
                 "decisions", "state", "stream", "started", "time", "attempt_error", "_call")

    def __init__(self, operation: str, request: Any, *, stream: bool = False,
                 project: str | None = None, user: str | None = None,
                 metadata: dict[str, Any] | None = None,
                 known_secrets: Callable[[], Sequence[str]] | None = None) -> None:
        self.operation = operation
        self.request = request
        self.route: Route | None = None
        self.model_info: ModelInfo | None = None
        self.project = project
        self.project_info: Project | None = None
        self.key_id: str | None = None
        self.user = user
        self.metadata = metadata or {}
        # 128 random bits, like uuid4, at a tenth of its cost (this runs on every call)
        self.request_id: str = request.idempotency_key or "req_" + os.urandom(16).hex()
        self.response: Any = None
        self.attempts: list[Any] = []
        self.decisions: list[PolicyDecision] = []
        self.state: dict[str, Any] = {}
        self.stream = stream
        self.started = _perf()
        self.time = time.time()
        self.attempt_error = False
        self._call = _CallState(known_secrets)

    def known_secrets(self) -> Sequence[str]:
        """Every provider key visible to the router serving this call (arguments, config file,
        environment), read-only; empty for a context built outside a router. The same object
        is returned for every call of one router, so a scanner may cache on it."""
        return self._call.secrets()

    def decide(self, policy: str, rule: str, action: str, count: int = 1) -> None:
        """Record what a policy did (merged by policy, rule and action)."""
        for i, d in enumerate(self.decisions):
            if d.policy == policy and d.rule == rule and d.action == action:
                self.decisions[i] = PolicyDecision(policy=policy, rule=rule, action=action,
                                                   count=d.count + count)
                return
        self.decisions.append(PolicyDecision(policy=policy, rule=rule, action=action,
                                             count=count))

    @property
    def elapsed_ms(self) -> float:
        return (_perf() - self.started) * 1000.0

    def __repr__(self) -> str:
        return f"<CallContext {self.operation} {self.request_id} route={self.route}>"
