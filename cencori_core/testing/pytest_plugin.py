"""pytest fixtures for code that uses cencori-core (loaded through the ``pytest11`` entry point).

Nothing happens at import: the fixtures build their objects only when a test asks for them.

- ``cencori_fake_provider``: a :class:`~cencori_core.testing.FakeProvider` named ``fake`` that
  answers every model name (an empty prefix), echoing unless scripted.
- ``cencori_router``: a ``Router`` whose only provider (besides ``echo``) is that fake; no
  installed plugin is loaded. Closed after the test.
- ``cencori_register``: ``cencori_register(plugin)`` registers a plugin object (policies, hooks,
  providers) on ``cencori_router``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def cencori_fake_provider() -> Any:
    from cencori_core.testing import FakeProvider

    return FakeProvider(name="fake", prefixes=("",))


@pytest.fixture
def cencori_router(cencori_fake_provider: Any) -> Iterator[Any]:
    from cencori_core import Router

    router = Router(providers={"fake": cencori_fake_provider}, load_entrypoints=False)
    try:
        yield router
    finally:
        router.close()


@pytest.fixture
def cencori_register(cencori_router: Any) -> Callable[..., str]:
    def register(plugin: object, name: str | None = None) -> str:
        return cencori_router.register(plugin, name)  # type: ignore[no-any-return]

    return register
