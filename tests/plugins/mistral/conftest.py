"""Every test here runs on both stream paths of the mistral plugin: the fast one (events read as
JSON, ``cencori_mistral._fast``) and the SDK's public one (its ``EventStream`` and models), as
if an SDK release had removed the names the fast path uses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, params=["fast", "public"])
def stream_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from cencori_mistral import _fast

    if request.param == "public":
        monkeypatch.setattr(_fast, "RAW_EVENTS", False)
    else:
        assert _fast.RAW_EVENTS, "the installed mistralai lacks the fast path's names"
    yield str(request.param)
