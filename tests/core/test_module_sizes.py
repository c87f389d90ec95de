"""Module sizes (issue 14): no module of the package or of the in-tree plugins grows past
:data:`LIMIT` lines, so each stays a room a newcomer can read; split along a real seam instead."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 650
"""Lines a module may have (the house style says "under ~600"; this leaves room to breathe)."""


def _sizes(*folders: str) -> dict[str, int]:
    out = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            with path.open(encoding="utf-8") as f:
                out[path.relative_to(ROOT).as_posix()] = sum(1 for _ in f)
    return out


def test_the_package_and_plugins_are_measured() -> None:
    sizes = _sizes("cencori_core", "plugins")
    # the walk found the modules it is meant to guard (a wrong root would pass vacuously)
    assert "cencori_core/router.py" in sizes
    assert "plugins/cencori_openai/_convert.py" in sizes
    assert len(sizes) > 100


def test_no_module_is_over_the_limit() -> None:
    over = {name: n for name, n in _sizes("cencori_core", "plugins").items() if n > LIMIT}
    assert not over, (
        f"modules over {LIMIT} lines: "
        + ", ".join(f"{name} ({n} lines)" for name, n in sorted(over.items()))
        + "; split them along a real seam (issue 14)")

