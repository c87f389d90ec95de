"""The conformance kit: what every provider plugin must do, as a test class to subclass.

A plugin author points it at a wire server of their own (a loopback HTTP server speaking their
provider's format; see :class:`ConformanceWire` for what it must be able to script) and gets
tests of chat, streaming (a whole stream, a cut one and one that ends without the provider's
closing event), tool calls, usage, errors by status (401, 404, 429 with Retry-After, 500),
timeouts, dropped connections, key scrubbing (a key echoed in the error body and in the request
id header), successive event loops, sync/async parity and no SDK import at ``Router()`` time.
Every test runs on the sync and the async API (async calls each in a new event loop; the async
ones twice: on the default async transport and with the fast transport switched off)::

    # tests/test_conformance.py of your plugin
    import pytest
    from cencori_core.testing.conformance import ProviderConformance
    from my_wire import MyWire               # your loopback server

    class TestMyProvider(ProviderConformance):
        plugin = "myprovider"                 # the entry-point name (Router(plugins=[...]))
        provider = "myprovider"               # the registered provider name
        model = "my-large"
        sdk_modules = ("my_sdk",)             # must not be imported by Router()

        @pytest.fixture
        def wire(self):
            with MyWire() as w:
                yield w

Override :meth:`ProviderConformance.provider_config` for more configuration.

Rerank (optional): a plugin that serves ``router.rerank`` subclasses :class:`RerankConformance`
instead, sets ``rerank_model``, and its wire also implements :class:`RerankWire`'s
``reply_rerank``; the rerank tests then run beside the others (results best first with their
documents, ``top_n``, errors by status, a malformed answer, the key scrubbed, bad arguments
refused before anything is sent). The kit needs
pytest (it is a test module) and nothing else; it is not imported by ``cencori_core``.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
import traceback
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar, Protocol, TypeVar

import pytest

from .. import RetryPolicy, Router
from .._transport import FAST_ENV
from ..errors import (
    InvalidRequestError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from ._fakes import UsageRecorder

__all__ = ["ProviderConformance", "ConformanceWire", "RerankConformance", "RerankWire"]

T = TypeVar("T")


class ConformanceWire(Protocol):
    """What the kit asks of a plugin's wire server. Each scripting call applies to the next
    request (queued in order); with nothing queued, the server may answer anything valid."""

    base_url: str
    """The base URL to configure the provider with."""

    @property
    def hits(self) -> int:
        """How many requests reached the server."""

    def reply(self, text: str, *, usage: tuple[int, int] = (3, 2)) -> None:
        """Answer with ``text`` (streamed when the request asks for a stream, in several
        events), reporting ``usage`` as (input tokens, output tokens)."""

    def reply_tool_call(self, name: str, arguments: str) -> None:
        """Answer with one call of tool ``name`` with JSON ``arguments`` (streamed or not)."""

    def fail(self, status: int, *, message: str = "error", retry_after: float | None = None,
             request_id: str | None = None) -> None:
        """Answer with the provider's error body for ``status``, ``message`` in it, the
        ``Retry-After`` header when given, and ``request_id`` in the provider's request-id
        header when given."""

    def cut_stream(self, text: str, *, after: int) -> None:
        """Stream ``text`` and drop the connection after ``after`` events."""

    def end_stream_early(self, text: str, *, after: int) -> None:
        """Stream ``text`` and end the response cleanly after ``after`` events, without the
        provider's closing event."""

    def slow(self, seconds: float) -> None:
        """Answer the next request only after ``seconds``."""

    def drop(self) -> None:
        """Close the next request's connection without a complete answer."""


class RerankWire(ConformanceWire, Protocol):
    """A wire that also answers rerank requests (for :class:`RerankConformance`)."""

    def reply_rerank(self, ranking: list[tuple[int, float]], *, tokens: int | None = None,
                     ) -> None:
        """Answer the next rerank request with these (document index, relevance score) pairs
        in this order (and ``tokens`` as the provider's usage, when it reports any)."""


# Each router the kit built -> the usage records it delivered (weak: routers are dropped freely).
_RECORDS: weakref.WeakKeyDictionary[Router, UsageRecorder] = weakref.WeakKeyDictionary()


def _shown(err: BaseException) -> str:
    """Everything a user may see of an error: str, repr, traceback (causes included), pickle."""
    out = [str(err), repr(err), "".join(traceback.format_exception(err))]
    try:
        out.append(pickle.dumps(err).decode("latin-1"))
    except Exception as exc:  # noqa: BLE001 - an unpicklable error shows nothing there
        out.append(type(exc).__name__)
    return "\n".join(out)


