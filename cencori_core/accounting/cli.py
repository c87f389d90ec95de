"""``cencori usage`` and ``cencori keys create|list|revoke``.

Both work on ``$CENCORI_HOME/cencori.db`` (default ``~/.cencori/``), the SQLite file that holds
the ledger, projects and keys, so they persist between runs. ``--redis-url`` puts the keys in
Redis instead, where workers sharing ``Router(redis_url=...)`` see them. Errors are
:class:`~cencori_core.errors.CencoriError`\\ s: the ``cencori`` command prints them as one line
and exits with 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any

from .ledger import BY

__all__ = ["add_subcommands", "db_path"]


def db_path() -> str:
    home = os.environ.get("CENCORI_HOME") or os.path.join(os.path.expanduser("~"), ".cencori")
    return os.path.join(home, "cencori.db")


def _when(t: float | None) -> str:
    if not t:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(rows: list[tuple[Any, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _projects(args: argparse.Namespace) -> Any:
    from .projects import Projects

    if args.redis_url:
        from ..stores.redis import RedisProjects, RedisStore

        return Projects(RedisProjects(RedisStore(args.redis_url)))
    from ..stores.sqlite import SqliteProjects

    return Projects(SqliteProjects(db_path()))


def _cmd_usage(args: argparse.Namespace) -> int:
    from .ledger import SqliteLedger

    ledger = SqliteLedger(db_path())
    try:
        rows = ledger.summary(by=args.by, since=args.since, until=args.until)
    finally:
        ledger.close()
    if args.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in rows]) + "\n")
        return 0
    if not rows:
        sys.stdout.write(f"no usage recorded in {db_path()}\n")
        return 0
    table: list[tuple[Any, ...]] = [(args.by.upper(), "CALLS", "ERRORS", "PROMPT", "COMPLETION",
                                     "TOTAL", "COST_USD")]
    for r in rows:
        cost = f"{r.cost}" + (f" (+{r.unpriced} unpriced)" if r.unpriced else "")
        table.append((r.key if r.key is not None else "-", r.calls, r.errors, r.prompt_tokens,
                      r.completion_tokens, r.total_tokens, cost))
    sys.stdout.write(_table(table) + "\n")
    return 0


def _cmd_keys_create(args: argparse.Namespace) -> int:
    projects = _projects(args)
    try:
        if args.existing:
            key = projects.add_key(args.project)
        else:
            limits = {k: v for k, v in (("rpm", args.rpm), ("tpm", args.tpm)) if v is not None}
            key = projects.create(args.project, providers=args.provider or None,
                                  budget=args.budget, rate_limits=limits or None,
                                  budget_window=args.window)
    finally:
        projects.close()
    sys.stdout.write(key + "\n")
    sys.stderr.write(f"key for project {args.project!r} created: store it now, it is not "
                     "shown again\n")
    return 0


def _cmd_keys_list(args: argparse.Namespace) -> int:
    projects = _projects(args)
    try:
        listed = projects.list()
    finally:
        projects.close()
    if args.json:
        sys.stdout.write(json.dumps([p.to_dict() for p in listed]) + "\n")
        return 0
    table: list[tuple[Any, ...]] = [("KEY", "PROJECT", "CREATED", "REVOKED", "PROVIDERS",
                                     "BUDGET_USD", "RATE_LIMITS")]
    for p in listed:
        providers = ",".join(p.providers) if p.providers is not None else "all"
        budget = f"{p.budget} / {p.budget_window}" if p.budget is not None else "-"
        limits = ",".join(f"{k}={v}" for k, v in (p.rate_limits or {}).items()) or "-"
        for k in p.keys or ():
            table.append((k.id, p.name, _when(k.created), _when(k.revoked), providers, budget,
                          limits))
    if len(table) == 1:
        sys.stdout.write("no project keys yet: cencori keys create <project>\n")
        return 0
    sys.stdout.write(_table(table) + "\n")
    return 0


def _cmd_keys_revoke(args: argparse.Namespace) -> int:
    projects = _projects(args)
    try:
        done = projects.revoke(args.key)
    finally:
        projects.close()
    shown = args.key[:16]  # the public id, never the secret part
    sys.stdout.write(f"revoked {shown}\n" if done else f"{shown} was already revoked\n")
    return 0


def add_subcommands(subparsers: Any) -> None:
    """Add ``usage`` and ``keys`` to the ``cencori`` command's subparsers."""
    usage = subparsers.add_parser("usage", help="usage and cost from the ledger "
                                  "($CENCORI_HOME/cencori.db)")
    usage.add_argument("--by", choices=BY, default="model", help="group rows by (default: model)")
    usage.add_argument("--since", help="ISO date or time (UTC unless it says otherwise)")
    usage.add_argument("--until", help="ISO date or time, excluded")
    usage.add_argument("--json", action="store_true", help="rows as one JSON array")
    usage.set_defaults(func=_cmd_usage)

    keys = subparsers.add_parser("keys", help="project keys: create, list, revoke")
    keys.set_defaults(func=lambda args: (keys.print_help(sys.stderr), 2)[1])
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")

    def store_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis-url", help="keep keys in this Redis (as Router(redis_url=...))"
                       " instead of $CENCORI_HOME/cencori.db")

    create = keys_sub.add_parser("create", help="create a project and print its key (once)")
    create.add_argument("project", help="the project name")
    create.add_argument("--provider", action="append",
                        help="a provider the project may use (repeat; default: all)")
    create.add_argument("--budget", help="USD budget of the project")
    create.add_argument("--window", choices=("total", "day", "month"), default="total",
                        help="the budget's window (default: total)")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--existing", action="store_true",
                        help="add another key to an existing project (rotation)")
    store_options(create)
    create.set_defaults(func=_cmd_keys_create)

    listing = keys_sub.add_parser("list", help="list projects and key ids (never secrets)")
    listing.add_argument("--json", action="store_true")
    store_options(listing)
    listing.set_defaults(func=_cmd_keys_list)

    revoke = keys_sub.add_parser("revoke", help="revoke a key (the key or its csk_ id)")
    revoke.add_argument("key")
    store_options(revoke)
    revoke.set_defaults(func=_cmd_keys_revoke)
