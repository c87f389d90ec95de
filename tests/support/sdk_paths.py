"""The ``sdk_path`` fixture: run a plugin's wire tests on both of its SDK paths.

A plugin's ``_fast`` module drives the SDK past its public API where that is faster, and falls
back to the public path when an SDK release lacks the internals; ``CENCORI_SDK_INTERNALS=0``
selects the public path for providers built afterwards. Import the fixture into a test module
(``from sdk_paths import sdk_path  # noqa: F401``) and every test there runs on both paths.
"""

from __future__ import annotations

import pytest

__all__ = ["sdk_path"]


@pytest.fixture(params=["fast", "public"], autouse=True)
def sdk_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "public":
        monkeypatch.setenv("CENCORI_SDK_INTERNALS", "0")
    return str(request.param)
