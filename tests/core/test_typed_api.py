"""The public operations are typed for the user: a misspelled keyword is caught by the type
checker (``**unknown: Never``) as well as at run time, messages take our Message as well as
dicts, and a finished stream's response is not Optional (``final_response()``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from parity import MODES, call

from cencori_core import InvalidRequestError, Router

GOOD = """
from typing import Any
from cencori_core import Message, Router

router = Router(load_entrypoints=False)
messages: list[Message | dict[str, Any]] = [{"role": "user", "content": "Hello!"}]
r = router.chat(model="echo/echo", messages=messages, temperature=0.7, max_tokens=200)
messages.append(r.message)
with router.chat_stream(model="echo/echo", messages=messages) as stream:
    for chunk in stream:
        print(chunk.delta, end="")
print(stream.final_response().usage.total_tokens)
vectors: list[list[float]] = router.embed("echo/echo", ["a"], timeout=5.0, project=None).vectors
"""

BAD = """
from cencori_core import Router

router = Router(load_entrypoints=False)
router.chat(model="echo/echo", messages=[], temprature=0.5)
router.embed("echo/echo", "x", dimensons=3)
router.moderate("echo/echo", "x", metdata={})
"""


def mypy(tmp_path, code: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "sample.py"
    path.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / ".mypy_cache"), str(path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "MYPYPATH": ""})


def test_the_readme_usage_type_checks_strictly(tmp_path):
    out = mypy(tmp_path, GOOD)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_misspelled_keyword_is_a_type_error(tmp_path):
    out = mypy(tmp_path, BAD)
    assert out.returncode == 1
    for typo in ("temprature", "dimensons", "metdata"):
        assert f'"{typo}"' in out.stdout, out.stdout


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("op", "args", "typo"), [
    ("chat", (), {"model": "echo/echo", "messages": [], "temprature": 0.5}),
    ("embed", ("echo/echo", "x"), {"dimensons": 3}),
    ("moderate", ("echo/echo", "x"), {"metdata": {}}),
])
def test_a_misspelled_keyword_is_refused_at_run_time(mode, op, args, typo):
    with pytest.raises(InvalidRequestError) as info:
        call(Router(load_entrypoints=False), mode, op, *args, **typo)
    assert [k for k in typo if k not in ("model", "messages")][0] in str(info.value)


def test_final_response_before_the_end_is_a_clear_error():
    router = Router(load_entrypoints=False)
    stream = router.chat_stream(model="echo/echo", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(InvalidRequestError, match="has not ended"):
        stream.final_response()
    assert stream.text() == "echo: hi"
    assert stream.final_response().content == "echo: hi"
