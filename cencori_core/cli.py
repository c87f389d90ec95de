"""The ``cencori`` command.

``cencori chat "Hello" -m echo/echo`` streams the reply (usage and cost follow on stderr);
``cencori chat --json`` prints the final response's ``to_dict()`` as one JSON object and nothing
else on stdout; ``cencori chat -c "And then?"`` continues the last conversation (kept in
``$CENCORI_HOME/conversation.json``); ``cencori models`` lists the catalog and which providers are
configured; ``cencori usage`` and ``cencori keys`` live in :mod:`cencori_core.accounting.cli`.

Chat calls are recorded in ``$CENCORI_HOME/cencori.db`` (default ``~/.cencori/``) unless the
config file names a ledger: the ledger that ``cencori usage`` reads. ``--config`` (or
``$CENCORI_CONFIG``) applies to every subcommand. User errors are one line on stderr and exit
code 2, never a traceback. Terminal output goes through ``rich``, imported here only (``import
cencori_core`` does not import it): colour only on a terminal, ``NO_COLOR`` honoured, tables as
wide as the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

EXIT_USER_ERROR = 2
CONVERSATION_FILE = "conversation.json"

# Fixed-position capability flags (like ``ls -l``'s permissions): a column of 13 characters
# instead of a comma list that can be 80 wide; the legend is printed under the table.
CAPABILITY_FLAGS = (("chat", "c"), ("streaming", "s"), ("tools", "t"), ("json", "j"),
                    ("vision", "v"), ("audio_input", "a"), ("reasoning", "r"),
                    ("embeddings", "e"), ("images", "i"), ("moderation", "m"),
                    ("speech", "p"), ("transcription", "x"), ("rerank", "k"))


class UserError(Exception):
    """A mistake on the command line, reported like a :class:`~cencori_core.errors.CencoriError`
    (one line, exit code 2)."""


def cencori_home() -> str:
    return os.environ.get("CENCORI_HOME") or os.path.join(os.path.expanduser("~"), ".cencori")


# ---------------------------------------------------------------------------- output


def console(*, stderr: bool = False) -> Console:
    """A rich console for stdout (or stderr). rich already gives colour only on a terminal and
    honours ``NO_COLOR``/``FORCE_COLOR``/``COLUMNS``; when the output is not a terminal and
    ``COLUMNS`` is unset there is no width to fit, so tables are not wrapped (``| grep`` keeps
    whole rows)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not os.environ.get("COLUMNS") and not (hasattr(stream, "isatty") and stream.isatty()):
        width = 250
    return Console(file=stream, width=width, highlight=False, emoji=False)


def can_draw(con: Console) -> bool:
    """Whether block characters can be written (a UTF encoding)."""
    return "utf" in (con.encoding or "").lower()


def dump_json(data: Any, obj: Any = None) -> None:
    """Print ``data`` (a ``to_dict()`` result, or a list of them) as one line of JSON, numbers as
    JSON numbers: ``to_dict()`` keeps Decimals as strings (exact); wherever ``obj`` (the object
    ``data`` came from) holds a Decimal, the JSON gets a number instead (a consumer's JSON parser
    reads numbers as floats anyway)."""
    sys.stdout.write(json.dumps(_numbers(data, obj), ensure_ascii=False) + "\n")