class ProviderConformance:
    """Subclass as ``Test<YourProvider>`` and provide the ``wire`` fixture (see the module)."""

    plugin: ClassVar[Any] = None
    """What ``Router(plugins=[...])`` takes: the entry-point name (or a hook plugin object)."""
    provider: ClassVar[str] = ""
    model: ClassVar[str] = ""
    sdk_modules: ClassVar[tuple[str, ...]] = ()
    """Top-level modules of the SDK that building a Router must not import."""
    import_check_model: ClassVar[str | None] = None
    """The model the import test resolves (default ``model``); for a provider that exists only
    through configuration, a model the plugin registers."""
    api_key: ClassVar[str] = "sk-conformance-5e0f1a2b3c4d5e6f7a8b"
    timeout: ClassVar[float] = 0.5
    """The provider timeout of the timeout test (the wire answers 4x later)."""

    # ------------------------------------------------------------------ fixtures

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        raise NotImplementedError("define a `wire` fixture yielding your wire server")

    @pytest.fixture(params=["sync", "async", "async-httpx"])
    def mode(self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
        """``async`` runs on the plugin's default async transport (aiohttp when the ``fast``
        extra is installed), ``async-httpx`` with the fast transport switched off."""
        if request.param == "async-httpx":
            monkeypatch.setenv(FAST_ENV, "0")
        return str(request.param)

    def provider_config(self, wire: ConformanceWire) -> dict[str, Any]:
        """The provider's configuration for the tests (override to add options)."""
        return {"api_key": self.api_key, "base_url": wire.base_url}

    def make_router(self, wire: ConformanceWire, **config: Any) -> Router:
        records = UsageRecorder()
        router = Router(providers={self.provider: {**self.provider_config(wire), **config}},
                        plugins=[self.plugin, records], retry=RetryPolicy(max_attempts=1),
                        # a plugin object is added to the installed plugins: load none of them
                        load_entrypoints=isinstance(self.plugin, str))
        _RECORDS[router] = records
        return router

    @pytest.fixture
    def router(self, wire: ConformanceWire) -> Iterator[Router]:
        router = self.make_router(wire)
        yield router
        router.close()

    # ------------------------------------------------------------------ helpers

    def call(self, mode: str, sync: Callable[[], T], asynchronous: Callable[[], Awaitable[T]],
             ) -> T:
        """Run the sync form, or the async form in a new event loop."""
        if mode == "sync":
            return sync()

        async def run() -> T:
            return await asynchronous()

        return asyncio.run(run())

    def chat(self, router: Router, mode: str, **kw: Any) -> Any:
        kw.setdefault("model", self.model)
        kw.setdefault("messages", [{"role": "user", "content": "Hi"}])
        return self.call(mode, lambda: router.chat(**kw), lambda: router.achat(**kw))

    def stream(self, router: Router, mode: str, **kw: Any) -> tuple[list[Any], Any]:
        kw.setdefault("model", self.model)
        kw.setdefault("messages", [{"role": "user", "content": "Hi"}])

        def sync() -> tuple[list[Any], Any]:
            with router.chat_stream(**kw) as s:
                chunks = list(s)
            return chunks, s.response

        async def asynchronous() -> tuple[list[Any], Any]:
            async with router.achat_stream(**kw) as s:
                chunks = [c async for c in s]
            return chunks, s.response

        return self.call(mode, sync, asynchronous)

    def failing(self, router: Router, mode: str, cls: type[BaseException],
                stream: bool = False) -> Any:
        with pytest.raises(cls) as info:
            if stream:
                self.stream(router, mode)
            else:
                self.chat(router, mode)
        return info.value

    # ------------------------------------------------------------------ chat and streams

    def test_chat(self, router: Router, wire: ConformanceWire, mode: str) -> None:
        wire.reply("Hello from the wire.", usage=(7, 5))
        r = self.chat(router, mode)
        assert r.content == "Hello from the wire."
        assert r.provider == self.provider and r.finish_reason == "stop"
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (7, 5)
        assert r.usage.source == "provider"

    def test_stream(self, router: Router, wire: ConformanceWire, mode: str) -> None:
        wire.reply("A streamed answer in pieces.", usage=(4, 6))
        chunks, resp = self.stream(router, mode)
        assert "".join(c.delta for c in chunks) == resp.content == "A streamed answer in pieces."
        assert sum(1 for c in chunks if c.delta) >= 2, "the text should arrive in pieces"
        assert resp.finish_reason == "stop"
        assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (4, 6)

    def test_cut_stream_is_interrupted_with_partial(self, router: Router,
                                                    wire: ConformanceWire, mode: str) -> None:
        text = "This answer never arrives whole, it is cut."
        wire.cut_stream(text, after=3)
        if mode == "async":
            # aiohttp (the fast transport) drops the events it received but the SDK had not
            # read yet when the connection drops: the cut may come before the first chunk,
            # a plain retryable connection error then (nothing was shown)
            with pytest.raises((StreamInterruptedError, ProviderConnectionError)) as info:
                self.stream(router, mode)
            if not isinstance(info.value, StreamInterruptedError):
                assert info.value.retryable is True
                return
            err = info.value
        else:
            err = self.failing(router, mode, StreamInterruptedError, stream=True)
        assert err.partial is not None and err.partial.content
        assert text.startswith(err.partial.content) and err.partial.content != text

    def test_stream_without_closing_event_is_interrupted(self, router: Router,
                                                         wire: ConformanceWire,
                                                         mode: str) -> None:
        wire.end_stream_early("This answer stops without its closing event.", after=3)
        err = self.failing(router, mode, StreamInterruptedError, stream=True)
        assert err.partial is not None and isinstance(err, ProviderError)

    def test_tool_call(self, router: Router, wire: ConformanceWire, mode: str) -> None:
        tools = [{"type": "function", "function": {
            "name": "get_weather", "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
        wire.reply_tool_call("get_weather", json.dumps({"city": "Paris"}))
        r = self.chat(router, mode, tools=tools)
        assert [(c.name, c.arguments) for c in r.tool_calls] == [
            ("get_weather", {"city": "Paris"})]
        assert r.finish_reason == "tool_calls"
        wire.reply_tool_call("get_weather", json.dumps({"city": "Oslo"}))
        chunks, resp = self.stream(router, mode, tools=tools)
        assert [(c.name, c.arguments) for c in resp.tool_calls] == [
            ("get_weather", {"city": "Oslo"})]

    def test_sync_and_async_parity(self, wire: ConformanceWire) -> None:
        out = []
        for mode in ("sync", "async"):
            router = self.make_router(wire)
            try:
                wire.reply("Same either way.", usage=(2, 3))
                r = self.chat(router, mode)
                wire.reply("Same either way.", usage=(2, 3))
                _, s = self.stream(router, mode)
            finally:
                router.close()
            out.append([(x.content, x.finish_reason, x.usage.prompt_tokens,
                         x.usage.completion_tokens, x.provider) for x in (r, s)])
        assert out[0] == out[1]

    # ------------------------------------------------------------------ errors

    @pytest.mark.parametrize("status,cls,retryable", [
        (401, ProviderAuthError, False), (404, ProviderBadRequestError, False),
        (500, ProviderServerError, True)])
    def test_error_status(self, router: Router, wire: ConformanceWire, mode: str, status: int,
                          cls: type[ProviderError], retryable: bool) -> None:
        wire.fail(status, message="It failed.")
        err = self.failing(router, mode, cls)
        assert err.status_code == status and err.retryable is retryable
        assert err.provider == self.provider and err.__cause__ is not None
        wire.fail(status, message="It failed.")
        self.failing(router, mode, cls, stream=True)

    def test_rate_limit_with_retry_after(self, router: Router, wire: ConformanceWire,
                                         mode: str) -> None:
        wire.fail(429, message="Slow down.", retry_after=7)
        err = self.failing(router, mode, ProviderRateLimitError)
        assert err.retryable is True and err.retry_after == 7.0

    def test_timeout(self, wire: ConformanceWire, mode: str) -> None:
        router = self.make_router(wire, timeout=self.timeout)
        try:
            wire.slow(self.timeout * 4)
            err = self.failing(router, mode, ProviderTimeoutError)
            assert err.retryable is True
        finally:
            router.close()

    def test_connection_drop(self, router: Router, wire: ConformanceWire, mode: str) -> None:
        wire.drop()
        err = self.failing(router, mode, ProviderConnectionError)
        assert err.retryable is True

    def test_key_is_scrubbed_everywhere(self, router: Router, wire: ConformanceWire,
                                        mode: str) -> None:
        key = self.api_key
        wire.fail(401, message=f"Invalid API key: {key}", request_id=key)
        err = self.failing(router, mode, ProviderAuthError)
        assert key not in _shown(err)
        records = _RECORDS[router].records
        assert records and all(key not in (a.error or "") for rec in records
                               for a in rec.attempts)
        wire.fail(401, message=f"Invalid API key: {key}", request_id=key)
        assert key not in _shown(self.failing(router, mode, ProviderAuthError, stream=True))
        assert key not in repr(router) and key not in repr(router.provider(self.provider))

    # ------------------------------------------------------------------ lifecycle

    def test_successive_event_loops(self, router: Router, wire: ConformanceWire) -> None:
        for i in range(3):
            wire.reply(f"loop {i}")
            assert self.chat(router, "async").content == f"loop {i}"
        clients = getattr(router.provider(self.provider), "clients", None)
        if clients is not None:  # built on the toolkit: nothing kept from finished loops
            assert clients.async_clients == 0

    def test_no_sdk_import_when_building_a_router(self) -> None:
        if not isinstance(self.plugin, str):
            raise AssertionError("set `plugin` to the entry-point name for this test")
        code = ("import sys; from cencori_core import Router; "
                f"r = Router(plugins=[{self.plugin!r}]); "
                f"r.resolve({self.import_check_model or self.model!r}); "
                f"print(sorted(m for m in sys.modules if m.split('.')[0] in "
                f"{tuple(self.sdk_modules)!r}))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.strip()
        assert out == "[]"


class RerankConformance(ProviderConformance):
    """:class:`ProviderConformance` plus the rerank section: set ``rerank_model`` and give a
    ``wire`` that implements :class:`RerankWire`."""

    rerank_model: ClassVar[str] = ""
    documents: ClassVar[list[str]] = ["Paris is in France.", "Sloths are slow.",
                                      "The Eiffel tower is in Paris."]

    def rerank(self, router: Router, mode: str, **kw: Any) -> Any:
        kw.setdefault("model", self.rerank_model)
        kw.setdefault("query", "Where is the Eiffel tower?")
        kw.setdefault("documents", self.documents)
        return self.call(mode, lambda: router.rerank(**kw), lambda: router.arerank(**kw))

    def test_rerank(self, router: Router, wire: RerankWire, mode: str) -> None:
        wire.reply_rerank([(0, 0.25), (2, 0.875), (1, 0.0625)], tokens=12)
        r = self.rerank(router, mode)
        assert [(x.index, x.relevance_score, x.document) for x in r.results] == [
            (2, 0.875, self.documents[2]), (0, 0.25, self.documents[0]),
            (1, 0.0625, self.documents[1])]
        assert r.provider == self.provider and r.attempts and r.id
        (record,) = _RECORDS[router].records
        assert record.operation == "rerank" and record.status == "ok"

    def test_rerank_top_n(self, router: Router, wire: RerankWire, mode: str) -> None:
        wire.reply_rerank([(2, 0.9)])
        r = self.rerank(router, mode, top_n=1)
        assert [(x.index, x.document) for x in r.results] == [(2, self.documents[2])]

    @pytest.mark.parametrize("status,cls", [(401, ProviderAuthError),
                                            (500, ProviderServerError)])
    def test_rerank_error_status(self, router: Router, wire: RerankWire, mode: str,
                                 status: int, cls: type[ProviderError]) -> None:
        wire.fail(status, message=f"It failed for {self.api_key}.", request_id=self.api_key)
        with pytest.raises(cls) as info:
            self.rerank(router, mode)
        assert info.value.status_code == status and info.value.provider == self.provider
        assert self.api_key not in _shown(info.value)

    def test_rerank_answer_naming_no_document_is_malformed(self, router: Router,
                                                           wire: RerankWire, mode: str) -> None:
        wire.reply_rerank([(len(self.documents), 0.5)])
        with pytest.raises(ProviderResponseError) as info:
            self.rerank(router, mode)
        assert info.value.retryable is True

    def test_rerank_top_n_above_the_documents_ranks_them_all(
            self, router: Router, wire: RerankWire, mode: str) -> None:
        wire.reply_rerank([(1, 0.5), (0, 0.25), (2, 0.125)])
        r = self.rerank(router, mode, top_n=len(self.documents) + 5)
        assert sorted(x.index for x in r.results) == list(range(len(self.documents)))

    @pytest.mark.parametrize("bad", [{"documents": []}, {"documents": "one string"},
                                     {"documents": ["a", 3]}, {"query": ""}, {"query": 7},
                                     {"top_n": 0}, {"top_n": -1}, {"top_n": True}])
    def test_rerank_bad_arguments_are_refused_before_sending(
            self, router: Router, wire: RerankWire, mode: str, bad: dict[str, Any]) -> None:
        before = wire.hits
        with pytest.raises(InvalidRequestError):
            self.rerank(router, mode, **bad)
        assert wire.hits == before
