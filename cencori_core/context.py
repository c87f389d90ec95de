"""The call context: the mutable state of one logical call, handed to every hook.

A leaf module (it imports only types, catalog and errors) so that the hook contract, policies,
accounting, logging and telemetry can import it at run time without importing the pipeline.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from .catalog import ModelInfo
from .types import PolicyDecision, Route

if TYPE_CHECKING:
    from .accounting.projects import Project

__all__ = ["CallContext"]

_perf = time.perf_counter


class CallContext:
    """The mutable state of one logical call, handed to every hook.

    Requests and responses are frozen: replace ``request`` / ``response`` to change them.
    ``state`` is free for plugins (key it by your plugin's name); cencori-core keeps nothing
    there. ``project`` is the project's name, ``project_info`` its record and ``key_id`` the id of
    the project key the call used (each None when the call has none).
    """

    __slots__ = ("router", "operation", "request", "route", "model_info", "project",
                 "project_info", "key_id", "user", "metadata", "request_id", "response", "attempts",
                 "decisions", "state", "stream", "started", "time", "attempt_error", "retry",
                 "reservation", "status", "error", "tags", "_record_sent", "span", "_checked")

    def __init__(self, router: Any, operation: str, request: Any, *, stream: bool = False,
                 project: str | None = None, user: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self.router = router
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
        self.retry: Any = None
        self.reservation: Any = None
        self.status = "ok"
        self.error: BaseException | None = None
        self.tags: dict[str, Any] = {}
        self._record_sent = False
        self.span: Any = None
        self._checked: set[tuple[str, str, str | None]] | None = None

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
