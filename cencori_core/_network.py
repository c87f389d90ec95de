"""The switch that forbids real provider traffic (cheap to check on every attempt)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

NO_NETWORK: contextvars.ContextVar[bool] = contextvars.ContextVar("cencori_no_network",
                                                                  default=False)


def network_allowed() -> bool:
    return not NO_NETWORK.get()


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Within the block, providers that would use the network refuse to send
    (``ProviderConnectionError``, not retried); fakes and ``echo`` still answer."""
    token = NO_NETWORK.set(True)
    try:
        yield
    finally:
        NO_NETWORK.reset(token)
