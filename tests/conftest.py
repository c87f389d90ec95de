"""A real Redis server for the Redis store tests (session scope).

``redis-server`` is started on 127.0.0.1 at a free port with its own temporary directory and no
persistence, and stopped after the session. A missing ``redis-server`` is an error, never a
skip: ``scripts/test.sh`` installs Debian's package when it is missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process; ``url(db)`` builds client URLs. ``stop(keep=True)`` then
    ``start()`` restarts it on the same port (an outage in the middle of a test)."""

    def __init__(self, persist: bool = False) -> None:
        self.persist = persist  # an append-only file, so a restart keeps the data
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed: the Redis store tests need a "
                               "real server (apt-get install redis-server, or run "
                               "scripts/test.sh, which installs it)")
        self.dir = tempfile.TemporaryDirectory(prefix="cencori-redis-")
        self.port = free_port()
        self.start()

    def start(self) -> None:
        binary = self.binary
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.dir.name,
             "--save", "", "--appendonly", "yes" if self.persist else "no",
             "--appendfsync", "always", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited at start: "
                                   + self.proc.stderr.read().decode(errors="replace"))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING within 10 s")
            time.sleep(0.02)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self, keep: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        if not keep:
            self.dir.cleanup()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A real PostgreSQL server (tests/support/pg_server.py), started on first use."""
    from pg_server import PostgresServer

    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()
