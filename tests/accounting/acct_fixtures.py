"""Fixtures shared by the accounting tests (imported by name: a second conftest.py module would
clash with tests/conftest.py, which these tests import as ``conftest``)."""

from __future__ import annotations

import pytest
import redis as redis_py


def clean_db(server, db: int) -> str:
    """The URL of database ``db`` of ``server``, emptied."""
    url = server.url(db)
    client = redis_py.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(name="redis_url")
def redis_url_fixture(redis_server):
    """Database 3 of the session's redis-server, empty (the older tests use 0 to 2)."""
    return clean_db(redis_server, 3)
