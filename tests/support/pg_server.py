"""A real PostgreSQL server for the tests: a private cluster in a temporary directory, on a free
loopback port, trust authentication, no fsync (test data). scripts/test.sh installs Debian's
``postgresql`` package; the server binaries are found under /usr/lib/postgresql/<version>/bin.

As root, PostgreSQL refuses to run: the cluster then belongs to the ``postgres`` user that the
Debian package creates, and the server is started through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid

from conftest import free_port

__all__ = ["PostgresServer"]


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise RuntimeError("PostgreSQL is not installed: the PostgreSQL ledger tests need a real "
                       "server (apt-get install postgresql, or run scripts/test.sh, which "
                       "installs it)")


class PostgresServer:
    """One postgres process; ``database()`` creates a fresh database and returns its URL;
    ``stop()`` / ``start()`` make an outage in the middle of a test."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="cencori-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def _cmd(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self.root else argv

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(self._cmd(argv), capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')}")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self._cmd([os.path.join(self.bindir, "postgres"), "-D", self.data, "-p",
                       str(self.port), "-h", "127.0.0.1", "-k", self.dir, "-F",
                       "-c", "max_connections=200", "-c", "full_page_writes=off"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        import psycopg

        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"postgres exited at start: {err}")
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=1):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("postgres did not accept connections within 30 s") from None
                time.sleep(0.05)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            # the postgres process runs under runuser: ask it to stop quickly ("fast" shutdown)
            subprocess.run(self._cmd([os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                                      "-m", "fast", "-w", "stop"]), capture_output=True,
                           check=False)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
