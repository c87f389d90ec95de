"""SQLite (stdlib ``sqlite3``, WAL) for the ledger file: the connection setup and the projects
and keys tables, so ``cencori keys`` and the application share one file."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any

from ..errors import ConfigurationError

__all__ = ["connect", "corrupt", "SqliteProjects", "BUSY_TIMEOUT"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    data TEXT NOT NULL
);
"""


BUSY_TIMEOUT = 30.0
"""Seconds a write waits for a lock another connection holds (SQLite's busy timeout)."""


def connect(path: str | os.PathLike[str], *, timeout: float = BUSY_TIMEOUT,
            schema: str | None = None) -> sqlite3.Connection:
    """Open (creating the directory 0700 and the file 0600) a database in WAL mode, usable from
    any thread (callers serialize access with their own lock), with ``schema`` applied.

    The file holds key hashes and every call's usage: only its owner may read it (SQLite gives
    the ``-wal`` and ``-shm`` files the database file's permissions). A file that is not an
    SQLite database is a :class:`ConfigurationError` naming it.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, mode=0o700, exist_ok=True)
        if path != ":memory:" and not os.path.exists(path):
            # created here, before SQLite does, so it is never readable by others, even briefly
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False,
                               isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        # a directory, a path under a file, no permission: the user's path, named, not a
        # FileNotFoundError or sqlite3.OperationalError from deep inside Router()
        raise ConfigurationError(
            f"cannot open the ledger/key store {path!r} ({type(exc).__name__}: "
            f"{exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}); give a "
            "file path in a directory you can write") from None
    try:
        # WAL lets the CLI read while the application writes; NORMAL is durable enough in WAL.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if schema:
            conn.executescript(schema)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise corrupt(path, exc) from None
    return conn


def corrupt(path: str, exc: BaseException | str) -> ConfigurationError:
    what = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return ConfigurationError(
        f"{path} is not a usable cencori ledger/key store ({what}); restore it from a backup "
        "or move it away to start a new one")


class SqliteProjects:
    """Projects and key records in the ledger file (JSON in a column: records are small)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._path = os.fspath(path)
        self._db = connect(path, schema=_SCHEMA)

    def _load(self, raw: str, kind: str, what: str) -> dict[str, Any]:
        """A stored record, checked: tampering is a ConfigurationError naming the file."""
        from ..accounting.projects import load_record

        return load_record(raw, kind, what, self._path)

    def create_project(self, data: dict[str, Any], key: dict[str, Any]) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute("INSERT OR IGNORE INTO projects (name, data) VALUES (?, ?)",
                                       (data["name"], json.dumps(data)))
                if cur.rowcount == 0:
                    self._db.execute("ROLLBACK")
                    return False
                self._db.execute("INSERT INTO keys (id, project, data) VALUES (?, ?, ?)",
                                 (key["id"], key["project"], json.dumps(key)))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return True

    def update_project(self, data: dict[str, Any]) -> bool:
        with self._lock:
            cur = self._db.execute("UPDATE projects SET data = ? WHERE name = ?",
                                   (json.dumps(data), data["name"]))
            return cur.rowcount > 0

    def get_project(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM projects WHERE name = ?", (name,)).fetchone()
        return self._load(row[0], "project", f"project {name!r}") if row else None

    def list_projects(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM projects ORDER BY name").fetchall()
        return [self._load(r[0], "project", "a project") for r in rows]

    def add_key(self, key: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO keys (id, project, data) VALUES (?, ?, ?)",
                             (key["id"], key["project"], json.dumps(key)))

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM keys WHERE id = ?", (key_id,)).fetchone()
        return self._load(row[0], "key", f"key {key_id!r}") if row else None

    def revoke_key(self, key_id: str, when: float) -> bool:
        with self._lock:
            row = self._db.execute("SELECT data FROM keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                return False
            key = self._load(row[0], "key", f"key {key_id!r}")
            if key.get("revoked"):
                return False
            key["revoked"] = when
            self._db.execute("UPDATE keys SET data = ? WHERE id = ?", (json.dumps(key), key_id))
            return True

    def list_keys(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM keys ORDER BY project, id").fetchall()
        return [self._load(r[0], "key", "a key") for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
