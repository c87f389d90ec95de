"""Ledgers: where usage records go, and ``router.usage.summary(by=...)``.

- :class:`MemoryLedger` (default) keeps aggregates per hour, provider, model, project, user,
  operation and status, not the records: its size does not grow with the number of calls.
  ``since`` / ``until`` are applied to whole hours.
- :class:`SqliteLedger` (``Router(ledger_path=...)``, ``[ledger] path``) keeps every record in
  SQLite (WAL). Records are queued on the hot path and written by one background thread as soon
  as it gets to them (whatever is queued goes in one transaction); ``summary()`` and ``close()``
  flush first. ``since`` / ``until`` are exact.

Durability of the SQLite ledger: at most :data:`MAX_UNWRITTEN` records are ever waiting to be
written. A call whose record would pass that bound waits for the writer (backpressure), so a
process killed with SIGKILL loses at most the last :data:`MAX_UNWRITTEN` records of calls that
had returned; committed records survive a process crash (WAL, ``synchronous=NORMAL``; a power
loss may also lose the last transactions). A batch that cannot be written (the file locked by
another connection beyond SQLite's 30 s busy timeout, a full disk) is tried
:data:`WRITE_ATTEMPTS` times, then given up: logged as an ERROR and raised as a
:class:`LedgerError` by the next ``flush()`` or ``close()``.

Costs are summed as ``Decimal`` (never floats); unpriced calls are counted in ``unpriced``.
Response cache hits are counted in ``cache_hits`` with their ``saved_cost`` (SQLite columns
``cache_hit`` INTEGER 0/1 and ``saved_cost`` TEXT, added to older files when they are opened).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import CencoriError, InvalidRequestError
from ..types import UsageRecord, _DictMixin

__all__ = ["SummaryRow", "MemoryLedger", "SqliteLedger", "LedgerError", "BY", "timestamp",
           "MAX_UNWRITTEN", "WRITE_ATTEMPTS"]

log = logging.getLogger("cencori_core")

MAX_UNWRITTEN = 1000
"""The most records the SQLite ledger holds in memory, queued or being written: what a process
killed with SIGKILL can lose at most."""
WRITE_ATTEMPTS = 3
"""Tries of a batch that fails to write before its records are given up (and reported)."""
_RETRY_PAUSE = 0.1


class LedgerError(CencoriError):
    """Usage records could not be written to the ledger file (raised by ``flush()`` and
    ``close()`` after the writer gave up on them; each failure was also logged)."""

BY = ("model", "provider", "project", "user", "day", "operation", "status")

_HOUR = 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryRow(_DictMixin):
    """Totals of one group of calls."""

    key: str | None
    """The group: a model, provider, project, user, operation, status, or a UTC day
    (``YYYY-MM-DD``); None for calls without one (no project, no user)."""
    calls: int = 0
    errors: int = 0
    """Calls whose status is not ``ok`` (error, blocked, cancelled, interrupted)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = Decimal(0)
    """USD, the exact sum of the priced calls."""
    unpriced: int = 0
    """Calls that consumed something without a price (not in ``cost``); calls that failed
    before any usage have no cost and are not counted here."""
    cache_hits: int = 0
    """Calls the response cache answered (their cost is 0; their tokens are counted above)."""
    saved_cost: Decimal = Decimal(0)
    """USD the cache hits saved: what their answers cost when the provider produced them."""


def timestamp(value: Any, name: str) -> float | None:
    """``since`` / ``until`` as a Unix time: a number, a ``datetime``, a ``date`` (its midnight)
    or an ISO 8601 string. Dates and naive times are UTC, like the ledger's days."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequestError(f"{name} must be a time, not a bool", param=name)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRequestError(f"{name}={value!r} is not an ISO 8601 date or time",
                                      param=name) from None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return float(value.timestamp())
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC).timestamp()
    raise InvalidRequestError(f"{name} must be a datetime, a date, an ISO string or a Unix time",
                              param=name)


def _day(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d")


def time_window(lo: float | None, hi: float | None, mark: str = "?") -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (empty, or with its leading space) and arguments selecting records
    started in [lo, hi); ``mark`` is the driver's placeholder (``?`` SQLite, ``%s`` psycopg)."""
    where, args = [], []
    if lo is not None:
        where.append(f"time >= {mark}")
        args.append(lo)
    if hi is not None:
        where.append(f"time < {mark}")
        args.append(hi)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def _check_by(by: str) -> None:
    if by not in BY:
        raise InvalidRequestError(f"by={by!r}: choose one of {', '.join(BY)}", param="by")


# Counter slots of a group (memory ledger).
_CALLS, _ERRORS, _PROMPT, _COMPLETION, _TOTAL, _CACHED, _WRITE, _REASONING, _COST, _UNPRICED = \
    range(10)
