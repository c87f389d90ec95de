"""The pending journal of a limiter: budget settles that failed because the store was
unreachable, kept (bounded) and applied when the store answers again."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..stores import StoreUnavailable, to_units, to_usd
from ..types import _DictMixin

if TYPE_CHECKING:
    from .limits import Reservation

__all__ = ["Unsettled", "PendingJournal", "MAX_UNSETTLED", "RESERVATION_TTL"]

log = logging.getLogger("cencori_core")

RESERVATION_TTL = 900.0
"""Seconds after which an unsettled reservation (a crashed process, an abandoned stream) stops
counting against the budget."""

MAX_UNSETTLED = 100_000
"""Entries the pending journal keeps (beyond: the oldest is given up, logged as an ERROR)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsettled(_DictMixin):
    """A call whose budget settle failed (the store was unreachable): its actual cost is not
    yet charged and its reservation still held. Retried before the next reservation."""

    request_id: str
    keys: tuple[str, ...]
    """The budget counters to settle."""
    cost: Decimal
    """The actual cost to charge (USD; 0 for a released reservation)."""
    expires_at: float
    error: str
    """Why the last try failed."""
    since: float


class PendingJournal:
    """The journal part of :class:`~cencori_core.accounting.limits.Limiter`."""

    store: Any

    def __init__(self) -> None:
        self._pending: list[Unsettled] = []
        self._pending_lock = threading.Lock()

    # ------------------------------------------------------------------ the pending journal

    @staticmethod
    def _late(res: Reservation | Unsettled) -> bool:
        """Whether the reservation may have expired: then a settle that finds it gone still
        charges the cost; before, a missing reservation means an earlier try of this same
        settle went through (its reply was lost) and charging again would count it twice."""
        return time.time() >= res.expires_at

    def _unsettled(self, res: Reservation, actual: int, exc: StoreUnavailable) -> None:
        entry = self._journal(res, actual, str(exc))
        log.error("could not settle the budget of call %s ($%s): %s; kept in "
                  "router.usage.unsettled() (%d pending) and retried when the store answers",
                  res.rid, entry.cost, exc, len(self._pending))

    def _journal(self, res: Reservation, actual: int, why: str) -> Unsettled:
        entry = Unsettled(request_id=res.rid, keys=res.keys, cost=to_usd(actual),
                          expires_at=res.expires_at, error=why, since=time.time())
        with self._pending_lock:
            self._pending.append(entry)
            dropped = len(self._pending) > MAX_UNSETTLED
            if dropped:
                lost = self._pending.pop(0)
        if dropped:
            log.error("the unsettled-charge journal is full (%d); gave up on call %s ($%s): its "
                      "reservation expires after %d s and its cost is not charged",
                      MAX_UNSETTLED, lost.request_id, lost.cost, int(RESERVATION_TTL))
        return entry

    def unsettled(self) -> list[Unsettled]:
        """Charges whose settle failed and have not been applied yet (oldest first)."""
        with self._pending_lock:
            return list(self._pending)

    def _take_pending(self) -> list[Unsettled]:
        # Taken out before they are tried, so two callers never settle the same entry.
        with self._pending_lock:
            out, self._pending = self._pending, []
        return out

    def _keep_pending(self, entries: list[Unsettled]) -> None:
        with self._pending_lock:
            self._pending[:0] = entries

    def retry_unsettled(self) -> int:
        """Settle what the journal holds; returns how many are still pending."""
        entries = self._take_pending()
        for i, e in enumerate(entries):
            try:
                self.store.settle(e.keys, e.request_id, to_units(e.cost), late=self._late(e))
            except StoreUnavailable:
                self._keep_pending(entries[i:])
                break
            else:
                log.warning("settled the pending charge of call %s ($%s)", e.request_id,
                            e.cost)
        return len(self._pending)

    async def aretry_unsettled(self) -> int:
        entries = self._take_pending()
        for i, e in enumerate(entries):
            try:
                await self.store.asettle(e.keys, e.request_id, to_units(e.cost),
                                         late=self._late(e))
            except StoreUnavailable:
                self._keep_pending(entries[i:])
                break
            else:
                log.warning("settled the pending charge of call %s ($%s)", e.request_id,
                            e.cost)
        return len(self._pending)
