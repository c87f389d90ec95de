"""Every ```python block of README.md and docs/*.md runs, and type-checks with mypy --strict, so
the documentation cannot rot.

Per file, the blocks run in order in one namespace, in a temporary working directory with a
temporary ``CENCORI_HOME``, without any provider key in the environment and with every proxy
variable pointing at a closed port (only 127.0.0.1 is reachable): a block that would reach a
real provider fails. A block that needs a provider names loopback wire servers in a comment
before it (``<!-- docs: env=openai_wire -->``, see ``tests/support/docs_blocks.py``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from docs_blocks import ENVS, ROOT, blocks, doc_files

from cencori_core import Router

FILES = doc_files()


def _provider_env_vars() -> set[str]:
    names = {"CENCORI_CONFIG", "CENCORI_PLUGINS", "CENCORI_LOG", "OPENAI_ORG_ID",
             "OPENAI_PROJECT_ID", "GOOGLE_GENAI_USE_VERTEXAI", "REDIS_URL"}
    for spec in Router()._registry.specs.values():
        names.update(spec.env_keys)
        if spec.env_base_url:
            names.add(spec.env_base_url)
    return names


def test_the_docs_are_found() -> None:
    names = [f.relative_to(ROOT).as_posix() for f in FILES]
    assert names[0] == "README.md"
    assert all(n == "README.md" or n.startswith("docs/") for n in names)
    assert sum(len(blocks(f)) for f in FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[f.relative_to(ROOT).as_posix() for f in FILES])
def test_doc_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _provider_env_vars():
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    home = tmp_path / "home"
    monkeypatch.setenv("CENCORI_HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # the example plugin's loopback server, which the README's conformance example imports
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "conformance"))
    # a real module, as a reader's script would be: dataclasses and pydantic look their
    # class's module up in sys.modules
    module = types.ModuleType("__docs__")
    monkeypatch.setitem(sys.modules, "__docs__", module)
    namespace: dict[str, object] = module.__dict__
    started: set[str] = set()
    with contextlib.ExitStack() as stack:
        for block in blocks(path):
            for env in block.envs:
                if env not in started:
                    started.add(env)
                    for key, value in stack.enter_context(ENVS[env]()).items():
                        monkeypatch.setenv(key, value)
            where = f"{path.relative_to(ROOT)}:{block.line}"
            code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
            try:
                exec(code, namespace)
            except BaseException as exc:
                raise AssertionError(f"the block at {where} failed: {type(exc).__name__}: "
                                     f"{exc}") from exc
        for value in list(namespace.values()):
            close = getattr(value, "close", None)
            if isinstance(value, Router) and callable(close):
                close()


def test_doc_blocks_typecheck(tmp_path: Path) -> None:
    """One module per file (its blocks in order), checked together with mypy --strict."""
    pkg = tmp_path / "docs_blocks_pkg"
    pkg.mkdir()
    modules = {}
    for path in FILES:
        found = blocks(path)
        if not found:
            continue
        name = "doc_" + "".join(c if c.isalnum() else "_"
                                for c in path.relative_to(ROOT).as_posix().lower())
        lines: list[str] = []
        for block in found:
            lines += ["\n"] * (block.line - 1 - len(lines))  # keep the file's line numbers
            lines += block.code.splitlines(keepends=True)
        (pkg / f"{name}.py").write_text("".join(lines))
        modules[name] = path
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
         "--cache-dir", str(tmp_path / ".mypy_cache"), "--no-error-summary",
         "--disable-error-code", "no-redef", str(pkg)],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "MYPYPATH": os.pathsep.join(
            str(ROOT / "tests" / d) for d in ("conformance", "support"))})
    report = proc.stdout
    for name, path in modules.items():
        report = report.replace(str(pkg / f"{name}.py"), str(path.relative_to(ROOT)))
    assert proc.returncode == 0, report + proc.stderr
