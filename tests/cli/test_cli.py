"""``python -m cencori_core.cli``, run as a user would (a subprocess, no key, no network); the
installed ``cencori`` script is tested in tests/cli/."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CENCORI = [sys.executable, "-m", "cencori_core.cli"]


def run(*args, env=None, stdin=None):
    e = {**os.environ, "CENCORI_HOME": env or "/nonexistent-cencori-home"}
    return subprocess.run([*CENCORI, *args], capture_output=True, text=True, env=e,
                          input=stdin, timeout=60)


def test_chat_streams_then_prints_usage_and_cost(tmp_path):
    out = run("chat", "Hello", "-m", "echo/echo", env=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "echo: Hello\n"
    # the summary goes to stderr: `cencori chat ... > answer.txt` keeps the answer alone
    assert "tokens: 1 in, 2 out" in out.stderr and "cost: unpriced" in out.stderr


def test_chat_json_prints_one_object_only(tmp_path):
    out = run("chat", "--json", "Hi there", "-m", "echo", env=str(tmp_path))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # the whole stdout is one JSON object
    assert data["content"] == "echo: Hi there" and data["usage"]["total_tokens"] == 5


def test_chat_reads_stdin(tmp_path):
    out = run("chat", "-", "--no-stream", env=str(tmp_path), stdin="from stdin")
    assert out.stdout.splitlines()[0] == "echo: from stdin"


def test_user_errors_are_one_line_exit_2(tmp_path):
    out = run("chat", "Hello", "-m", "nosuchmodel-4x", env=str(tmp_path))
    assert out.returncode == 2
    assert out.stdout == ""
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cencori: error: unknown model")
    assert "Traceback" not in out.stderr
    out = run("chat", "Hello", "-t", "9", env=str(tmp_path))
    assert out.returncode == 2 and "temperature" in out.stderr and "Traceback" not in out.stderr


def test_models_lists_catalog(tmp_path):
    out = run("models", "--json", env=str(tmp_path))
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    echo = next(r for r in rows if r["model"] == "echo")
    assert echo["provider"] == "echo" and echo["configured"] is True
    out = run("models", env=str(tmp_path))
    assert out.stdout.startswith("MODEL") and "echo (configured)" in out.stdout
    assert echo["context_window"] is None or isinstance(echo["context_window"], int)
