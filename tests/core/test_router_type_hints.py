"""The façade's public attributes resolve for typing tools (pdoc, IDEs, DI frameworks), without
importing the accounting modules before a router is built."""

from __future__ import annotations

import subprocess
import sys
import typing

from cencori_core import Router
from cencori_core.accounting.pricing import Pricing
from cencori_core.accounting.projects import Projects
from cencori_core.accounting.service import UsageView
from cencori_core.catalog import Catalog


def test_get_type_hints_resolves_every_class_annotation() -> None:
    hints = typing.get_type_hints(Router)
    assert hints["catalog"] is Catalog and "cache" in hints and "retry" in hints
    router = Router(load_entrypoints=False)
    assert isinstance(router.pricing, Pricing) and isinstance(router.projects, Projects)
    assert isinstance(router.usage, UsageView)


def test_type_hints_need_no_accounting_import() -> None:
    code = ("import sys, typing; from cencori_core import Router; typing.get_type_hints(Router); "
            "print(sorted(m for m in sys.modules if m.startswith('cencori_core.accounting.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "service" not in out.stdout and "limits" not in out.stdout, out.stdout
