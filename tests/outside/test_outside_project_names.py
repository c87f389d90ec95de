"""From the outside, as an attacker naming projects: a project name reaches log lines, the CLI's
terminal output, Redis keys and the SQLite key store, so control characters (a NUL, an ANSI
escape, a C1 code) and lone surrogates are refused with the rule, like spaces already were."""

from __future__ import annotations

import pytest

from cencori_core import ConfigurationError, Router


@pytest.mark.parametrize("name", ["a\x00", "acme\x1b[31m", "a\x85b", "\ud800", "a\x7f"],
                         ids=["nul", "ansi-escape", "c1-next-line", "lone-surrogate", "del"])
def test_a_project_name_with_control_characters_is_refused(name, tmp_path):
    for router in (Router(load_entrypoints=False),
                   Router(load_entrypoints=False, ledger_path=str(tmp_path / "k.db"))):
        with pytest.raises(ConfigurationError, match="control characters"):
            router.projects.create(name)
        assert router.projects.list() == []
        router.close()


def test_names_in_any_script_are_still_taken(tmp_path):
    router = Router(load_entrypoints=False, ledger_path=str(tmp_path / "k.db"))
    key = router.projects.create("ünïcødé-プロジェクト")
    r = router.chat(model="echo/echo", messages=[{"role": "user", "content": "hi"}],
                    api_key=key)
    assert r.content == "echo: hi"
    router.close()
