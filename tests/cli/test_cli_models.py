"""``cencori models``, ``--version``, and terminal output: width, colour, NO_COLOR."""

# ruff: noqa: F811  (pytest fixtures imported from cli_run are test arguments)

from __future__ import annotations

import json
import re
import subprocess
import sys

from cli_run import cencori, home, run_in_terminal  # noqa: F401 (fixtures)

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-7]|38;[0-9;]+|9[0-7])m")


def test_version(cencori):
    from cencori_core import __version__

    out = cencori("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"cencori {__version__}"


def test_models_json_has_numbers(cencori):
    out = cencori("models", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["model"]: r for r in json.loads(out.stdout)}
    assert rows["echo"]["provider"] == "echo" and rows["echo"]["configured"] is True
    assert rows["gpt-4o"]["context_window"] == 128000  # a number, not "128000"
    assert isinstance(rows["gpt-4o"]["max_output_tokens"], int)
    assert rows["gpt-4o"]["configured"] is False  # no key in the environment
    assert "tools" in rows["gpt-4o"]["capabilities"]


def test_models_unknown_provider_is_an_error(cencori):
    out = cencori("models", "--provider", "opnai")
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert "unknown provider 'opnai'" in line and "did you mean 'openai'?" in line
    assert "known providers: anthropic, " in line and "echo" in line
    out = cencori("models", "--provider", "nosuch")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "did you mean" not in out.stderr and "known providers:" in out.stderr


def test_models_table_fits_the_width(cencori):
    for columns in (60, 80, 120):
        out = cencori("models", COLUMNS=str(columns))
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].split() == ["MODEL", "PROVIDER", "KEY", "CAPS", "CONTEXT"]
        assert max(len(line) for line in lines) <= columns
        assert not ANSI.search(out.stdout)  # not a terminal: no escape codes at all
    gpt = next(line for line in out.stdout.splitlines() if line.startswith("gpt-4o "))
    assert gpt.split()[1:] == ["openai", "no", "cstjv--------", "128k"]
    assert "CAPS: c=chat s=streaming t=tools j=json v=vision" in out.stdout
    # piped without COLUMNS (| grep): whole rows, never folded names
    out = cencori("models", "--provider", "meta")
    assert any(line.startswith("Llama-4-Maverick-17B-128E-Instruct-FP8 ")
               for line in out.stdout.splitlines())


def test_terminal_output_has_colour_and_fits(home):
    out = run_in_terminal(home, "models", columns=64)
    assert out.returncode == 0, out.stdout
    assert COLOUR.search(out.stdout)
    plain = ANSI.sub("", out.stdout)
    assert max(len(line) for line in plain.splitlines()) <= 64
    assert "echo" in plain


def test_no_color_is_honoured_on_a_terminal(home):
    out = run_in_terminal(home, "models", columns=100, NO_COLOR="1")
    assert out.returncode == 0
    assert not COLOUR.search(out.stdout) and "gpt-4o" in out.stdout
    out = run_in_terminal(home, "chat", "-m", "nosuch-model-9", NO_COLOR="1")
    assert out.returncode == 2 and not COLOUR.search(out.stdout)


def test_errors_on_a_terminal_are_one_red_line(home):
    long = "x" * 200  # longer than the terminal: still one line (the terminal wraps it)
    out = run_in_terminal(home, "chat", "-m", long, "hi", columns=60)
    assert out.returncode == 2
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and COLOUR.search(lines[0])
    assert ANSI.sub("", lines[0]).startswith("cencori: error: unknown model")


def test_import_cencori_core_does_not_import_rich():
    code = "import sys, cencori_core; print('rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
