"""The PostgreSQL ledger: one shared record of usage and cost for a fleet of processes.

``Router(ledger_url="postgresql://user:password@host/db")`` (or ``[ledger] url`` in TOML, or
``cencori usage --ledger postgresql://...``) writes every usage record into the table
``cencori_usage`` of that database, through psycopg 3 and a small connection pool
(``pip install "cencori-core[postgres]"``).

How records travel: the call path only queues the record (never a network round trip); one
background thread per ledger drains the queue in batches (whatever is queued, up to
:data:`~cencori_core.accounting.ledger.MAX_UNWRITTEN`), each batch one transaction of
``COPY`` into a staging table and ``INSERT ... ON CONFLICT (request_id) DO NOTHING``. A batch whose
commit fails is tried again; the insert is idempotent on the record's request id, so a batch
whose first commit did reach the server before the connection dropped is not counted twice
(at-least-once delivery, exactly-once rows). ``close()`` (and interpreter exit) flushes.

What a killed process loses: at most what its queue held (the queue is bounded: a call whose
record would pass :data:`~cencori_core.accounting.ledger.MAX_UNWRITTEN` waits for the writer).
Each ledger keeps two counters (records accepted, records written) in a small memory-mapped file
under ``$CENCORI_HOME/ledger-state/`` (``state_dir=``), updated with a memory store per record,
which survives ``SIGKILL`` (it lives in the page cache). The next ledger opened on that machine
for the same database finds the files of processes that are gone (their lock is free) and logs a
WARNING with how many records each one did not write.

The schema is created on first use, under an advisory lock so that processes starting together
do not race, and versioned in ``cencori_schema`` (component ``usage``).
``summary(by=...)`` is computed in SQL; costs are ``NUMERIC`` and summed exactly.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import threading
import uuid
import weakref
from decimal import Decimal
from typing import Any

from ..config import mask_url, url_secrets
from ..errors import ConfigurationError, MissingDependencyError
from ..types import UsageRecord
from .ledger import _COLUMNS as _SQLITE_COLUMNS
from .ledger import (
    SummaryRow,
    _as_row,
    _check_by,
    _Writer,
    time_window,
    timestamp,
)

__all__ = ["PostgresLedger", "SCHEMA_VERSION", "is_postgres_url"]

log = logging.getLogger("cencori_core")

SCHEMA_VERSION = 1
"""The version of the ``cencori_usage`` table this code writes (row ``usage`` of
``cencori_schema``)."""

_LOCK_ID = 0x63656E636F7269  # pg_advisory_xact_lock key for schema changes ("cencori")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cencori_schema (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cencori_usage (
    request_id TEXT PRIMARY KEY,
    time DOUBLE PRECISION NOT NULL,
    day TEXT NOT NULL,
    project TEXT, "user" TEXT, provider TEXT, model TEXT, deployment TEXT,
    operation TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,
    audio_seconds DOUBLE PRECISION, characters BIGINT, images BIGINT, usage_source TEXT NOT NULL,
    cost NUMERIC, cost_input NUMERIC, cost_output NUMERIC, cost_cached_input NUMERIC,
    cost_cache_write NUMERIC, cost_reason TEXT, latency_ms DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL, tags JSONB,
    cache_hit INTEGER NOT NULL DEFAULT 0, saved_cost NUMERIC
);
CREATE INDEX IF NOT EXISTS cencori_usage_time ON cencori_usage (time);
"""

# the SQLite ledger's columns; "user" is a reserved word in PostgreSQL
_COLUMNS = tuple('"user"' if c == "user" else c for c in _SQLITE_COLUMNS)