def _numbers(data: Any, obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(data, dict):
        return {k: _numbers(v, _member(obj, k)) for k, v in data.items()}
    if isinstance(data, list):
        items = list(obj) if isinstance(obj, (list, tuple)) else []
        if len(items) != len(data):
            items = [None] * len(data)
        return [_numbers(d, o) for d, o in zip(data, items, strict=True)]
    return data


def _member(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def money(value: Decimal | None) -> str:
    """USD for people: at most 6 decimals (the exact value is in ``--json``)."""
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    text = f"{value.quantize(Decimal('0.000001')):f}".rstrip("0")
    if text.endswith("."):
        text += "00"
    elif len(text.split(".")[1]) == 1:
        text += "0"
    return "$" + ("<0.000001" if text == "0.00" else text)


# ---------------------------------------------------------------------------- configuration


def config_path(args: argparse.Namespace) -> str | None:
    return getattr(args, "config", None) or os.environ.get("CENCORI_CONFIG") or None


def config_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The config file's Router keyword arguments (read once per command); {} without one."""
    cached = getattr(args, "_config_kwargs", None)
    if cached is None:
        from .config import load_toml

        path = config_path(args)
        cached = load_toml(path) if path else {}
        args._config_kwargs = cached
    return dict(cached)


def default_db() -> str:
    return os.path.join(cencori_home(), "cencori.db")


def _router(args: argparse.Namespace, *, ledger: bool = False) -> Any:
    """The router a command uses; with ``ledger``, its calls are recorded in
    ``$CENCORI_HOME/cencori.db`` (unless the config file names a ledger) so that
    ``cencori usage`` shows them in a later run."""
    from . import Router
    from .config import toml_errors

    kwargs = config_kwargs(args)
    source = config_path(args)
    with toml_errors(source) if source else contextlib.nullcontext():
        if ledger and "ledger_path" not in kwargs:
            path = default_db()
            try:
                return Router(**kwargs, ledger_path=path)
            except (OSError, sqlite3.Error) as exc:
                # The chat itself does not need the ledger: a home that cannot be written (a
                # read-only container) costs the usage history, not the answer.
                warn(f"usage not recorded ({path}: {exc})")
        return Router(**kwargs)


def warn(text: str) -> None:
    from rich.text import Text

    line = Text("cencori: warning: ", style="yellow")
    line.append(" ".join(text.split()))
    console(stderr=True).print(line, soft_wrap=True)


# ---------------------------------------------------------------------------- chat


def _conversation_file() -> str:
    return os.path.join(cencori_home(), CONVERSATION_FILE)


def _load_conversation() -> dict[str, Any]:
    path = _conversation_file()
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise UserError(f"no conversation to continue ({path} does not exist); start one "
                        "without -c: cencori chat \"Hello\"") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the conversation in {path} ({exc}); start a new one "
                        "without -c") from None
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise UserError(f"{path} does not hold a conversation (a 'messages' list); start a "
                        "new one without -c")
    return dict(data)


def _save_conversation(model: str, messages: list[dict[str, Any]]) -> None:
    """Replace the saved conversation (owner-only: it holds the user's prompts)."""
    path = _conversation_file()
    tmp = path + ".tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"model": model, "messages": messages}, fh, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError as exc:
        warn(f"conversation not saved ({path}: {exc}); -c will not find this turn")


def _prompt(args: argparse.Namespace) -> str:
    prompt = args.prompt
    if prompt == "-" or (prompt is None and not sys.stdin.isatty()):
        prompt = sys.stdin.read()
    if not prompt or not prompt.strip():
        raise UserError("give a prompt: cencori chat \"Hello\" (or pipe one: echo Hello | "
                        "cencori chat)")
    return str(prompt)


def _cmd_chat(args: argparse.Namespace) -> int:
    prompt = _prompt(args)
    messages: list[dict[str, Any]] = []
    model = args.model
    if args.continue_:
        saved = _load_conversation()
        messages = list(saved["messages"])
        model = model or saved.get("model")
    if args.system is not None:
        # A new system message replaces the conversation's (it stays first).
        messages = [m for m in messages if m.get("role") != "system"]
        messages.insert(0, {"role": "system", "content": args.system})
    model = model or os.environ.get("CENCORI_MODEL") or "echo/echo"
    messages.append({"role": "user", "content": prompt})
    kwargs: dict[str, Any] = {"model": model, "messages": messages}
    if args.temperature is not None:
        kwargs["temperature"] = args.temperature
    if args.max_tokens is not None:
        kwargs["max_tokens"] = args.max_tokens
    with _router(args, ledger=True) as router:
        if args.json or args.no_stream:
            resp = router.chat(**kwargs)
            if args.json:
                dump_json(resp.to_dict(), resp)
            else:
                sys.stdout.write((resp.content or "") + "\n")
        else:
            resp = _stream(router, kwargs)
    _save_conversation(model, [*messages, {"role": "assistant", "content": resp.content or ""}])
    if not args.json:
        _summary(resp)
    return 0


def _stream(router: Any, kwargs: dict[str, Any]) -> Any:
    """Write each text delta as it arrives (flushed, so a pipe sees it too); the reply is the
    model's own text, printed as is."""
    out = sys.stdout
    wrote = False
    try:
        with router.chat_stream(**kwargs) as stream:
            for chunk in stream:
                if chunk.delta:
                    out.write(chunk.delta)
                    out.flush()
                    wrote = True
    except BaseException:
        if wrote:  # end the partial answer's line: the error gets a line of its own
            out.write("\n")
            out.flush()
        raise
    out.write("\n")
    out.flush()
    return stream.response


def _summary(resp: Any) -> None:
    """Route, tokens, cost and latency on stderr: stdout keeps the answer alone."""
    from rich.text import Text

    u = resp.usage
    cost = "unpriced" if resp.cost is None else money(resp.cost.total)
    est = " (estimated)" if u.source == "estimated" else ""
    line = Text(f"[{resp.provider}/{resp.model}] tokens: {u.prompt_tokens} in, "
                f"{u.completion_tokens} out{est} · cost: {cost} · {resp.latency_ms:.1f} ms",
                style="dim")
    console(stderr=True).print(line, soft_wrap=True)


# ---------------------------------------------------------------------------- models


def _flags(capabilities: frozenset[str]) -> str:
    return "".join(flag if name in capabilities else "-" for name, flag in CAPABILITY_FLAGS)


def _tokens(n: int | None) -> str:
    if not n:
        return ""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}".removesuffix(".0") + "M"
    if n >= 1000:
        return f"{n / 1000:.0f}k"
    return str(n)