_HITS, _SAVED = 10, 11  # response cache hits and their savings


class MemoryLedger:
    """Aggregates in memory (the default sink)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[tuple[Any, ...], list[Any]] = {}

    def add(self, r: UsageRecord) -> None:
        u = r.usage
        key = (int(r.time // _HOUR) * _HOUR, r.provider, r.model, r.project, r.user,
               r.operation, r.status)
        with self._lock:
            g = self._groups.get(key)
            if g is None:
                g = self._groups[key] = [0, 0, 0, 0, 0, 0, 0, 0, Decimal(0), 0, 0, Decimal(0)]
            g[_CALLS] += 1
            if r.status != "ok":
                g[_ERRORS] += 1
            g[_PROMPT] += u.prompt_tokens
            g[_COMPLETION] += u.completion_tokens
            g[_TOTAL] += u.total_tokens
            g[_CACHED] += u.cached_tokens
            g[_WRITE] += u.cache_write_tokens
            g[_REASONING] += u.reasoning_tokens
            if r.cost is not None:
                g[_COST] += r.cost.total
            elif r.cost_reason is not None:
                g[_UNPRICED] += 1
            if r.cache_hit:
                g[_HITS] += 1
                if r.saved_cost is not None:
                    g[_SAVED] += r.saved_cost.total

    def summary(self, by: str = "model", since: Any = None, until: Any = None) -> list[SummaryRow]:
        _check_by(by)
        lo, hi = timestamp(since, "since"), timestamp(until, "until")
        field = {"provider": 1, "model": 2, "project": 3, "user": 4, "operation": 5,
                 "status": 6}.get(by)
        with self._lock:
            items = [(k, list(g)) for k, g in self._groups.items()]
        out: dict[Any, list[Any]] = {}
        for k, g in items:
            hour = k[0]
            if lo is not None and hour + _HOUR <= lo:
                continue
            if hi is not None and hour >= hi:
                continue
            group = _day(hour) if field is None else k[field]
            acc = out.get(group)
            if acc is None:
                out[group] = g
            else:
                for i, val in enumerate(g):
                    acc[i] += val
        return [_row(key, g) for key, g in sorted(out.items(), key=_sort_key)]

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _sort_key(item: tuple[Any, Any]) -> tuple[bool, str]:
    return (item[0] is None, str(item[0]))


def _row(key: Any, g: list[Any]) -> SummaryRow:
    return SummaryRow(key=key, calls=g[_CALLS], errors=g[_ERRORS], prompt_tokens=g[_PROMPT],
                      completion_tokens=g[_COMPLETION], total_tokens=g[_TOTAL],
                      cached_tokens=g[_CACHED], cache_write_tokens=g[_WRITE],
                      reasoning_tokens=g[_REASONING], cost=Decimal(g[_COST]),
                      unpriced=g[_UNPRICED], cache_hits=g[_HITS], saved_cost=Decimal(g[_SAVED]))


# ---------------------------------------------------------------------------- SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    request_id TEXT PRIMARY KEY,
    time REAL NOT NULL,
    day TEXT NOT NULL,
    project TEXT, user TEXT, provider TEXT, model TEXT, deployment TEXT,
    operation TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
    audio_seconds REAL, characters INTEGER, images INTEGER, usage_source TEXT NOT NULL,
    cost TEXT, cost_input TEXT, cost_output TEXT, cost_cached_input TEXT, cost_cache_write TEXT,
    cost_reason TEXT, latency_ms REAL NOT NULL, attempts INTEGER NOT NULL, tags TEXT,
    cache_hit INTEGER NOT NULL DEFAULT 0, saved_cost TEXT
);
CREATE INDEX IF NOT EXISTS usage_time ON usage (time);
"""

# Columns added after the first release: a ledger file made before them gets them on open.
_ADDED = (("cache_hit", "INTEGER NOT NULL DEFAULT 0"), ("saved_cost", "TEXT"))


def _migrate(conn: Any) -> None:
    have = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
    for name, decl in _ADDED:
        if name not in have:
            conn.execute(f"ALTER TABLE usage ADD COLUMN {name} {decl}")

_COLUMNS = ("request_id", "time", "day", "project", "user", "provider", "model", "deployment",
            "operation", "status", "error", "prompt_tokens", "completion_tokens", "total_tokens",
            "cached_tokens", "cache_write_tokens", "reasoning_tokens", "audio_seconds",
            "characters", "images", "usage_source", "cost", "cost_input", "cost_output",
            "cost_cached_input", "cost_cache_write", "cost_reason", "latency_ms", "attempts",
            "tags", "cache_hit", "saved_cost")