_STAGE = ("CREATE TEMP TABLE IF NOT EXISTS cencori_usage_stage "
          "(LIKE cencori_usage INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
_COPY = f"COPY cencori_usage_stage ({', '.join(_COLUMNS)}) FROM STDIN"
_MOVE = (f"INSERT INTO cencori_usage ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} "
         "FROM cencori_usage_stage ON CONFLICT (request_id) DO NOTHING")

_GROUP = {"model": "model", "provider": "provider", "project": "project", "user": '"user"',
          "day": "day", "operation": "operation", "status": "status"}


def is_postgres_url(value: Any) -> bool:
    return isinstance(value, str) and value.split("://", 1)[0] in ("postgresql", "postgres")


def _import_psycopg() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise MissingDependencyError(
            "the PostgreSQL ledger needs psycopg 3 and psycopg-pool: "
            "pip install \"cencori-core[postgres]\"") from exc
    return psycopg, psycopg_pool


# ------------------------------------------------------------------ what a killed process lost

_COUNTERS = struct.Struct("<QQ")  # records accepted, records settled (written or given up)


class _Progress:
    """Two counters in a memory-mapped file of this process, locked while the process lives.

    A store into the mapping is all a record costs (no system call); the page cache keeps it
    when the process is killed, so the next process can read what was never written."""

    def __init__(self, directory: str, database: str) -> None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.directory = directory
        self.database = database
        self.path = os.path.join(directory, f"{database}.{os.getpid()}.{uuid.uuid4().hex}")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, _COUNTERS.size)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.map = mmap.mmap(fd, _COUNTERS.size)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.accepted = 0
        self.settled = 0
        self.lock = threading.Lock()

    def accept(self) -> None:
        with self.lock:
            self.accepted += 1
            _COUNTERS.pack_into(self.map, 0, self.accepted, self.settled)

    def settle(self, n: int) -> None:
        with self.lock:
            self.settled += n
            _COUNTERS.pack_into(self.map, 0, self.accepted, self.settled)

    def close(self) -> None:
        """A clean end: nothing is pending, the file goes."""
        try:
            self.map.close()
        finally:
            os.close(self.fd)
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def report_dead(self) -> int:
        """Log and remove the files of processes that ended without closing their ledger;
        returns how many records they did not write."""
        lost_total = 0
        prefix = f"{self.database}."
        for name in sorted(os.listdir(self.directory)):
            path = os.path.join(self.directory, name)
            if not name.startswith(prefix) or path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # its process is alive
                data = os.read(fd, _COUNTERS.size)
                accepted, settled = (_COUNTERS.unpack(data) if len(data) == _COUNTERS.size
                                     else (0, 0))
                os.unlink(path)
            finally:
                os.close(fd)
            lost = max(0, accepted - settled)
            lost_total += lost
            pid = name.split(".")[1] if name.count(".") >= 2 else "?"
            if lost:
                log.warning("a previous process (pid %s) ended with %d usage record(s) it had "
                            "accepted but not written to the PostgreSQL ledger; they are lost",
                            pid, lost)
        return lost_total


# ------------------------------------------------------------------------------ the ledger

class _Conn:
    """What the batch writer closes: the pool and the progress file."""

    def __init__(self, pool: Any, progress: _Progress | None) -> None:
        self.pool = pool
        self.progress = progress

    def close(self) -> None:
        try:
            self.pool.close()
        finally:
            if self.progress is not None:
                self.progress.close()


