"""Enforcement from the outside, through the OpenAI drop-in: a client built for a project key
(``router.openai_client(api_key="csk_...")``) must keep every call in that project, whatever
per-call headers a caller (or a framework's ``default_headers``) adds. Blanking the
``Authorization`` header ran the call as the router's unscoped default: no project budget, no
provider allow-list, recorded under no project."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest

from cencori_core import Router

MSGS: Any = [{"role": "user", "content": "hi"}]


def _router_and_key() -> tuple[Router, str]:
    router = Router(prices={"echo/echo": {"input": 1_000_000, "output": 1_000_000}})
    # $1 a token: one call reserves more than the project's $1 budget allows
    return router, router.projects.create("acme", providers=["echo"], budget=Decimal("1"))


def test_the_key_s_budget_holds_on_the_drop_in():
    router, key = _router_and_key()
    client = router.openai_client(api_key=key)
    with pytest.raises(openai.RateLimitError, match="budget of project acme"):
        client.chat.completions.create(model="echo/echo", messages=MSGS, max_tokens=2)
    router.close()


@pytest.mark.parametrize("auth", ["", openai.Omit()], ids=["empty", "omit"])
def test_a_blanked_authorization_header_does_not_leave_the_project(auth):
    # was: a per-call extra_headers {'Authorization': ''} (or openai.Omit()) dropped the
    # client's project key, and the call ran unscoped instead of in the key's project
    router, key = _router_and_key()
    client = router.openai_client(api_key=key)
    try:
        with pytest.raises(openai.APIStatusError):  # 429 (acme's budget) or 401, never a 200
            client.chat.completions.create(model="echo/echo", messages=MSGS, max_tokens=2,
                                           extra_headers={"Authorization": auth})
    finally:
        router.close()


@pytest.mark.parametrize("auth", ["", openai.Omit()], ids=["empty", "omit"])
def test_the_async_client_keeps_its_key_s_project_too(auth):
    import asyncio

    router, key = _router_and_key()
    client = router.async_openai_client(api_key=key)

    async def go() -> None:
        with pytest.raises(openai.APIStatusError):
            await client.chat.completions.create(model="echo/echo", messages=MSGS, max_tokens=2,
                                                 extra_headers={"Authorization": auth})
    try:
        asyncio.run(go())
    finally:
        router.close()


def test_a_client_built_for_a_project_name_keeps_it_when_the_header_is_blanked():
    router = Router(load_entrypoints=False)
    router.projects.create("acme", providers=["echo"])
    client = router.openai_client(project="acme")
    try:
        with pytest.raises(openai.APIStatusError):  # acme has not enabled openai
            client.chat.completions.create(model="gpt-4o", messages=MSGS,
                                           extra_headers={"OpenAI-Project": ""})
        r = client.chat.completions.create(model="echo/echo", messages=MSGS,
                                           extra_headers={"OpenAI-Project": ""})
        assert r.choices[0].message.content == "echo: hi"
        rows = router.usage.summary(by="project")
        assert [(row.key, row.calls) for row in rows] == [("acme", 2)]  # the refusal included
    finally:
        router.close()
