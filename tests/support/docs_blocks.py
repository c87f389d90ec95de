"""The documentation runner's parts: the ```python blocks of README.md and docs/*.md, and the
environments a block may ask for.

A block runs as written. When it needs a provider, an HTML comment on the line before it (blank
lines allowed in between) names loopback servers speaking that provider's real wire format::

    <!-- docs: env=openai_wire,anthropic_wire -->
    ```python
    router = Router()              # OPENAI_API_KEY / OPENAI_BASE_URL point at the loopback server
    ```

Each server named starts once per file and stays up for the rest of that file; its environment
variables (a key and the base URL) are set, so ``Router()`` finds it exactly as it would find
the real provider. Known environments: :data:`ENVS`.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^```python[ \t]*$")
_DIRECTIVE = re.compile(r"^<!--\s*docs:\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    """One ```python block: its code, the line of its first code line, and its directives."""

    code: str
    line: int
    envs: list[str] = field(default_factory=list)


def doc_files() -> list[Path]:
    """README.md and every docs/*.md (docs written by anyone are picked up automatically)."""
    files = [ROOT / "README.md"]
    files += sorted((ROOT / "docs").glob("**/*.md")) if (ROOT / "docs").is_dir() else []
    return [f for f in files if f.is_file()]


def blocks(path: Path) -> list[Block]:
    """The ```python blocks of ``path`` in order, with the directives written before each."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    pending: list[str] = []
    i = 0
    while i < len(lines):
        text = lines[i]
        directive = _DIRECTIVE.match(text.strip())
        if directive:
            for part in directive.group(1).split():
                key, _, value = part.partition("=")
                if key != "env":
                    raise ValueError(f"{path}:{i + 1}: unknown docs directive {part!r} "
                                     "(known: env=NAME[,NAME])")
                for name in filter(None, value.split(",")):
                    if name not in ENVS:
                        raise ValueError(f"{path}:{i + 1}: unknown docs env {name!r}; known: "
                                         f"{', '.join(sorted(ENVS))}")
                    pending.append(name)
        elif _FENCE.match(text.strip()):
            start = i + 1
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                i += 1
            out.append(Block(code="\n".join(lines[start:i]) + "\n", line=start + 1,
                             envs=pending))
            pending = []
        i += 1
    return out


# ---------------------------------------------------------------------------- environments

KEY = "sk-docs-0123456789abcdef"


@contextlib.contextmanager
def _wire(module: str, cls: str, env: Callable[[Any], dict[str, str]]) -> Iterator[dict[str, str]]:
    """Start ``module.cls()`` (a loopback wire server of tests/support) and yield ``env(it)``."""
    server = getattr(importlib.import_module(module), cls)()
    server.start()
    try:
        yield env(server)
    finally:
        server.stop()


def _google_key() -> str:
    from google_wire import API_KEY  # the key the Gemini wire server accepts

    return str(API_KEY)


@contextlib.contextmanager
def _redis() -> Iterator[dict[str, str]]:
    from conftest import RedisServer

    server = RedisServer()
    try:
        yield {"REDIS_URL": server.url()}
    finally:
        server.stop()


ENVS: dict[str, Callable[[], contextlib.AbstractContextManager[dict[str, str]]]] = {
    "openai_wire": lambda: _wire("openai_wire", "OpenAIWire", lambda w: {
        "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": w.base_url}),
    "anthropic_wire": lambda: _wire("anthropic_wire", "AnthropicServer", lambda w: {
        "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": w.base_url}),
    "google_wire": lambda: _wire("google_wire", "GeminiWire", lambda w: {
        "GOOGLE_API_KEY": _google_key(), "GOOGLE_GEMINI_BASE_URL": w.base_url}),
    "mistral_wire": lambda: _wire("mistral_wire", "MistralWire", lambda w: {
        "MISTRAL_API_KEY": KEY, "MISTRAL_BASE_URL": w.base_url}),
    "cohere_wire": lambda: _wire("cohere_wire", "CohereServer", lambda w: {
        "CO_API_KEY": KEY, "CO_API_URL": w.base_url}),
    "redis": _redis,
}
"""Environment name → a context manager that starts it and yields the variables to set."""
