"""The accounting part of a router: stores, ledger, projects, limiter and the built-in sink.

Built once per router from its storage settings:

- budgets and rate limits: Redis when ``redis_url`` is given, else in memory;
- projects and keys: Redis when ``redis_url`` is given, else the SQLite ledger file when
  ``ledger_path`` is given, else in memory;
- usage records: the PostgreSQL ledger when ``ledger_url`` is given (shared by a fleet), the
  SQLite ledger when ``ledger_path`` is given, else in-memory aggregates.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..config import Secret
from ..errors import AuthenticationError, ConfigurationError, InvalidRequestError
from ..hookspecs import hookimpl
from ..stores import StoreUnavailable
from .ledger import MemoryLedger, SqliteLedger, SummaryRow
from .limits import BudgetState, Limiter, Unsettled
from .projects import Project, Projects

if TYPE_CHECKING:
    from ..context import CallContext
    from ..types import UsageRecord
    from .ledger_pg import PostgresLedger
    from .pricing import Pricing

__all__ = ["Accounting", "UsageView", "LedgerSink"]


class LedgerSink:
    """The built-in ``cencori_record_usage`` implementation: every record into the ledger.

    ``tryfirst`` so a failing user sink registered alongside cannot keep the ledger from seeing
    a record (pluggy stops at the first implementation that raises).
    """

    name = "cencori-ledger"

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    @hookimpl(tryfirst=True)
    def cencori_record_usage(self, context: CallContext, record: UsageRecord) -> None:
        self.ledger.add(record)


class UsageView:
    """``router.usage``: totals from the ledger and the state of budgets."""

    def __init__(self, ledger: Any, limiter: Limiter) -> None:
        self._ledger = ledger
        self._limiter = limiter

    @property
    def ledger(self) -> Any:
        """The ledger (:class:`MemoryLedger`, :class:`SqliteLedger` or
        :class:`~cencori_core.accounting.ledger_pg.PostgresLedger`)."""
        return self._ledger

    def summary(self, by: str = "model", since: Any = None,
                until: Any = None) -> list[SummaryRow]:
        """Totals per ``by`` (``model``, ``provider``, ``project``, ``user``, ``day``,
        ``operation``, ``status``) of the calls started in [``since``, ``until``): rows with
        ``key``, ``calls``, ``errors``, ``prompt_tokens``, ``completion_tokens``,
        ``total_tokens``, ``cached_tokens``, ``cache_write_tokens``, ``reasoning_tokens``,
        ``cost`` (Decimal USD) and ``unpriced``."""
        return self._ledger.summary(by=by, since=since, until=until)  # type: ignore[no-any-return]

    def flush(self) -> None:
        """Write queued records (SQLite ledger) now."""
        self._ledger.flush()

    def unsettled(self) -> list[Unsettled]:
        """Calls whose budget settle failed while the store was unreachable: their cost is not
        charged yet (each was logged as an ERROR). They are settled before the next reservation
        that reaches the store, or by :meth:`retry_unsettled`."""
        return self._limiter.unsettled()

    def retry_unsettled(self) -> int:
        """Try the pending settles now; returns how many are still pending."""
        return self._limiter.retry_unsettled()

    def budget(self, *, project: str | None = None, user: str | None = None,
               key: str | None = None, window: str = "total") -> BudgetState:
        """Spent and reserved USD of one budget counter (the router's own when no scope is
        given) in the current period of ``window``."""
        return self._limiter.state(project=project, user=user, key=key, window=window)

    async def abudget(self, *, project: str | None = None, user: str | None = None,
                      key: str | None = None, window: str = "total") -> BudgetState:
        return await self._limiter.astate(project=project, user=user, key=key, window=window)


class Accounting:
    """What the router holds for accounting (see the module docstring for where state lives)."""

    def __init__(self, pricing: Pricing, *, ledger_path: str | os.PathLike[str] | None = None,
                 ledger_url: str | None = None, redis_url: str | None = None,
                 budgets: Any = None, rate_limits: Any = None,
                 budget_fail_mode: str = "closed", rate_limit_fail_mode: str = "open",
                 rate_limit_wait: float = 0.0) -> None:
        from ..stores import open_store
        from ..stores.memory import MemoryProjects

        self.store = open_store(redis_url)
        self.pricing = pricing
        self.limiter = Limiter(self.store, pricing, budgets=budgets, rate_limits=rate_limits,
                               budget_fail_mode=budget_fail_mode,
                               rate_limit_fail_mode=rate_limit_fail_mode,
                               rate_limit_wait=rate_limit_wait)
        self.ledger: MemoryLedger | SqliteLedger | PostgresLedger
        if ledger_url is not None:
            from .ledger_pg import PostgresLedger

            if ledger_path:
                raise ConfigurationError("give ledger_path (an SQLite file) or ledger_url (a "
                                         "postgresql:// URL), not both")
            self.ledger = PostgresLedger(ledger_url)
        else:
            self.ledger = SqliteLedger(ledger_path) if ledger_path else MemoryLedger()
        if redis_url:
            from ..stores.redis import RedisProjects

            project_store: Any = RedisProjects(self.store)
        elif ledger_path:
            from ..stores.sqlite import SqliteProjects

            project_store = SqliteProjects(ledger_path)
        else:
            project_store = MemoryProjects()
        self.projects = Projects(project_store)
        self.limiter.on_revoked = lambda key_id: self.projects.invalidate("key", key_id)
        self.usage = UsageView(self.ledger, self.limiter)
        self.sink = LedgerSink(self.ledger)

    def scope(self, ctx: CallContext, api_key: Any, project: Any) -> None:
        """Set the call's project from its key or name (see ``Router._scope``).

        This runs in the shared, synchronous part of the pipeline, before the pre-request
        policies that may depend on the project. Lookups go through the projects cache; a miss
        reads the store synchronously even on the async path (a local SQLite read or one Redis
        round trip, at most once per key and project per cache period)."""
        proj: Project | None
        try:
            if api_key is not None:
                if isinstance(api_key, Secret):
                    api_key = api_key.get_secret_value()
                proj, ctx.key_id = self.projects.verify(api_key)
                if project is not None and project != proj.name:
                    raise AuthenticationError(f"the key does not belong to project {project!r}")
            else:
                if not isinstance(project, str) or not project:
                    raise InvalidRequestError("project must be a non-empty string",
                                              param="project")
                proj = self.projects.require(project)
        except StoreUnavailable as exc:
            raise AuthenticationError(f"cannot check the project: {exc}") from exc
        ctx.project = proj.name if proj is not None else project
        ctx.project_info = proj

    def close(self) -> None:
        try:
            self.ledger.close()  # may raise LedgerError: the rest is closed all the same
        finally:
            self.projects.close()
            self.store.close()

    async def aclose(self) -> None:
        try:
            self.ledger.close()
        finally:
            self.projects.close()
            await self.store.aclose()
