"""Running the ``cencori`` console script as a user runs it: the installed script in a
subprocess, ``CENCORI_HOME`` in the test's tmp_path, no key, no network beyond the loopback wire
servers; or on a pseudo-terminal, as on a screen. The fixtures ``home`` and ``cencori`` are
imported by the test modules (a conftest.py here would shadow tests/conftest.py, which other
tests import by name)."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# The script pip installed next to this interpreter: the entry point itself is under test.
SCRIPT = os.path.join(os.path.dirname(sys.executable), "cencori")

# Variables of the developer's shell that change what the CLI prints.
_CLEARED = ("CENCORI_CONFIG", "CENCORI_MODEL", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES",
            "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "PYTHONUNBUFFERED")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED
           and not k.endswith(("_API_KEY", "_BASE_URL")) and k not in ("CO_API_URL",)}
    env["CENCORI_HOME"] = str(home)
    env.update(extra)
    return env


def run_cli(home: Path, *args: str, stdin: str | None = None, **env: str) -> Result:
    out = subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=cli_env(home, **env),
                         input=stdin if stdin is not None else "", timeout=120)
    return Result(out.returncode, out.stdout, out.stderr)


def run_in_terminal(home: Path, *args: str, columns: int = 80, **env: str) -> Result:
    """Run with stdout and stderr on a pseudo-terminal of ``columns`` columns (what a user's
    terminal is); stdout and stderr arrive mixed, as on a screen."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    e = cli_env(home, TERM="xterm-256color", **env)
    proc = subprocess.Popen([SCRIPT, *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=e, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError as exc:  # EIO: the child closed the terminal (Linux)
            if exc.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=120)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return Result(code, text, "")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cencori(home: Path) -> Callable[..., Result]:
    """``cencori(*args, stdin=None, **env)`` runs the script with this test's home."""
    def run(*args: str, stdin: str | None = None, **env: str) -> Result:
        return run_cli(home, *args, stdin=stdin, **env)

    return run
