"""SQLite (stdlib ``sqlite3``, WAL) for the ledger file: the connection setup and the projects
and keys tables, so ``cencori keys`` and the application share one file."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any

__all__ = ["connect", "SqliteProjects"]

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


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (creating the directory and file) a database in WAL mode, usable from any thread
    (callers serialize access with their own lock)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    # WAL lets the CLI read while the application writes; NORMAL is durable enough in WAL.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class SqliteProjects:
    """Projects and key records in the ledger file (JSON in a column: records are small)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._db = connect(path)
        self._db.executescript(_SCHEMA)

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
        return json.loads(row[0]) if row else None

    def list_projects(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM projects ORDER BY name").fetchall()
        return [json.loads(r[0]) for r in rows]

    def add_key(self, key: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO keys (id, project, data) VALUES (?, ?, ?)",
                             (key["id"], key["project"], json.dumps(key)))

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM keys WHERE id = ?", (key_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def revoke_key(self, key_id: str, when: float) -> bool:
        with self._lock:
            row = self._db.execute("SELECT data FROM keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                return False
            key = json.loads(row[0])
            if key.get("revoked"):
                return False
            key["revoked"] = when
            self._db.execute("UPDATE keys SET data = ? WHERE id = ?", (json.dumps(key), key_id))
            return True

    def list_keys(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM keys ORDER BY project, id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
