"""Importing cencori_core (and building a Router) imports no provider SDK."""

from __future__ import annotations

import subprocess
import sys

SDKS = ["openai", "anthropic", "google.genai", "mistralai", "cohere", "opentelemetry.sdk",
        "redis", "genai_prices", "tenacity", "aiohttp", "httpx_aiohttp"]


def test_import_and_router_import_no_sdk():
    code = (
        "import sys, cencori_core\n"
        f"bad = set({SDKS!r})\n"
        "assert not bad & set(sys.modules), bad & set(sys.modules)\n"
        "r = cencori_core.Router()\n"
        "assert not bad & set(sys.modules), bad & set(sys.modules)\n"
        "r.chat(model='echo', messages=[{'role': 'user', 'content': 'x'}])\n"
        "print(sorted(bad & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # even a call on the offline provider loads no SDK
    assert out.stdout.strip() == "[]"


def test_router_does_not_import_asyncio():
    # asyncio costs ~30 ms to import: Router() with every installed plugin discovered must not
    # pay it (the provider toolkit's client holder once did, doubling Router()'s cost)
    code = (
        "import sys, cencori_core\n"
        "r = cencori_core.Router()\n"
        "r.chat(model='echo/echo', messages=[{'role': 'user', 'content': 'x'}])\n"
        "print('asyncio' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
