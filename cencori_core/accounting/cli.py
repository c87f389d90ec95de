"""``cencori usage`` and ``cencori keys create|list|revoke``.

Both work where a Router built from the same ``--config`` would: the config's ``[ledger] path``
and ``[redis] url``, else ``$CENCORI_HOME/cencori.db`` (default ``~/.cencori/``), the SQLite file
that holds the ledger, projects and keys, so they persist between runs. ``--redis-url`` puts the
keys in Redis, where workers sharing ``Router(redis_url=...)`` see them. ``cencori usage`` prints
a table with a bar chart, ``--json`` rows, or ``--html FILE`` a report with charts. Errors are
:class:`~cencori_core.errors.CencoriError`\\ s: the ``cencori`` command prints them as one line
and exits with 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import time
from typing import Any

from .ledger import BY

__all__ = ["add_subcommands", "db_path"]


def db_path() -> str:
    """``$CENCORI_HOME/cencori.db``: the ledger and keys when no config file names others."""
    from ..cli import default_db

    return default_db()


def _when(t: float | None) -> str:
    if not t:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _ledger_path(args: argparse.Namespace) -> str:
    """``--ledger``, else the config file's ``[ledger] url`` or ``path``, else
    ``$CENCORI_HOME``'s file. A ``postgresql://`` URL names a PostgreSQL ledger."""
    from ..cli import UserError, config_kwargs
    from .ledger_pg import is_postgres_url

    given = getattr(args, "ledger", None)
    if given:
        if "://" in given and not is_postgres_url(given):
            raise UserError(f"--ledger {given.split('://')[0]}://...: give an SQLite ledger file "
                            "(./cencori.db) or a postgresql:// URL")
        return given if is_postgres_url(given) else os.path.expanduser(str(given))
    config = config_kwargs(args)
    return os.fspath(config.get("ledger_url") or config.get("ledger_path") or db_path())


def _open_ledger(where: str) -> Any:
    """The ledger at ``where`` for reading, or None when an SQLite file does not exist
    (reading must not create a ledger: a typo in --ledger)."""
    from ..cli import UserError
    from ..errors import CencoriError
    from .ledger import SqliteLedger
    from .ledger_pg import PostgresLedger, is_postgres_url

    if is_postgres_url(where):
        try:
            return PostgresLedger(where)
        except CencoriError as exc:
            raise UserError(str(exc)) from None
    return SqliteLedger(where) if os.path.exists(where) else None


def _projects(args: argparse.Namespace) -> Any:
    """The key store a Router built from the same config would use: ``--redis-url`` or the
    config's ``[redis] url``, else the config's ledger file, else ``$CENCORI_HOME``'s."""
    from ..cli import config_kwargs
    from .projects import Projects

    config = config_kwargs(args)
    redis_url = args.redis_url or config.get("redis_url")
    if redis_url:
        from ..stores.redis import RedisProjects, RedisStore

        return Projects(RedisProjects(RedisStore(redis_url)))
    from ..stores.sqlite import SqliteProjects

    return Projects(SqliteProjects(os.fspath(config.get("ledger_path") or db_path())))


_AGO = re.compile(r"(\d+)([mhdw])")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _when_arg(value: str | None, name: str) -> float | None:
    """An ISO date or time, or a time ago: ``30m``, ``24h``, ``7d``, ``2w``."""
    from ..cli import UserError
    from ..errors import InvalidRequestError
    from .ledger import timestamp

    m = _AGO.fullmatch(value.strip()) if value else None
    if m is not None:
        return time.time() - int(m.group(1)) * _UNIT[m.group(2)]
    try:
        return timestamp(value, name)
    except InvalidRequestError:
        raise UserError(f"--{name} {value!r}: give an ISO 8601 date or time (2026-01-31, "
                        "2026-01-31T12:00) or a time ago (30m, 24h, 7d, 2w)") from None


