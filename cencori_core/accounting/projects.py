"""Projects and their keys: the router's tenancy.

A project names a scope: the providers it may use, its budget and rate limits. A key
``csk_<id>_<secret>`` is shown once, when it is created; the store keeps its public id, a random
salt and ``sha256(salt + key)``. Keys are 256-bit random secrets, so a slow password hash would
add cost to every call without adding safety. Verification compares digests with
``hmac.compare_digest`` (constant time), and an unknown id is compared against a dummy digest so
both paths do the same work.

Lookups on the call path go through a short-lived cache (``cache_ttl`` seconds): a key created
or revoked through this router takes effect at once. With Redis, every change is announced on
pub/sub and each router's listener drops its cached copy, so a key revoked by another process
(the CLI, another worker) is refused within milliseconds (the documented bound is 100 ms); a call
with a budget or rate limit also checks the key in its reservation script. Without a listener
(SQLite shared by several processes, or Redis while the listener reconnects) a change reaches
the others within ``cache_ttl``.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import AuthenticationError, ConfigurationError, InvalidRequestError
from ..types import _DictMixin

__all__ = ["Project", "KeyInfo", "Projects", "KEY_PREFIX", "parse_money", "parse_rate_limits",
           "check_record", "load_record"]

KEY_PREFIX = "csk_"
_ID_HEX = 12
_KEY_RE = re.compile(r"csk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
_ID_RE = re.compile(r"csk_([0-9a-f]{12})")
# No control characters (a NUL or an escape sequence would reach logs, terminals and Redis keys)
# and no lone surrogates (SQLite cannot store them).
_NAME_RE = re.compile(r"[^\s:/\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,128}")
WINDOWS = ("total", "day", "month")
_RATE_KEYS = ("rpm", "tpm")
_DUMMY_SALT = bytes(16)
_DUMMY_DIGEST = hashlib.sha256(_DUMMY_SALT + b"csk_").hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo(_DictMixin):
    """A project key as listed: never the secret, never its hash."""

    id: str
    """The public part (``csk_<12 hex>``): what ``cencori keys list`` shows and ``revoke``
    accepts."""
    project: str
    created: float
    revoked: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Project(_DictMixin):
    """A named scope for budgets, rate limits, policies and usage records."""

    name: str
    providers: tuple[str, ...] | None = None
    """The providers this project may use; None: every configured provider."""
    budget: Decimal | None = None
    """USD over ``budget_window``; None: no budget of its own."""
    budget_window: str = "total"
    rate_limits: dict[str, int] | None = None
    """``{"rpm": 60, "tpm": 100_000}``: requests and tokens per minute."""
    created: float = 0.0
    keys: tuple[KeyInfo, ...] = field(default=())

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name,
                "providers": list(self.providers) if self.providers is not None else None,
                "budget": str(self.budget) if self.budget is not None else None,
                "budget_window": self.budget_window, "rate_limits": self.rate_limits,
                "created": self.created}

    @classmethod
    def from_record(cls, data: Mapping[str, Any], keys: Iterable[KeyInfo] = ()) -> Project:
        providers = data.get("providers")
        budget = data.get("budget")
        return cls(name=data["name"],
                   providers=tuple(providers) if providers is not None else None,
                   budget=Decimal(budget) if budget is not None else None,
                   budget_window=data.get("budget_window") or "total",
                   rate_limits=data.get("rate_limits") or None,
                   created=float(data.get("created") or 0.0), keys=tuple(keys))


def parse_money(value: Any, name: str) -> Decimal:
    """A USD amount: Decimal, int or a numeric string (a float goes through its repr)."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise ConfigurationError(f"{name} must be a USD amount (Decimal, int or str), "
                                 f"got {type(value).__name__}")
    try:
        out = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except Exception:
        out = Decimal("NaN")
    if not out.is_finite() or out < 0:
        raise ConfigurationError(f"{name} must be a non-negative USD amount, got {value!r}")
    return out


