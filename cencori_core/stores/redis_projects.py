"""Projects and key records in Redis, shared by every process, with their changes announced.

Two hashes (JSON values): ``<prefix>projects`` by name and ``<prefix>keys`` by key id, plus the
set ``<prefix>revoked`` of revoked key ids that the reservation script checks. Every change is
published on the store's channel (``key:<id>``, ``project:<name>``) so the other routers drop
their cached copy at once (see :mod:`cencori_core.stores.redis_watch`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["RedisProjects"]


class RedisProjects:
    """Projects and key records in two Redis hashes (JSON values), shared by every process."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._r = store.client
        self._projects = store.prefix + "projects"
        self._keys = store.prefix + "keys"

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._store._errors as exc:
            raise self._store._unavailable(exc) from exc

    def _publish(self, kind: str, name: str) -> None:
        self._call(self._r.publish, self._store.channel, f"{kind}:{name}")

    def watch(self, callback: Any) -> Any:
        """Have ``callback(kind, name)`` called when another process changes a record."""
        return self._store.watch(callback)

    def create_project(self, data: dict[str, Any], key: dict[str, Any]) -> bool:
        if not self._call(self._r.hsetnx, self._projects, data["name"], json.dumps(data)):
            return False
        self.add_key(key)
        self._publish("project", data["name"])  # a cached "no such project" is now wrong
        return True

    def update_project(self, data: dict[str, Any]) -> bool:
        if not self._call(self._r.hexists, self._projects, data["name"]):
            return False
        self._call(self._r.hset, self._projects, data["name"], json.dumps(data))
        self._publish("project", data["name"])
        return True

    def _load(self, raw: Any, kind: str, what: str) -> dict[str, Any]:
        """A stored record, checked: tampering is a ConfigurationError naming the hash."""
        from ..accounting.projects import load_record

        table = self._projects if kind == "project" else self._keys
        return load_record(raw, kind, what, f"Redis at {self._store.describe()}, hash {table}")

    def get_project(self, name: str) -> dict[str, Any] | None:
        raw = self._call(self._r.hget, self._projects, name)
        return self._load(raw, "project", f"project {name!r}") if raw else None

    def list_projects(self) -> list[dict[str, Any]]:
        return [self._load(v, "project", "a project")
                for v in self._call(self._r.hvals, self._projects)]

    def add_key(self, key: dict[str, Any]) -> None:
        self._call(self._r.hset, self._keys, key["id"], json.dumps(key))

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        raw = self._call(self._r.hget, self._keys, key_id)
        return self._load(raw, "key", f"key {key_id!r}") if raw else None

    def revoke_key(self, key_id: str, when: float) -> bool:
        key = self.get_key(key_id)
        if key is None or key.get("revoked"):
            return False
        key["revoked"] = when
        # record, revoked set and announcement in one transaction (one round trip): the
        # reservation script refuses the key from here on, in every process
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._keys, key_id, json.dumps(key))
        pipe.sadd(self._store.revoked_set, key_id)
        pipe.publish(self._store.channel, f"key:{key_id}")
        self._call(pipe.execute)
        return True

    def list_keys(self) -> list[dict[str, Any]]:
        return [self._load(v, "key", "a key") for v in self._call(self._r.hvals, self._keys)]

    def close(self) -> None:
        pass