def _cmd_usage(args: argparse.Namespace) -> int:
    from .. import _report
    from ..cli import UserError, console, dump_json
    from ..config import mask_url
    from .ledger_pg import is_postgres_url

    path = _ledger_path(args)
    since, until = _when_arg(args.since, "since"), _when_arg(args.until, "until")
    if args.html:
        ledger = _open_ledger(path) if is_postgres_url(path) else None
        try:
            groups, has_saved = (_report.group_rows(ledger.rows(since, until), True) if ledger
                                 else _report.read_groups(path, since, until))
        finally:
            if ledger is not None:
                ledger.close()
        path = mask_url(path)
        document = _report.html_report(groups, has_saved=has_saved, source=path,
                                       period=_report.period_text(args.since, args.until))
        try:
            _report.write_report(args.html, document)
        except OSError as exc:
            raise UserError(f"cannot write the report to {args.html}: "
                            f"{exc.strerror or exc} ({exc.filename or args.html})") from None
        calls = sum(g.calls for g in groups)
        console(stderr=True).print(f"wrote {args.html} ({calls} calls)", markup=False,
                                   soft_wrap=True)
        return 0
    rows = []
    ledger = _open_ledger(path)
    if ledger is not None:
        try:
            rows = ledger.summary(by=args.by, since=since, until=until)
        finally:
            ledger.close()
    path = mask_url(path)
    if args.json:
        dump_json([r.to_dict() for r in rows], rows)
        return 0
    con = console()
    if not rows:
        con.print(f"no usage recorded in {path}", markup=False)
        return 0
    _report.usage_table(con, rows, args.by)
    return 0


def _cmd_keys_create(args: argparse.Namespace) -> int:
    from ..cli import UserError

    projects = _projects(args)
    try:
        if not args.existing and projects.get(args.project) is not None:
            raise UserError(f"project {args.project!r} already exists; add a key with: "
                            f"cencori keys create {args.project} --existing (see its keys: "
                            "cencori keys list)")
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
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..cli import console, dump_json

    projects = _projects(args)
    try:
        listed = projects.list()
    finally:
        projects.close()
    if args.json:
        dump_json([p.to_dict() for p in listed], listed)
        return 0
    con = console()
    if not any(p.keys for p in listed):
        con.print("no project keys yet: cencori keys create <project>", markup=False)
        return 0
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in ("KEY", "PROJECT", "CREATED", "REVOKED", "PROVIDERS", "BUDGET", "LIMITS"):
        table.add_column(name, overflow="fold", no_wrap=name in ("KEY", "CREATED", "REVOKED"))
    for p in listed:
        providers = ",".join(p.providers) if p.providers is not None else "all"
        budget = f"${p.budget} / {p.budget_window}" if p.budget is not None else "-"
        limits = ",".join(f"{k}={v}" for k, v in (p.rate_limits or {}).items()) or "-"
        for k in p.keys or ():
            # Text cells: names are data, never rich markup
            table.add_row(Text(k.id), Text(p.name), Text(_when(k.created)),
                          Text(_when(k.revoked), style="red" if k.revoked else ""),
                          Text(providers), Text(budget), Text(limits))
    con.print(table)
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
    from ..cli import add_config_option

    usage = subparsers.add_parser("usage", help="usage and cost from the ledger "
                                  "($CENCORI_HOME/cencori.db)")
    usage.add_argument("--by", choices=BY, default="model",
                       help="group rows by (default: model); --by day charts cost over time")
    usage.add_argument("--since", help="ISO date or time (UTC unless it says otherwise), or a "
                       "time ago: 30m, 24h, 7d, 2w")
    usage.add_argument("--until", help="the same forms, excluded")
    usage.add_argument("--json", action="store_true", help="rows as one JSON array")
    usage.add_argument("--html", metavar="FILE",
                       help="write a self-contained HTML report with charts (cost over time, "
                       "by model, by project) to FILE")
    usage.add_argument("--ledger", metavar="PATH|URL",
                       help="the ledger to read: an SQLite file or a postgresql:// URL "
                       "(default: the config's [ledger] url or path, else "
                       "$CENCORI_HOME/cencori.db)")
    add_config_option(usage)
    usage.set_defaults(func=_cmd_usage)

    keys = subparsers.add_parser("keys", help="project keys: create, list, revoke")
    add_config_option(keys)
    keys.set_defaults(func=lambda args: (keys.print_help(sys.stderr), 2)[1])
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")

    def store_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis-url", help="keep keys in this Redis (as Router(redis_url=...))"
                       " instead of the config's store or $CENCORI_HOME/cencori.db")
        add_config_option(p)

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
