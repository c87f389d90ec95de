"""Build the API reference (HTML, from the docstrings) with pdoc into ``build/reference``.

Any warning pdoc raises (a broken cross-reference, an unparsable annotation, a module that
fails to import) fails the build. Run by ``scripts/test.sh`` after mypy; also a test
(``tests/docs/test_docs_reference.py``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

# The public modules: the package and the modules whose names users import from.
MODULES = [
    "cencori_core", "cencori_core.router", "cencori_core.config", "cencori_core.types",
    "cencori_core.errors", "cencori_core.catalog", "cencori_core.context",
    "cencori_core.provider", "cencori_core.hookspecs", "cencori_core.policies",
    "cencori_core.resilience", "cencori_core.testing", "cencori_core.testing.conformance",
    "cencori_core.accounting", "cencori_core.telemetry",
]


def build(out: Path) -> list[str]:
    """Render :data:`MODULES` into ``out``; returns the warnings raised (none is success)."""
    import pdoc

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*MODULES, output_directory=out)
    return [f"{w.category.__name__}: {w.message}" for w in caught]


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/reference")
    problems = build(out)
    for p in problems:
        print(p, file=sys.stderr)
    if problems or not (out / "cencori_core" / "router.html").is_file():
        print(f"reference docs: {len(problems)} warning(s); build failed", file=sys.stderr)
        return 1
    print(f"reference docs: {out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