def parse_rate_limits(value: Any, name: str = "rate_limits") -> dict[str, int] | None:
    """``{"rpm": 60, "tpm": 100_000}`` validated (either key may be left out)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigurationError(f'{name} must be a dict such as {{"rpm": 60, "tpm": 100000}}')
    unknown = sorted(set(value) - set(_RATE_KEYS))
    if unknown:
        raise ConfigurationError(f"{name}: unknown key(s) {unknown}; known: rpm, tpm")
    out = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigurationError(f"{name}[{k!r}] must be a positive integer, got {v!r}")
        out[k] = v
    return out or None


def corrupt_record(where: str, what: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"{where}: {what} is corrupt or was tampered with ({why}); "
                              "restore the store from a backup or recreate the record")


def load_record(raw: Any, kind: str, what: str, where: str) -> dict[str, Any]:
    """A stored JSON record parsed and checked (see :func:`check_record`)."""
    import json

    try:
        data = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise corrupt_record(where, what, f"not valid JSON: {exc}") from None
    return check_record(data, kind, what, where)


def check_record(data: Any, kind: str, what: str, where: str) -> dict[str, Any]:
    """A project or key record read from a store, checked field by field: a tampered or
    corrupt store is a :class:`ConfigurationError` naming the file (or Redis key) ``where``,
    never a KeyError or ValueError from deep inside a call."""

    def bad(why: str) -> ConfigurationError:
        return corrupt_record(where, what, why)

    if not isinstance(data, dict):
        raise bad(f"expected a JSON object, found {type(data).__name__}")

    def field(name: str, types: Any, optional: bool = False) -> Any:
        if name not in data or data[name] is None:
            if optional:
                return None
            raise bad(f"'{name}' is missing")
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise bad(f"'{name}' has the wrong type ({type(value).__name__})")
        return value

    if kind == "key":
        if not _ID_RE.fullmatch(field("id", str)):
            raise bad("'id' is not csk_ and 12 hex digits")
        field("project", str)
        field("created", (int, float))
        field("revoked", (int, float), optional=True)
        try:
            salt = bytes.fromhex(field("salt", str))
            int(field("hash", str), 16)
        except ValueError:
            raise bad("'salt' or 'hash' is not hex") from None
        if len(salt) != 16 or len(data["hash"]) != 64:
            raise bad("'salt' or 'hash' has the wrong length")
        return data
    field("name", str)
    providers = field("providers", list, optional=True)
    if providers is not None and not all(isinstance(p, str) for p in providers):
        raise bad("'providers' must be a list of names")
    budget = field("budget", str, optional=True)
    if budget is not None:
        try:
            ok = Decimal(budget).is_finite()
        except ArithmeticError:
            ok = False
        if not ok:
            raise bad("'budget' is not an amount")
    if data.get("budget_window") not in (None, *WINDOWS):
        raise bad("'budget_window' is not total, day or month")
    rates = field("rate_limits", dict, optional=True)
    if rates is not None and any(k not in _RATE_KEYS or isinstance(v, bool)
                                 or not isinstance(v, int) for k, v in rates.items()):
        raise bad("'rate_limits' must map rpm/tpm to integers")
    field("created", (int, float), optional=True)
    return data


def check_window(window: Any, name: str) -> str:
    if window not in WINDOWS:
        raise ConfigurationError(f"{name} must be one of {', '.join(WINDOWS)}, got {window!r}")
    return str(window)


def _digest(salt: bytes, key: str) -> str:
    return hashlib.sha256(salt + key.encode("utf-8", "surrogatepass")).hexdigest()


def _new_key(project: str) -> tuple[str, dict[str, Any]]:
    key_id = KEY_PREFIX + secrets.token_hex(_ID_HEX // 2)
    key = f"{key_id}_{secrets.token_urlsafe(32)}"
    salt = secrets.token_bytes(16)
    return key, {"id": key_id, "project": project, "salt": salt.hex(),
                 "hash": _digest(salt, key), "created": time.time(), "revoked": None}


class Projects:
    """``router.projects``: create, update, list and revoke projects and keys."""

    def __init__(self, store: Any, *, cache_ttl: float = 2.0) -> None:
        self._store = store
        self._ttl = cache_ttl
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._projects: dict[str, tuple[float, Project | None]] = {}
        self._in_use: tuple[float, bool] = (0.0, False)
        # Bumped by every invalidation: a store read that started before one is not cached
        # (it may hold what the invalidation is about).
        self._gen = 0
        # The process whose listener serves this cache: -1 for a store without one, 0 before
        # the first store read; a forked child (its parent's thread did not follow) starts its
        # own on its first read.
        self._watch_pid = 0 if hasattr(store, "watch") else -1
        self._watcher: Any = None

    def _watch(self) -> None:
        """Listen for other processes' changes (on the first store read of each process)."""
        if self._watch_pid != -1 and self._watch_pid != os.getpid():
            self._watch_pid = os.getpid()
            self._watcher = self._store.watch(self.invalidate)

    def listening(self) -> bool:
        """Whether changes made by other processes reach this router's cache at once (a Redis
        store whose change listener is connected); otherwise within ``cache_ttl``."""
        return self._watcher is not None and bool(self._watcher.connected.is_set())

    def invalidate(self, kind: str | None, name: str | None) -> None:
        """Drop the cached ``key`` or ``project`` called ``name`` (everything when ``kind`` is
        None): the store's change listener calls this."""
        with self._lock:
            self._gen += 1
            if kind == "key" and name is not None:
                self._keys.pop(name, None)
            elif kind == "project" and name is not None:
                self._projects.pop(name, None)
                self._in_use = (0.0, False)
            else:
                self._keys.clear()
                self._projects.clear()
                self._in_use = (0.0, False)

    # ------------------------------------------------------------------ administration

    def create(self, name: str, *, providers: Iterable[str] | None = None,
               budget: Decimal | int | str | None = None,
               rate_limits: Mapping[str, int] | None = None,
               budget_window: str = "total") -> str:
        """Create a project and return its first key (``csk_...``), shown this once.

        ``providers``: the providers it may use (None: all). ``budget``: USD over
        ``budget_window`` (``total``, ``day`` or ``month``). ``rate_limits``:
        ``{"rpm": ..., "tpm": ...}``. An existing name is a :class:`ConfigurationError`.
        """
        project = self._build(name, providers, budget, rate_limits, budget_window)
        key, record = _new_key(project.name)
        if not self._store.create_project(project.to_record(), record):
            raise ConfigurationError(f"project {name!r} already exists; use "
                                     f"router.projects.update({name!r}, ...) to change it or "
                                     "add_key() for another key")
        self._changed(project)
        return key

    def update(self, name: str, *, providers: Any = ..., budget: Any = ...,
               rate_limits: Any = ..., budget_window: Any = ...) -> Project:
        """Change a project's settings (arguments left out keep their value)."""
        old = self.get(name)
        if old is None:
            raise ConfigurationError(f"no project named {name!r}")
        project = self._build(
            name, old.providers if providers is ... else providers,
            old.budget if budget is ... else budget,
            old.rate_limits if rate_limits is ... else rate_limits,
            old.budget_window if budget_window is ... else budget_window, created=old.created)
        if not self._store.update_project(project.to_record()):
            raise ConfigurationError(f"no project named {name!r}")
        self._changed(project)
        return self.get(name) or project

    def add_key(self, name: str) -> str:
        """Another key for an existing project (rotation), shown this once."""
        if self.get(name) is None:
            raise ConfigurationError(f"no project named {name!r}")
        key, record = _new_key(name)
        self._store.add_key(record)
        return key

    def revoke(self, key: str) -> bool:
        """Revoke a key, given whole or by its id (``csk_<12 hex>``). True if it was active;
        an unknown key is a :class:`ConfigurationError`."""
        if not isinstance(key, str):
            raise ConfigurationError("revoke() takes a project key or its id (csk_...)")
        m = _KEY_RE.fullmatch(key)
        if m is not None:
            key_id = KEY_PREFIX + m.group(1)
            record = self._store.get_key(key_id)
            if record is None or not hmac.compare_digest(
                    _digest(bytes.fromhex(record["salt"]), key), record["hash"]):
                raise ConfigurationError("unknown project key")
        else:
            m = _ID_RE.fullmatch(key)
            if m is None or self._store.get_key(key) is None:
                raise ConfigurationError("unknown project key id (expected csk_ and 12 hex "
                                         "digits, as `cencori keys list` shows)")
            key_id = key
        done = bool(self._store.revoke_key(key_id, time.time()))
        with self._lock:
            self._keys.pop(key_id, None)
        return done

    def get(self, name: str) -> Project | None:
        """A project with its keys (read from the store, not the cache)."""
        data = self._store.get_project(name)
        if data is None:
            return None
        keys = [_key_info(k) for k in self._store.list_keys() if k["project"] == name]
        return Project.from_record(data, keys)

    def list(self) -> builtins.list[Project]:
        """Every project with its keys (ids only), by name."""
        keys: dict[str, builtins.list[KeyInfo]] = {}
        for k in self._store.list_keys():
            keys.setdefault(k["project"], []).append(_key_info(k))
        out = [Project.from_record(p, sorted(keys.get(p["name"], []),
                                             key=lambda k: k.created))
               for p in self._store.list_projects()]
        return sorted(out, key=lambda p: p.name)

    def _build(self, name: Any, providers: Any, budget: Any, rate_limits: Any, window: Any,
               created: float | None = None) -> Project:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ConfigurationError(f"project name {name!r} must be 1 to 128 characters "
                                     "without spaces, control characters, ':' or '/'")
        if providers is not None:
            if isinstance(providers, str) or not all(isinstance(p, str) and p
                                                     for p in providers):
                raise ConfigurationError("providers must be a list of provider names, "
                                         "e.g. ['openai', 'anthropic']")
            providers = tuple(dict.fromkeys(providers))
        return Project(name=name, providers=providers,
                       budget=parse_money(budget, "budget") if budget is not None else None,
                       budget_window=check_window(window, "budget_window"),
                       rate_limits=parse_rate_limits(rate_limits),
                       created=time.time() if created is None else created)

    def _changed(self, project: Project) -> None:
        with self._lock:
            self._projects[project.name] = (time.monotonic() + self._ttl, project)
            self._in_use = (time.monotonic() + self._ttl, True)

    def in_use(self) -> bool:
        """Whether the store holds any project (through the cache): then a call's
        ``project=`` must name one of them."""
        now = time.monotonic()
        until, used = self._in_use
        if until > now:
            return used
        self._watch()
        gen = self._gen
        used = bool(self._store.list_projects())
        with self._lock:
            if gen == self._gen:
                self._in_use = (now + self._ttl, used)
        return used

    def require(self, name: str) -> Project | None:
        """The project called ``name``; when projects are in use, an unknown name is an
        :class:`AuthenticationError` (its budget and limits would silently not apply). Without
        any project, ``name`` is only a label for usage records and None is returned."""
        project = self.lookup(name)
        if project is not None or not self.in_use():
            return project
        known = sorted(p["name"] for p in self._store.list_projects())
        shown = ", ".join(repr(k) for k in known[:10]) + (", ..." if len(known) > 10 else "")
        raise AuthenticationError(
            f"unknown project {name!r}; known projects: {shown}. Create it with "
            f"router.projects.create({name!r}) or `cencori keys create {name}`")

    # ------------------------------------------------------------------ the call path

    def lookup(self, name: str) -> Project | None:
        """The project called ``name`` (without its keys), through the cache."""
        now = time.monotonic()
        hit = self._projects.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        self._watch()
        gen = self._gen
        data = self._store.get_project(name)
        project = Project.from_record(data) if data is not None else None
        with self._lock:
            if gen == self._gen:
                self._projects[name] = (now + self._ttl, project)
        return project

    def verify(self, key: Any) -> tuple[Project, str]:
        """(project, key id) for a valid key; otherwise :class:`AuthenticationError` (the
        message never repeats the key)."""
        if not isinstance(key, str):
            raise InvalidRequestError("api_key must be a project key string (csk_...)",
                                      param="api_key")
        m = _KEY_RE.fullmatch(key)
        record = self._key_record(KEY_PREFIX + m.group(1)) if m is not None else None
        if record is None:
            hmac.compare_digest(_digest(_DUMMY_SALT, key), _DUMMY_DIGEST)
            raise AuthenticationError("unknown or revoked project key")
        ok = hmac.compare_digest(_digest(bytes.fromhex(record["salt"]), key), record["hash"])
        if not ok or record.get("revoked"):
            raise AuthenticationError("unknown or revoked project key")
        project = self.lookup(record["project"])
        if project is None:
            raise AuthenticationError("the key's project no longer exists")
        return project, record["id"]

    def _key_record(self, key_id: str) -> dict[str, Any] | None:
        now = time.monotonic()
        hit = self._keys.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        self._watch()
        gen = self._gen
        record: dict[str, Any] | None = self._store.get_key(key_id)
        if record is not None:  # unknown ids are not cached: guessed ids must not fill memory
            with self._lock:
                if gen == self._gen:
                    self._keys[key_id] = (now + self._ttl, record)
        return record

    def close(self) -> None:
        self._store.close()


def _key_info(k: Mapping[str, Any]) -> KeyInfo:
    return KeyInfo(id=k["id"], project=k["project"], created=float(k["created"]),
                   revoked=k.get("revoked"))
