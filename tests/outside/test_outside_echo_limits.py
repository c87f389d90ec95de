"""From the outside, as a new user trying every operation on the offline ``echo`` provider: the
router accepts ``dimensions`` and image ``n`` up to 2**31 - 1 (the providers set the real
limits), so echo must refuse what a real provider refuses instead of building gigabytes.
Before: ``router.embed("echo/echo", "a", dimensions=10**9)`` ran out of memory (and its hash
loop was quadratic in ``dimensions``)."""

from __future__ import annotations

import asyncio

import pytest

from cencori_core import ProviderBadRequestError, Router
from cencori_core._echo import MAX_DIMENSIONS, MAX_IMAGES
from cencori_core.testing import UsageRecorder


@pytest.fixture
def router():
    rec = UsageRecorder()
    r = Router(plugins=[rec])
    r.recorder = rec  # type: ignore[attr-defined]
    yield r
    r.close()


def test_an_embedding_larger_than_any_model_makes_is_a_bad_request(router):
    with pytest.raises(ProviderBadRequestError, match="dimensions"):
        router.embed("echo/echo", "a", dimensions=2**31 - 1)
    with pytest.raises(ProviderBadRequestError):
        asyncio.run(router.aembed("echo/echo", ["a", "b"], dimensions=MAX_DIMENSIONS + 1))
    assert router.recorder.statuses == ["error", "error"]


def test_the_largest_embedding_is_served_whole(router):
    vec = router.embed("echo/echo", "a", dimensions=MAX_DIMENSIONS).vectors[0]
    assert len(vec) == MAX_DIMENSIONS
    assert abs(sum(x * x for x in vec) - 1.0) < 1e-9
    # the same text and size give the same vector (vectors are deterministic)
    assert router.embed("echo/echo", ["a"], dimensions=MAX_DIMENSIONS).vectors[0] == vec
    assert router.embed("echo/echo", "a", dimensions=3).vectors[0] != vec[:3]


def test_more_images_than_a_provider_makes_is_a_bad_request(router):
    with pytest.raises(ProviderBadRequestError, match="n "):
        router.generate_image("echo/echo", "a fox", n=2**31 - 1)
    assert len(router.generate_image("echo/echo", "a fox", n=MAX_IMAGES).images) == MAX_IMAGES
