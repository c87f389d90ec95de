"""From the outside: our own public ``Secret`` (cencori_core.config) wraps a project key for a
call as it does for a provider key; before, ``router.chat(api_key=Secret(key))`` was refused as
"must be a string"."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from cencori_core import AuthenticationError, Router
from cencori_core.config import Secret
from cencori_core.testing import UsageRecorder

MSGS = [{"role": "user", "content": "hi"}]


def test_a_secret_project_key_scopes_the_call_like_the_plain_key() -> None:
    rec = UsageRecorder()
    router = Router(load_entrypoints=False, plugins=[rec])
    key = router.projects.create("acme", budget=Decimal("5"))
    try:
        router.chat(model="echo/echo", messages=MSGS, api_key=Secret(key))
        asyncio.run(router.achat(model="echo/echo", messages=MSGS, api_key=Secret(key)))
        assert [r.project for r in rec.records] == ["acme", "acme"]
        with pytest.raises(AuthenticationError) as info:
            router.chat(model="echo/echo", messages=MSGS, api_key=Secret(key + "x"))
        assert key not in str(info.value) and key not in repr(info.value)
    finally:
        router.close()
