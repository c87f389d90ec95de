"""The README's "Writing a provider plugin" section runs: its provider answers sync, async and
streamed through a Router, and its conformance-kit example defines a test class."""

from __future__ import annotations

import asyncio
import re
import sys
import types
from pathlib import Path
from typing import Any

from cencori_core import Router
from cencori_core.testing.conformance import ProviderConformance

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("### Writing a provider plugin"):]
    section = section[:section.index("\n### ", 5)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_provider_stub_runs_sync_async_and_streamed() -> None:
    code = _blocks()[0]
    plugin = types.ModuleType("readme_plugin")
    exec(compile(code, "README.md", "exec"), plugin.__dict__)  # noqa: S102 - our own README
    router = Router(plugins=[plugin], load_entrypoints=False,
                    providers={"myprovider": {"api_key": "k"}})
    msgs = [{"role": "user", "content": "hello plugin world"}]
    assert router.chat(model="my-large", messages=msgs).content == "HELLO PLUGIN WORLD"
    with router.chat_stream(model="my-large", messages=msgs) as s:
        assert "".join(c.delta for c in s).strip() == "HELLO PLUGIN WORLD"

    async def run() -> tuple[Any, str]:
        r = await router.achat(model="my-large", messages=msgs)
        async with router.achat_stream(model="my-large", messages=msgs) as s:
            text = "".join([c.delta async for c in s])
        return r, text

    r, text = asyncio.run(run())
    assert r.content == "HELLO PLUGIN WORLD" and text.strip() == "HELLO PLUGIN WORLD"
    assert r.provider == "myprovider"


def test_readme_conformance_example_defines_a_kit_subclass(monkeypatch: Any) -> None:
    code = _blocks()[1]
    fake_wire = types.ModuleType("my_wire")
    fake_wire.MyWire = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "my_wire", fake_wire)
    ns: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - our own README
    cls = ns["TestMyProvider"]
    assert issubclass(cls, ProviderConformance) and cls.model == "my-large"
