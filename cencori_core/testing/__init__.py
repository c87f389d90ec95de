"""Fakes for tests (ours and our users'): ``FakeProvider``, ``FunctionProvider``, ``no_network()``,
``UsageRecorder`` (a hook plugin keeping every usage record).

::

    fake = FakeProvider(models=["gpt-4o"])
    fake.script("Hi there", ProviderRateLimitError("slow down", retry_after=0.01), "Second")
    router = Router(providers={"fake": fake}, load_entrypoints=False)

The pytest plugin (``cencori_core.testing.pytest_plugin``, loaded through ``pytest11``) offers the
``cencori_router``, ``cencori_fake_provider`` and ``cencori_register`` fixtures. Names load on
first use, so the pytest plugin's import (in every project where we are installed) stays free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._network import NO_NETWORK, network_allowed, no_network  # noqa: F401
    from ._fakes import (  # noqa: F401
        FakeProvider,
        FunctionProvider,
        UsageRecorder,
        http_error,
        reply,
        tool_call,
    )

__all__ = ["FakeProvider", "FunctionProvider", "no_network", "network_allowed", "NO_NETWORK",
           "reply", "tool_call", "http_error", "UsageRecorder"]

_NETWORK = {"no_network", "network_allowed", "NO_NETWORK"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'cencori_core.testing' has no attribute {name!r}")
    from importlib import import_module

    mod = import_module("cencori_core._network" if name in _NETWORK
                        else "cencori_core.testing._fakes")
    value = getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
