"""The reference docs: every Router keyword documented in help(Router), the async twins
documented, and the pdoc build (scripts/build_reference.py) clean of warnings."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

from cencori_core import Router

ROOT = Path(__file__).resolve().parents[2]


def test_every_router_keyword_is_documented() -> None:
    doc = inspect.getdoc(Router.__init__) or ""
    params = [p for p in inspect.signature(Router.__init__).parameters if p != "self"]
    missing = [p for p in params if f"``{p}``" not in doc]
    assert not missing, f"Router.__init__ does not document {missing}"


def test_async_twins_have_docstrings() -> None:
    for name, fn in inspect.getmembers(Router, inspect.isfunction):
        if name.startswith("a") and hasattr(Router, name[1:]) and not name.startswith("_"):
            doc = inspect.getdoc(fn) or ""
            assert name[1:] in doc.lower(), f"Router.{name} should name its sync twin {name[1:]}"


def test_reference_builds_without_warnings(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_reference",
                                                  ROOT / "scripts" / "build_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    problems = module.build(tmp_path)
    assert problems == []
    page = (tmp_path / "cencori_core" / "router.html").read_text()
    for keyword in ("fallbacks", "context_window_fallbacks", "rate_limit_wait", "plugins"):
        assert keyword in page
    assert (tmp_path / "cencori_core" / "testing.html").is_file()
