"""The SQLite ledger does not lose records (issue 13, items 7 and 13).

Before: the writer's queue was unbounded, so kill -9 lost every record still queued (up to
30,000 of calls that had returned); a batch that could not be written (the file locked by another
connection past the busy timeout) was dropped and flush() returned without raising; the
ledger's finalizer, run by the garbage collector on the writer thread, failed with "cannot join
current thread".
"""

from __future__ import annotations

import logging
import mmap
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cencori_core import Usage
from cencori_core.accounting.ledger import MAX_UNWRITTEN, LedgerError, SqliteLedger
from cencori_core.types import UsageRecord

HERE = Path(__file__).parent


def rec(i: int, attempts: list | None = None) -> UsageRecord:
    return UsageRecord(request_id=f"req_{i}", project=None, user=None, provider="p", model="m",
                       operation="chat", usage=Usage.of(1, 1), cost=None, status="ok",
                       latency_ms=1.0, attempts=attempts or [], time=time.time())


def rows(path: Path) -> int:
    conn = sqlite3.connect(path, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM usage").fetchone()[0])
    finally:
        conn.close()


def test_kill_9_loses_at_most_the_documented_bound(tmp_path):
    db, counter_file = tmp_path / "ledger.db", tmp_path / "counter"
    counter_file.write_bytes(bytes(8))
    child = subprocess.Popen([sys.executable, str(HERE / "ledger_child.py"), str(db),
                              str(counter_file), "500"], stdout=subprocess.PIPE, text=True)
    blocker = None
    try:
        assert child.stdout.readline().strip() == "go"
        # Another connection takes the write lock: the child's writer stalls while its calls go
        # on returning (as under a load the writer cannot keep up with). Before the fix its
        # queue grew without bound; now the calls wait once MAX_UNWRITTEN records are pending.
        blocker = sqlite3.connect(db, timeout=30, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        with open(counter_file, "r+b") as f:
            counter = mmap.mmap(f.fileno(), 8)
        start = struct.unpack("<q", counter[:8])[0]
        # Watch the count until it has gone 3 bounds past the start (the bug) or stopped
        # moving for 20 looks in a row (backpressure holds the calls).
        last, still = start, 0
        while still < 20 and last - start < 3 * MAX_UNWRITTEN:
            time.sleep(0.05)
            now = struct.unpack("<q", counter[:8])[0]
            still = still + 1 if now == last else 0
            last = now
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        returned = struct.unpack("<q", counter[:8])[0]
        counter.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        if blocker is not None:
            blocker.rollback()
            blocker.close()
    written = rows(db)
    assert written <= returned
    assert returned - written <= MAX_UNWRITTEN, (returned, written)


def test_a_write_that_keeps_failing_is_raised_by_flush_and_close(tmp_path, caplog):
    db = tmp_path / "l.db"
    ledger = SqliteLedger(db, busy_timeout=0.05)
    ledger.add(rec(0))
    ledger.flush()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # held past the busy timeout of every try
    with caplog.at_level(logging.WARNING, "cencori_core"):
        ledger.add(rec(1))
        with pytest.raises(LedgerError, match="1 usage record.*l.db.*locked"):
            ledger.flush()
    assert "gave up writing 1 usage records" in caplog.text
    ledger.flush()  # reported once
    blocker.rollback()
    ledger.add(rec(2))
    ledger.flush()
    assert rows(db) == 2
    # close() reports it too (after closing the file)
    blocker.execute("BEGIN IMMEDIATE")
    ledger.add(rec(3))
    with pytest.raises(LedgerError):
        ledger.close()
    blocker.rollback()
    blocker.close()
    assert rows(db) == 2


def test_a_lock_shorter_than_the_retries_loses_nothing(tmp_path, caplog):
    db = tmp_path / "l.db"
    ledger = SqliteLedger(db, busy_timeout=0.05)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with caplog.at_level(logging.WARNING, "cencori_core"):
        ledger.add(rec(1))
        # the first try fails (locked); the lock goes before the next one
        while "trying again" not in caplog.text:
            time.sleep(0.01)
    blocker.rollback()
    blocker.close()
    ledger.flush()
    assert rows(db) == 1
    ledger.close()


def test_the_finalizer_may_run_on_the_writer_thread(tmp_path):
    # The only reference to the ledger is inside a queued record: the writer thread drops it
    # after writing, so the garbage collector runs the ledger's finalizer on that thread.
    db = tmp_path / "l.db"
    ledger = SqliteLedger(db)
    ledger.add(rec(0))
    writer = ledger._writer
    errors: list = []
    old_hook, old_thread_hook = sys.unraisablehook, threading.excepthook
    sys.unraisablehook = errors.append
    threading.excepthook = errors.append
    try:
        ledger.add(rec(1, attempts=[ledger]))
        del ledger
        writer.thread.join(timeout=30)
    finally:
        sys.unraisablehook, threading.excepthook = old_hook, old_thread_hook
    assert not writer.thread.is_alive()
    assert errors == []
    assert rows(db) == 2


def test_files_are_private_and_a_corrupt_file_is_named(tmp_path):
    # item 10: the ledger / key store file 0600, a directory it creates 0700
    home = tmp_path / "home"
    db = home / "cencori.db"
    ledger = SqliteLedger(db)
    ledger.add(rec(0))
    ledger.close()
    assert (db.stat().st_mode & 0o777) == 0o600
    assert (home.stat().st_mode & 0o777) == 0o700
    for extra in ("-wal", "-shm"):
        side = Path(str(db) + extra)
        if side.exists():
            assert (side.stat().st_mode & 0o077) == 0
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    from cencori_core import ConfigurationError

    with pytest.raises(ConfigurationError, match="bad.db"):
        SqliteLedger(bad)
