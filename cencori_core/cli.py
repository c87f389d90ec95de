"""The ``cencori`` command.

``cencori chat "Hello" -m echo/echo`` streams the reply, then usage and cost;
``cencori chat --json`` prints the final response's ``to_dict()`` as one JSON object and nothing
else on stdout; ``cencori models`` lists the catalog and which providers are configured.
Chat calls are recorded in ``$CENCORI_HOME/cencori.db`` (default ``~/.cencori/``), the ledger
that ``cencori usage`` reads. User errors are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

EXIT_USER_ERROR = 2


def cencori_home() -> str:
    return os.environ.get("CENCORI_HOME") or os.path.join(os.path.expanduser("~"), ".cencori")


def _router(args: argparse.Namespace, *, ledger: bool = False) -> Any:
    """The router a command uses; with ``ledger``, its calls are recorded in
    ``$CENCORI_HOME/cencori.db`` (unless the config file names a ledger) so that
    ``cencori usage`` shows them in a later run."""
    from . import Router
    from .config import load_toml

    config = getattr(args, "config", None) or os.environ.get("CENCORI_CONFIG")
    kwargs = load_toml(config) if config else {}
    if ledger and "ledger_path" not in kwargs:
        path = os.path.join(cencori_home(), "cencori.db")
        try:
            return Router(**kwargs, ledger_path=path)
        except (OSError, sqlite3.Error) as exc:
            # The chat itself does not need the ledger: a home that cannot be written (a
            # read-only container) costs the usage history, not the answer.
            sys.stderr.write(f"cencori: warning: usage not recorded ({path}: {exc})\n")
    return Router(**kwargs)


def _cmd_chat(args: argparse.Namespace) -> int:
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    prompt = args.prompt
    if prompt == "-" or (prompt is None and not sys.stdin.isatty()):
        prompt = sys.stdin.read()
    if not prompt:
        raise _UserError("give a prompt: cencori chat \"Hello\" -m echo/echo")
    messages.append({"role": "user", "content": prompt})
    kwargs: dict[str, Any] = {"model": args.model, "messages": messages}
    if args.temperature is not None:
        kwargs["temperature"] = args.temperature
    if args.max_tokens is not None:
        kwargs["max_tokens"] = args.max_tokens
    with _router(args, ledger=True) as router:
        if args.json or args.no_stream:
            resp = router.chat(**kwargs)
            if args.json:
                sys.stdout.write(json.dumps(resp.to_dict(), ensure_ascii=False) + "\n")
                return 0
            sys.stdout.write((resp.content or "") + "\n")
        else:
            with router.chat_stream(**kwargs) as stream:
                for chunk in stream:
                    if chunk.delta:
                        sys.stdout.write(chunk.delta)
                        sys.stdout.flush()
            sys.stdout.write("\n")
            resp = stream.response
        sys.stdout.write(_summary(resp) + "\n")
    return 0


def _summary(resp: Any) -> str:
    u = resp.usage
    cost = "unpriced" if resp.cost is None else f"${resp.cost.total}"
    est = " (estimated)" if u.source == "estimated" else ""
    return (f"[{resp.provider}/{resp.model}] tokens: {u.prompt_tokens} in, "
            f"{u.completion_tokens} out{est} · cost: {cost} · {resp.latency_ms:.1f} ms")


def _cmd_models(args: argparse.Namespace) -> int:
    with _router(args) as router:
        configured = router.configured_providers()
        rows = []
        for name, info in sorted(router.catalog.models.items()):
            if args.provider and info.provider != args.provider:
                continue
            rows.append((name, info.provider, "yes" if configured.get(info.provider) else "no",
                         ",".join(sorted(info.capabilities)),
                         str(info.context_window or "")))
        if args.json:
            sys.stdout.write(json.dumps([
                {"model": r[0], "provider": r[1], "configured": r[2] == "yes",
                 "capabilities": r[3].split(","), "context_window": r[4] or None}
                for r in rows]) + "\n")
            return 0
        header = ("MODEL", "PROVIDER", "CONFIGURED", "CAPABILITIES", "CONTEXT")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
        for r in [header, *rows]:
            cells = (str(c).ljust(w) for c, w in zip(r, widths, strict=True))
            sys.stdout.write("  ".join(cells).rstrip() + "\n")
        sys.stdout.write("\nproviders: " + ", ".join(
            f"{p} ({'configured' if ok else 'no key'})" for p, ok in sorted(configured.items()))
            + "\n")
    return 0


class _UserError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line like every other user error (argparse
    prints the usage block first); subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"cencori: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cencori", description="cencori-core: an AI gateway inside your "
                     "application")
    parser.add_argument("--config", help="a cencori TOML file (default: $CENCORI_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = sub.add_parser("chat", help="send a prompt and stream the reply")
    chat.add_argument("prompt", nargs="?", help="the prompt ('-' reads stdin)")
    chat.add_argument("-m", "--model", default=os.environ.get("CENCORI_MODEL", "echo/echo"),
                      help="model name (default: $CENCORI_MODEL or echo/echo)")
    chat.add_argument("-s", "--system", help="a system message")
    chat.add_argument("-t", "--temperature", type=float)
    chat.add_argument("--max-tokens", type=int)
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole reply")
    chat.add_argument("--json", action="store_true",
                      help="print the final response as one JSON object")
    chat.set_defaults(func=_cmd_chat)

    models = sub.add_parser("models", help="list the model catalog and configured providers")
    models.add_argument("--provider", help="only this provider's models")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=_cmd_models)

    try:
        from .accounting.cli import add_subcommands
    except ImportError:
        pass
    else:
        add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import CencoriError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except (CencoriError, _UserError) as exc:
        sys.stderr.write(f"cencori: error: {_one_line(exc)}\n")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("cencori: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