def _cmd_models(args: argparse.Namespace) -> int:
    with _router(args) as router:
        configured = router.configured_providers()
        models = router.catalog.models
        if args.provider:
            known = sorted(set(configured) | {info.provider for info in models.values()})
            if args.provider not in known:
                close = difflib.get_close_matches(args.provider, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise UserError(f"unknown provider {args.provider!r}{hint} known providers: "
                                f"{', '.join(known)}")
        rows = [(info.name, info) for _, info in sorted(models.items())
                if not args.provider or info.provider == args.provider]
        # names reachable only as provider/model: a configured endpoint's models and cloud
        # deployments (azure/<deployment>, with its base model's capabilities)
        rows += [(f"{p}/{name}", info)
                 for (p, name), info in sorted(router.catalog.by_provider.items())
                 if models.get(name) is not info and (not args.provider or p == args.provider)]
    if args.json:
        dump_json([{"model": label, "provider": i.provider,
                    "configured": bool(configured.get(i.provider)),
                    "capabilities": sorted(i.capabilities),
                    "context_window": i.context_window,
                    "max_output_tokens": i.max_output_tokens} for label, i in rows])
        return 0
    from rich import box
    from rich.table import Table
    from rich.text import Text

    con = console()
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("MODEL", overflow="fold", style="cyan", no_wrap=False)
    table.add_column("PROVIDER", overflow="fold")
    table.add_column("KEY", no_wrap=True)
    table.add_column("CAPS", no_wrap=True)
    table.add_column("CONTEXT", justify="right", no_wrap=True)
    for label, i in rows:
        ok = bool(configured.get(i.provider))
        # Text cells: names come from plugins and are data, never rich markup
        table.add_row(Text(label), Text(i.provider),
                      Text("yes", style="green") if ok else Text("no", style="red"),
                      Text(_flags(i.capabilities)), Text(_tokens(i.context_window)))
    if rows:
        con.print(table)
        legend = " ".join(f"{flag}={name.replace('_', ' ')}" for name, flag in CAPABILITY_FLAGS)
        con.print(f"CAPS: {legend}", style="dim", markup=False)
    else:
        con.print(f"no catalog models for provider {args.provider!r} (names it serves are "
                  f"sent as written: cencori chat -m {args.provider}/<model>)", markup=False)
    con.print("providers: " + ", ".join(
        f"{p} ({'configured' if ok else 'no key'})" for p, ok in sorted(configured.items())),
        markup=False)
    return 0


# ---------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line like every other user error (argparse
    prints the usage block first); subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"cencori: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cencori-core")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from . import __version__

        return __version__


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config`` after the subcommand too (``cencori usage --config x.toml``); SUPPRESS keeps
    a value given before the subcommand when it is not repeated."""
    parser.add_argument("--config", default=argparse.SUPPRESS,
                        help="a cencori TOML file (default: $CENCORI_CONFIG)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cencori", description="cencori-core: an AI gateway inside your "
                     "application")
    parser.add_argument("--config", help="a cencori TOML file (default: $CENCORI_CONFIG)")
    parser.add_argument("--version", action="version", version=f"cencori {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = sub.add_parser("chat", help="send a prompt and stream the reply")
    chat.add_argument("prompt", nargs="?",
                      help="the prompt (default: read from stdin when it is not a terminal; "
                      "'-' reads stdin)")
    chat.add_argument("-m", "--model",
                      help="model name (default: the continued conversation's, else "
                      "$CENCORI_MODEL, else echo/echo)")
    chat.add_argument("-s", "--system", help="a system message")
    chat.add_argument("-t", "--temperature", type=float)
    chat.add_argument("--max-tokens", type=int)
    chat.add_argument("-c", "--continue", dest="continue_", action="store_true",
                      help="continue the last conversation ($CENCORI_HOME/conversation.json)")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole reply")
    chat.add_argument("--json", action="store_true",
                      help="print the final response as one JSON object")
    add_config_option(chat)
    chat.set_defaults(func=_cmd_chat)

    models = sub.add_parser("models", help="list the model catalog and configured providers")
    models.add_argument("--provider", help="only this provider's models")
    models.add_argument("--json", action="store_true")
    add_config_option(models)
    models.set_defaults(func=_cmd_models)

    from .accounting.cli import add_subcommands

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
    except (CencoriError, UserError) as exc:
        error(exc)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("cencori: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (| head): nothing more to say, and nothing to say it to.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (OSError, sqlite3.Error) as exc:
        # A file the user named or owns (a report path, $CENCORI_HOME) that cannot be used:
        # their environment, not a bug; the message names the file.
        error(exc)
        return EXIT_USER_ERROR


def error(exc: BaseException) -> None:
    """One line on stderr, ``error:`` in red on a terminal; never rich markup from the message
    (error texts contain ``[providers.x]``)."""
    from rich.text import Text

    line = Text("cencori: error: ", style="bold red")
    line.append(_one_line(exc))
    console(stderr=True).print(line, soft_wrap=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
