"""What the scale tests (tests/scale/) share: a clean Redis database and the child process
runner (imported by name, like acct_fixtures: no conftest.py outside tests/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_py

CHILD = Path(__file__).resolve().parents[1] / "scale" / "scale_child.py"


@pytest.fixture(name="redis_url")
def redis_url_fixture(redis_server):
    """Database 6 of the session's redis-server, empty (other folders use 0 to 3)."""
    url = redis_server.url(6)
    client = redis_py.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def child(*args: str) -> subprocess.Popen[str]:
    """Start ``scale_child.py`` with ``args``: it reads commands on stdin, one a line, and
    answers each on stdout (see that module)."""
    return subprocess.Popen([sys.executable, str(CHILD), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)


def ask(proc: subprocess.Popen[str], line: str) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    answer = proc.stdout.readline().strip()
    assert answer, f"the child process ended (exit {proc.poll()}) after {line!r}"
    return answer


def stop(proc: subprocess.Popen[str]) -> None:
    """End the child (its stdin closed ends its command loop) and wait for it."""
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()
    try:
        proc.wait(10)
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