class PostgresLedger:
    """Every usage record in PostgreSQL, written in batches off the hot path by one thread."""

    def __init__(self, url: str, *, pool_size: int = 4, state_dir: str | None = None,
                 connect_timeout: float = 10.0) -> None:
        """``url``: ``postgresql://user:password@host:port/database`` (libpq's URL; its
        password never appears in messages). ``pool_size``: connections at most (one writes,
        the others answer ``summary()``). ``state_dir``: where the per-process counters live
        (default ``$CENCORI_HOME/ledger-state``)."""
        if not is_postgres_url(url):
            raise ConfigurationError(f"ledger_url must be a postgresql:// URL, got "
                                     f"{mask_url(str(url))[:80]!r}")
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 2:
            raise ConfigurationError("pool_size must be an integer of at least 2 (one "
                                     "connection writes, the others read)")
        psycopg, psycopg_pool = _import_psycopg()
        self._psycopg = psycopg
        self.url = url
        self.where = mask_url(url)
        self._secrets = url_secrets(url)
        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, name="cencori-ledger",
            kwargs={"connect_timeout": max(1, int(connect_timeout)), "autocommit": False},
            timeout=connect_timeout)
        # One direct connection first: it creates the schema and, when the database cannot be
        # reached, fails at once with libpq's own reason (the pool would retry in the
        # background and only report a timeout).
        try:
            with psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))) as conn:
                self._create_schema(conn)
        except psycopg.Error as exc:
            raise ConfigurationError(f"cannot use the PostgreSQL ledger at {self.where}: "
                                     f"{self._scrub(exc)}") from None
        self.pool.open(wait=False)
        home = os.environ.get("CENCORI_HOME") or os.path.join(os.path.expanduser("~"),
                                                               ".cencori")
        directory = state_dir or os.path.join(home, "ledger-state")
        database = hashlib.sha256(mask_url(url).encode()).hexdigest()[:16]
        progress: _Progress | None
        try:
            progress = _Progress(directory, database)
            progress.report_dead()
        except OSError as exc:  # a read-only home: the ledger works, the report is skipped
            log.warning("cannot keep the ledger's progress file in %s (%s); a killed process's "
                        "unwritten records will not be reported", directory, exc)
            progress = None
        self._progress = progress
        self._writer = _Writer(_Conn(self.pool, progress), self.where, write=self._write,
                               to_row=_as_row,  # money as exact text: COPY parses NUMERIC
                               on_written=progress.settle if progress is not None else None,
                               hint="check that the database is reachable and accepts writes")
        self._started = False
        self._start_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, self._writer.stop)

    def __repr__(self) -> str:
        return f"PostgresLedger({self.where!r})"

    def _scrub(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            text = text.replace(secret, "*****")
        return text

    def _create_schema(self, conn: Any) -> None:
        # The common case (a fleet's later processes): the schema is there; no DDL, no lock.
        try:
            with conn.transaction():
                row = conn.execute("SELECT version FROM cencori_schema WHERE component = "
                                   "'usage'").fetchone()
        except self._psycopg.errors.UndefinedTable:
            row = None
        if row is not None and row[0] == SCHEMA_VERSION:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            conn.execute(_SCHEMA)
            row = conn.execute("SELECT version FROM cencori_schema WHERE component = "
                               "'usage'").fetchone()
            if row is None:
                conn.execute("INSERT INTO cencori_schema (component, version) VALUES "
                             "('usage', %s)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the ledger's schema is version {row[0]}, newer than this cencori-core "
                    f"understands ({SCHEMA_VERSION}): upgrade cencori-core")

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        # COPY into a per-connection staging table, then one INSERT ... ON CONFLICT DO NOTHING:
        # several times the rows per second of a pipelined executemany, and still idempotent.
        try:
            with self.pool.connection() as conn:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(_STAGE)
                    with cur.copy(_COPY) as copy:
                        for row in rows:
                            copy.write_row(row)
                    cur.execute(_MOVE)
        except self._psycopg.Error as exc:
            # the writer logs what failed: never the URL's password
            raise RuntimeError(self._scrub(exc)) from None

    def add(self, record: UsageRecord) -> None:
        if not self._finalizer.alive:
            return  # closed: the router is shutting down
        if not self._started:
            with self._start_lock:
                if not self._started:
                    self._writer.start()
                    self._started = True
        if self._progress is not None:
            self._progress.accept()
        self._writer.put(record)

    def flush(self) -> None:
        """Wait until every queued record is written; :class:`LedgerError` if some could not
        be (since the last flush)."""
        self._writer.flush()

    def summary(self, by: str = "model", since: Any = None, until: Any = None) -> list[SummaryRow]:
        _check_by(by)
        lo, hi = timestamp(since, "since"), timestamp(until, "until")
        self.flush()
        col = _GROUP[by]
        where, args = time_window(lo, hi, "%s")
        sql = (f"SELECT {col}, COUNT(*), COUNT(*) FILTER (WHERE status <> 'ok'), "
               "SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), "
               "SUM(cached_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), "
               "COALESCE(SUM(cost), 0), "
               "COUNT(*) FILTER (WHERE cost IS NULL AND cost_reason IS NOT NULL), "
               "SUM(cache_hit), COALESCE(SUM(saved_cost), 0) "
               "FROM cencori_usage" + where
               + f" GROUP BY {col} ORDER BY {col} IS NULL, {col}")
        rows = self._query(sql, args)
        return [SummaryRow(key=r[0], calls=int(r[1]), errors=int(r[2]),
                           prompt_tokens=int(r[3]), completion_tokens=int(r[4]),
                           total_tokens=int(r[5]), cached_tokens=int(r[6]),
                           cache_write_tokens=int(r[7]), reasoning_tokens=int(r[8]),
                           cost=Decimal(r[9]), unpriced=int(r[10]), cache_hits=int(r[11]),
                           saved_cost=Decimal(r[12])) for r in rows]

    def count(self) -> int:
        """How many records the table holds (after a flush)."""
        self.flush()
        return int(self._query("SELECT COUNT(*) FROM cencori_usage", [])[0][0])

    def rows(self, since: float | None = None, until: float | None = None) -> list[Any]:
        """(day, model, project, status, prompt, completion, total, cost, cost_reason, saved)
        per record in [since, until): what the HTML report groups."""
        self.flush()
        where, args = time_window(since, until, "%s")
        return self._query(
            "SELECT day, model, project, status, prompt_tokens, completion_tokens, "
            "total_tokens, cost, cost_reason, saved_cost FROM cencori_usage" + where, args)

    def _query(self, sql: str, args: list[Any]) -> list[Any]:
        from .ledger import LedgerError

        pool = self.pool
        if not self._finalizer.alive:
            # closed: open a short-lived connection to read
            try:
                with self._psycopg.connect(self.url, connect_timeout=10) as conn:
                    return list(conn.execute(sql, args).fetchall())
            except self._psycopg.Error as exc:
                raise LedgerError(f"cannot read the PostgreSQL ledger at {self.where}: "
                                  f"{self._scrub(exc)}") from None
        try:
            with pool.connection() as conn:
                return list(conn.execute(sql, args).fetchall())
        except self._psycopg.Error as exc:
            raise LedgerError(f"cannot read the PostgreSQL ledger at {self.where}: "
                              f"{self._scrub(exc)}") from None

    def close(self) -> None:
        """Write what is queued and close the pool; :class:`LedgerError` if some records could
        not be written. Safe to call from any thread, more than once."""
        self._finalizer()
        self._writer.raise_errors()