_INSERT = (f"INSERT OR IGNORE INTO usage ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(_COLUMNS))})")

_BATCH = 500


def _as_row(r: UsageRecord) -> tuple[Any, ...]:
    u, c = r.usage, r.cost
    money = (None,) * 5 if c is None else (str(c.total), str(c.input), str(c.output),
                                           str(c.cached_input), str(c.cache_write))
    return (r.request_id, r.time, _day(r.time), r.project, r.user, r.provider, r.model,
            r.deployment, r.operation, r.status, r.error, u.prompt_tokens, u.completion_tokens,
            u.total_tokens, u.cached_tokens, u.cache_write_tokens, u.reasoning_tokens,
            u.audio_seconds, u.characters, u.images, u.source, *money, r.cost_reason,
            r.latency_ms, len(r.attempts), json.dumps(r.tags) if r.tags else None,
            1 if r.cache_hit else 0,
            str(r.saved_cost.total) if r.saved_cost is not None else None)


class _DecimalSum:
    """An SQLite aggregate summing Decimal text exactly (typeshed expects int aggregates, hence
    the type: ignore where it is registered)."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += Decimal(value)

    def finalize(self) -> str:
        return str(self.total)


class _Writer:
    """The background thread that writes queued records in batches (one transaction each).

    ``room`` counts the records that may still be queued: :meth:`put` takes one (waiting when
    there is none: backpressure), the thread gives it back once the record is committed or given
    up. So at most :data:`MAX_UNWRITTEN` records are ever unwritten.
    """

    def __init__(self, conn: Any, path: str, *,
                 write: Callable[[list[tuple[Any, ...]]], None] | None = None,
                 to_row: Callable[[UsageRecord], tuple[Any, ...]] | None = None,
                 on_written: Callable[[int], None] | None = None,
                 hint: str = "check that no other process holds the file locked and that the "
                             "disk has room") -> None:
        """``conn``: what :meth:`stop` closes (``close()``); ``write(rows)``: one batch in one
        transaction (default: SQLite's insert on ``conn``); ``path``: where, for messages;
        ``on_written(n)``: told when ``n`` records are settled (written or given up)."""
        self.conn = conn
        self.path = path
        self._write_rows = write or self._sqlite_write
        self._to_row = to_row or _as_row
        self._on_written = on_written
        self._hint = hint
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.room = threading.Semaphore(MAX_UNWRITTEN)
        self.lock = threading.Lock()  # one user of the connection at a time
        self.thread: threading.Thread | None = None
        self.failed = 0  # records given up since the last flush() reported them
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="cencori-ledger", daemon=True)
        self.thread.start()

    def _on_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def put(self, record: UsageRecord) -> None:
        # Backpressure: wait for room. The writer gives room back whatever happens to a batch,
        # so this waits at most as long as one write (bounded by SQLite's busy timeout).
        while not self.room.acquire(timeout=1.0):
            if self.thread is None or not self.thread.is_alive() or self._on_thread():
                self._give_up(1, RuntimeError("the ledger's writer thread is not running"))
                return
        self.queue.put(record)

    def _run(self) -> None:
        # Drain whatever is queued into one transaction: batches grow with the load.
        try:
            while True:
                item = self.queue.get()
                records: list[UsageRecord] = []
                waiters: list[threading.Event] = []
                stop = False
                while True:
                    if item is None:
                        stop = True
                    elif isinstance(item, threading.Event):
                        waiters.append(item)
                    else:
                        records.append(item)
                    if stop or len(records) >= _BATCH:
                        break
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                item = None  # hold no record (nor what it refers to) while waiting
                if records:
                    self._write(records)
                    self.room.release(len(records))
                    if self._on_written is not None:
                        self._on_written(len(records))
                    records.clear()
                for w in waiters:
                    w.set()
                if stop:
                    return
        finally:
            with self.lock:
                self.conn.close()

    def _rows(self, records: list[UsageRecord]) -> list[tuple[Any, ...]]:
        rows = []
        for r in records:
            try:
                rows.append(self._to_row(r))
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the rest
                self._give_up(1, exc)
        return rows

    def _write(self, records: list[UsageRecord]) -> None:
        rows = self._rows(records)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.lock:
                    self._write_rows(rows)
                return
            except Exception as exc:  # noqa: BLE001 - the thread must go on; reported on flush
                if attempt == WRITE_ATTEMPTS:
                    self._give_up(len(rows), exc)
                    return
                log.warning("writing %d usage records to %s failed (%s: %s); trying again",
                            len(rows), self.path, type(exc).__name__, exc)
                time.sleep(_RETRY_PAUSE * attempt)

    def _sqlite_write(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany(_INSERT, rows)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _give_up(self, n: int, exc: BaseException) -> None:
        self.failed += n
        self.error = exc
        log.error("gave up writing %d usage records to %s: %s: %s", n, self.path,
                  type(exc).__name__, exc)

    def flush(self) -> None:
        """Wait for what is queued, then raise what the writer gave up on since last time."""
        if self.thread is not None and self.thread.is_alive() and not self._on_thread():
            done = threading.Event()
            self.queue.put(done)
            while not done.wait(timeout=1.0):
                if not self.thread.is_alive():
                    break
        self.raise_errors()

    def raise_errors(self) -> None:
        if self.failed:
            n, exc = self.failed, self.error
            self.failed, self.error = 0, None
            raise LedgerError(f"{n} usage record(s) could not be written to {self.path}: "
                              f"{type(exc).__name__}: {exc} (see the ERROR log; {self._hint})")

    def stop(self) -> None:
        """Write what is queued and close the connection. Safe from any thread: on the writer
        thread itself (a finalizer run by the garbage collector there) it only asks the thread to
        finish, which then closes the connection."""
        thread = self.thread
        if thread is not None and thread.is_alive():
            self.queue.put(None)
            if thread is not threading.current_thread():
                thread.join()
            return
        with self.lock:
            self.conn.close()


class SqliteLedger:
    """Every usage record in an SQLite file (WAL), written in batches off the hot path."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float | None = None) -> None:
        """``busy_timeout``: seconds a write waits for another connection's lock (default
        :data:`~cencori_core.stores.sqlite.BUSY_TIMEOUT`)."""
        import sqlite3

        from ..stores.sqlite import BUSY_TIMEOUT, connect, corrupt

        self.path = os.fspath(path)
        conn = connect(self.path, schema=_SCHEMA,
                       timeout=BUSY_TIMEOUT if busy_timeout is None else busy_timeout)
        conn.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
        try:
            _migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise corrupt(self.path, exc) from None
        self._writer = _Writer(conn, self.path)
        self._started = False
        self._start_lock = threading.Lock()
        # Unwritten records are flushed at interpreter exit even if the router is never closed.
        self._finalizer = weakref.finalize(self, self._writer.stop)

    def add(self, record: UsageRecord) -> None:
        if not self._finalizer.alive:
            return  # closed: the router is shutting down
        if not self._started:
            with self._start_lock:
                if not self._started:
                    self._writer.start()
                    self._started = True
        self._writer.put(record)  # converted to a row by the writer, off the hot path

    def flush(self) -> None:
        """Wait until every queued record is written; :class:`LedgerError` if some could not
        be (since the last flush)."""
        self._writer.flush()

    def summary(self, by: str = "model", since: Any = None, until: Any = None) -> list[SummaryRow]:
        _check_by(by)
        lo, hi = timestamp(since, "since"), timestamp(until, "until")
        self.flush()
        where, args = time_window(lo, hi)
        sql = (f"SELECT {by}, COUNT(*), SUM(status != 'ok'), SUM(prompt_tokens), "
               "SUM(completion_tokens), SUM(total_tokens), SUM(cached_tokens), "
               "SUM(cache_write_tokens), SUM(reasoning_tokens), decimal_sum(cost), "
               "SUM(cost IS NULL AND cost_reason IS NOT NULL), SUM(cache_hit), "
               "decimal_sum(saved_cost) FROM usage" + where
               + f" GROUP BY {by} ORDER BY {by} IS NULL, {by}")
        rows = self._query(sql, args)
        return [SummaryRow(key=r[0], calls=r[1], errors=r[2], prompt_tokens=r[3],
                           completion_tokens=r[4], total_tokens=r[5], cached_tokens=r[6],
                           cache_write_tokens=r[7], reasoning_tokens=r[8], cost=Decimal(r[9]),
                           unpriced=r[10], cache_hits=r[11],
                           saved_cost=Decimal(r[12])) for r in rows]

    def count(self) -> int:
        """How many records the file holds (after a flush)."""
        self.flush()
        return int(self._query("SELECT COUNT(*) FROM usage", [])[0][0])

    def _query(self, sql: str, args: list[Any]) -> list[Any]:
        import sqlite3

        from ..stores.sqlite import connect, corrupt

        try:
            if self._finalizer.alive:
                with self._writer.lock:
                    return list(self._writer.conn.execute(sql, args).fetchall())
            # Closed: the file is still there to read.
            conn = connect(self.path)
            try:
                conn.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
                return conn.execute(sql, args).fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:  # a damaged file, or a cost that is not a number
            raise corrupt(self.path, exc) from None

    def close(self) -> None:
        """Write what is queued and close the file; :class:`LedgerError` if some records could
        not be written. Safe to call from any thread, more than once."""
        self._finalizer()
        self._writer.raise_errors()
