"""The provider toolkit (cencori_core.provider): the scrubber, the error and converter
boundaries, the stream state, the per-loop client holder and the operation twins.

The SDK here is a small stand-in written for these tests (a client class that counts its
closes); the real SDKs run through the toolkit in the plugin tests against the wire servers.
"""

from __future__ import annotations

import asyncio
import gc
import pickle
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cencori_core import ProviderConfig, Secret
from cencori_core.errors import (
    CencoriError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
)
from cencori_core.provider import (
    ClientHolder,
    ErrorBoundary,
    Scrubber,
    SDKProvider,
    StreamState,
    secrets_of,
    stream_twins,
    twins,
)
from cencori_core.types import ChatChunk, ChatRequest, Message

KEY = "sk-toolkit-0123456789"


def everything(exc: BaseException) -> str:
    """What a user can ever see of an error: str, repr, the traceback, the pickle."""
    out = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    try:
        out.append(repr(pickle.loads(pickle.dumps(exc)).__dict__))
        out.append(pickle.dumps(exc).decode("latin-1"))
    except Exception as e:  # noqa: BLE001 - SDK exceptions holding sockets do not pickle
        out.append(type(e).__name__)
    return "\n".join(out)


# ---------------------------------------------------------------------------- the scrubber


def test_scrubber_masks_long_keys_anywhere_and_short_keys_only_as_whole_tokens() -> None:
    s = Scrubber([KEY, "ab", None, ""])
    assert s.text(f"key={KEY}!") == "key=***!"
    assert s.text(f"Bearer%20{KEY}") == "Bearer%20***"
    assert s.text("about a tab") == "about a tab"  # "ab" inside words stays
    assert s.text("bad key: ab.") == "bad key: ***."
    assert s.text("ab") == "***"
    one = Scrubber(["x"])
    assert one.text("x") == "***" and one.text("x-request-id: x") == "x-request-id: ***"
    assert repr(s) == "<Scrubber of 2 secret(s)>" and KEY not in repr(s)
    assert not Scrubber([]) and Scrubber([]).text(KEY) == KEY


def test_scrubber_values_keep_untouched_containers() -> None:
    s = Scrubber([Secret(KEY)])
    clean = {"a": [1, "b"], "c": ("d",)}
    assert s.value(clean) is clean
    dirty = {"error": {"message": f"bad {KEY}", "list": [KEY, 2], "t": (KEY,)}, KEY: b"x"}
    assert s.value(dirty) == {"error": {"message": "bad ***", "list": ["***", 2],
                                        "t": ("***",)}, "***": b"x"}
    assert s.value(KEY.encode()) == b"***"


def test_secrets_of_config_include_credential_headers() -> None:
    cfg = ProviderConfig.from_mapping("p", {
        "api_key": KEY, "headers": {"api-key": "hk-1", "Authorization": "Bearer tok-2",
                                    "X-Trace": "not-secret"}})
    assert set(secrets_of(cfg)) == {KEY, "hk-1", "Bearer tok-2", "tok-2"}


class SDKish(Exception):
    """An SDK error as the worst SDKs build it: everything in attributes, printed in str."""

    def __init__(self, message: str, *, headers: dict[str, str], body: Any) -> None:
        super().__init__(message)
        self.headers, self.body, self.code = headers, body, body.get("code")

    def __str__(self) -> str:
        return f"{self.args[0]} headers={self.headers} body={self.body}"


@dataclass(frozen=True)
class FrozenError(Exception):
    detail: str


class Slotted(Exception):
    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        super().__init__("slotted")
        self.token = token


def test_scrubber_walks_the_whole_exception_chain() -> None:
    s = Scrubber([KEY])
    request = httpx.Request("POST", f"https://api.example/v1?key={KEY}",
                            headers={"Authorization": f"Bearer {KEY}"})
    response = httpx.Response(401, headers={"x-request-id": KEY}, content=KEY.encode(),
                              request=request)
    inner = SDKish(f"bad key {KEY}", headers={"x-request-id": KEY},
                   body={"message": KEY, "code": KEY})
    inner.add_note(f"note {KEY}")
    inner.response = response  # type: ignore[attr-defined]
    frozen = FrozenError(KEY)
    slotted = Slotted(KEY)
    group = ExceptionGroup("g", [slotted])
    try:
        try:
            try:
                raise inner
            except SDKish as e:
                raise frozen from e
        except FrozenError:
            raise group  # noqa: B904 - context, not cause
    except ExceptionGroup as top:
        err = ProviderAuthError(f"rejected {KEY}", provider="p", model="m",
                                request_id=KEY, code=KEY)
        err.__cause__ = top
        s.exception(err)
    assert KEY not in everything(err)
    assert KEY not in everything(inner) and KEY not in str(inner.body)
    assert err.request_id == "***" and err.code == "***" and inner.code == "***"
    assert slotted.token == "***" and frozen.detail == "***"
    assert KEY not in str(request.url) and KEY not in request.headers["authorization"]
    assert response.headers["x-request-id"] == "***" and KEY.encode() not in response.content


# ---------------------------------------------------------------------------- boundaries


class FakeSDKError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def fake_map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    if isinstance(exc, FakeSDKError) and exc.status == 401:
        return ProviderAuthError(str(exc), provider=provider, model=model, status_code=401)
    return None


def boundary() -> ErrorBoundary:
    return ErrorBoundary(provider="fake", map_error=fake_map_error, scrubber=Scrubber([KEY]))


def test_error_boundary_maps_chains_and_scrubs() -> None:
    b = boundary()
    with pytest.raises(ProviderAuthError) as info:
        with b("m1"):
            raise FakeSDKError(f"invalid key {KEY}", 401)
    err = info.value
    assert isinstance(err.__cause__, FakeSDKError) and err.model == "m1"
    assert KEY not in everything(err)
    # unknown exceptions: a generic ProviderError, still chained and scrubbed
    with pytest.raises(ProviderError) as info2:
        with b("m1"):
            raise OSError(f"boom {KEY}")
    assert type(info2.value) is ProviderError and KEY not in everything(info2.value)
    # ours pass through, scrubbed
    ours = InvalidRequestError(f"bad {KEY}")
    with pytest.raises(InvalidRequestError) as info3:
        with b("m1"):
            raise ours
    assert info3.value is ours and KEY not in str(ours)
    # control flow passes untouched
    with pytest.raises(StopIteration), b("m1"):
        raise StopIteration


def test_error_boundary_survives_a_broken_mapper() -> None:
    def broken(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
        raise KeyError("oops")

    b = ErrorBoundary(provider="fake", map_error=broken, scrubber=Scrubber([KEY]))
    with pytest.raises(ProviderError, match="could not map FakeSDKError"):
        with b("m"):
            raise FakeSDKError(KEY)


def test_error_boundary_inside_generators_lets_close_through() -> None:
    b = boundary()
    closed: list[bool] = []

    def gen() -> Iterator[int]:
        try:
            with b("m"):
                yield 1
                raise FakeSDKError("x", 401)
        finally:
            closed.append(True)

    g = gen()
    assert next(g) == 1
    g.close()  # GeneratorExit is not an SDK error
    assert closed == [True]
    with pytest.raises(ProviderAuthError):
        list(gen())


async def test_error_boundary_inside_async_generators() -> None:
    b = boundary()

    async def agen() -> Any:
        with b("m"):
            yield 1
            await asyncio.sleep(0)
            raise FakeSDKError(KEY, 401)

    got = []
    with pytest.raises(ProviderAuthError) as info:
        async for x in agen():
            got.append(x)
    assert got == [1] and KEY not in everything(info.value)
    async with b("m"):  # the async form too
        pass


@pytest.mark.parametrize("exc", [
    AttributeError("'str' object has no attribute 'get'"), KeyError("choices"),
    TypeError("'int' object is not iterable"), IndexError("list index out of range"),
    ValueError(f"invalid literal for int() with base 10: '{KEY}'"),
])
def test_converter_boundary_makes_retryable_response_errors(exc: Exception) -> None:
    with pytest.raises(ProviderResponseError) as info:
        with boundary().reading("m", "chat completion"):
            raise exc
    err = info.value
    assert err.retryable is True and err.provider == "fake" and err.__cause__ is exc
    assert "chat completion" in str(err) and type(exc).__name__ in str(err)
    assert KEY not in everything(err)


def test_converter_boundary_blames_the_answer_for_invalid_values() -> None:
    # a value the answer carried that our types refuse is a malformed answer, not a bad request
    with pytest.raises(ProviderResponseError) as info:
        with boundary().reading("m", "chat completion"):
            raise InvalidRequestError("arguments must be a string")
    assert info.value.retryable is True


def test_converter_boundary_leaves_our_errors_alone() -> None:
    ours = ProviderResponseError("already ours", provider="fake")
    with pytest.raises(ProviderResponseError) as info:
        with boundary().reading("m"):
            raise ours
    assert info.value is ours


# ---------------------------------------------------------------------------- stream state


class WordStream(StreamState):
    closing_event = "a 'done' event"

    def fold(self, event: Any) -> ChatChunk | list[ChatChunk] | None:
        if event == "done":
            self.done = True
            return ChatChunk(finish_reason="stop")
        if event == "":
            return None
        if event == "pair":
            return [ChatChunk(delta="a"), ChatChunk(delta="b")]
        return ChatChunk(delta=event["text"])  # a str event is malformed: TypeError


def test_stream_state_end_without_closing_event_is_a_dropped_stream() -> None:
    st = WordStream(provider="fake", model="m")
    assert [c.delta for c in st.feed({"text": "Hel"})] == ["Hel"]
    with pytest.raises(ProviderConnectionError) as info:
        st.end()
    err = info.value
    # retryable, and without the partial text: the router builds that from what it showed
    assert err.retryable is True and "a 'done' event" in str(err)
    assert not hasattr(err, "partial")
    with pytest.raises(ProviderResponseError):
        st.feed("not a dict")  # the converter boundary of feed()
    st.fold("done")
    assert st.end() == []


def test_stream_state_decode_malformed_json() -> None:
    st = WordStream(provider="fake", model="m")
    assert st.decode('{"a": 1}') == {"a": 1}
    with pytest.raises(ProviderResponseError, match="not valid JSON") as info:
        st.decode("{not json")
    assert info.value.retryable is True


# ---------------------------------------------------------------------------- client holder


class FakeClient:
    """An SDK client stand-in: counts live instances and closes."""

    live: int = 0
    closed: int = 0

    def __init__(self) -> None:
        type(self).live += 1
        self.is_closed = False

    def __del__(self) -> None:
        type(self).live -= 1

    def close(self) -> None:
        self.is_closed = True
        type(self).closed += 1


class FakeAsyncClient(FakeClient):
    live = 0
    closed = 0

    def __init__(self) -> None:
        super().__init__()
        # An SDK async client's transport references its loop (the reference that made the
        # openai plugin's WeakKeyDictionary leak).
        self.loop = asyncio.get_running_loop()

    async def aclose(self) -> None:
        asyncio.get_running_loop()  # must run inside its own loop
        self.close()


def test_sync_client_is_built_once_across_threads() -> None:
    built = []

    def new() -> FakeClient:
        built.append(1)
        return FakeClient()

    holder: ClientHolder[FakeClient, FakeAsyncClient] = ClientHolder(new, None)
    barrier = threading.Barrier(8)
    seen = []

    def use() -> None:
        barrier.wait()
        seen.append(holder.sync_client())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and len({id(c) for c in seen}) == 1
    client = seen[0]
    holder.close()
    assert client.is_closed


def test_async_clients_one_per_loop_closed_with_their_loop() -> None:
    FakeAsyncClient.live = FakeAsyncClient.closed = 0
    holder: ClientHolder[Any, FakeAsyncClient] = ClientHolder(None, FakeAsyncClient)

    async def use() -> FakeAsyncClient:
        a = holder.async_client()
        assert holder.async_client() is a
        await asyncio.sleep(0)
        return a

    for _ in range(200):
        asyncio.run(use())
    gc.collect()
    assert FakeAsyncClient.closed == 200  # each closed inside its loop by asyncio.run
    assert holder.async_clients == 0 and FakeAsyncClient.live == 0


def test_sync_close_inside_the_running_loop_closes_the_async_client_in_that_loop() -> None:
    # `with Router() as r:` in async code closes synchronously while the loop runs: a close
    # scheduled on the loop then was cancelled by asyncio.run() before it ran (aiohttp reported
    # an unclosed session); now the loop's own shutdown closes the client, inside the loop.
    FakeAsyncClient.live = FakeAsyncClient.closed = 0
    holder: ClientHolder[Any, FakeAsyncClient] = ClientHolder(None, FakeAsyncClient)
    seen: list[FakeAsyncClient] = []

    async def use() -> None:
        seen.append(holder.async_client())
        await asyncio.sleep(0)
        holder.close()
        assert holder.async_clients == 0  # never handed out again

    asyncio.run(use())
    assert seen[0].is_closed and FakeAsyncClient.closed == 1
    seen.clear()
    gc.collect()
    assert FakeAsyncClient.live == 0  # and nothing keeps it alive afterwards


def test_async_clients_of_loops_in_several_threads() -> None:
    FakeAsyncClient.live = FakeAsyncClient.closed = 0
    holder: ClientHolder[Any, FakeAsyncClient] = ClientHolder(None, FakeAsyncClient)
    seen: list[int] = []

    async def use() -> None:
        a = holder.async_client()
        await asyncio.sleep(0)
        assert holder.async_client() is a  # still this loop's, whatever the other threads do
        seen.append(id(a))

    def worker() -> None:
        for _ in range(25):
            asyncio.run(use())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert len(seen) == 100 and FakeAsyncClient.closed == 100
    assert holder.async_clients == 0 and FakeAsyncClient.live == 0


def test_async_client_of_a_loop_closed_without_shutdown_is_dropped() -> None:
    FakeAsyncClient.live = FakeAsyncClient.closed = 0
    holder: ClientHolder[Any, FakeAsyncClient] = ClientHolder(None, FakeAsyncClient)

    async def use() -> None:
        holder.async_client()

    for _ in range(5):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(use())
        loop.close()  # no shutdown_asyncgens: the holder finds it closed on next use
    assert holder.async_clients == 1  # only the last, found at the next use or close
    holder.close()
    del loop
    gc.collect()
    assert holder.async_clients == 0 and FakeAsyncClient.live == 0


def test_user_supplied_clients_are_never_closed() -> None:
    FakeAsyncClient.live = FakeAsyncClient.closed = 0
    holder: ClientHolder[FakeClient, FakeAsyncClient] = ClientHolder(
        FakeClient, FakeAsyncClient, owns_sync=False, owns_async=False)

    async def use() -> None:
        holder.async_client()
        await holder.aclose()

    asyncio.run(use())
    asyncio.run(use())
    sync = holder.sync_client()
    holder.close()
    assert FakeAsyncClient.closed == 0 and not sync.is_closed


async def test_aclose_closes_this_loops_client_and_allows_reuse() -> None:
    holder: ClientHolder[Any, FakeAsyncClient] = ClientHolder(None, FakeAsyncClient)
    a = holder.async_client()
    await holder.aclose()
    assert a.is_closed and holder.async_clients == 0
    b = holder.async_client()
    assert b is not a
    await holder.aclose()


def test_holder_dropped_with_live_generators_leaves_no_unraisable() -> None:
    # A holder garbage-collected after its loop closed without shutdown must not hand its
    # loop-closing generator to the dead loop's finalizer (pytest turns that into an error).
    holder: ClientHolder[Any, FakeAsyncClient] | None = ClientHolder(None, FakeAsyncClient)
    loop = asyncio.new_event_loop()

    async def use() -> None:
        assert holder is not None
        holder.async_client()

    loop.run_until_complete(use())
    loop.close()
    holder = None
    gc.collect()


# ---------------------------------------------------------------------------- twins


class Answer:
    def __init__(self, text: Any) -> None:
        self.text = text


class TinySDK:
    """Sync and async client of a made-up SDK: echo the prompt, or fail."""

    def __init__(self, *, is_async: bool) -> None:
        self.is_async = is_async

    def complete(self, prompt: str) -> Any:
        if prompt == "401":
            err = FakeSDKError(f"bad key {KEY}", 401)
        elif prompt == "500":
            err = FakeSDKError("server", 500)
        else:
            err = None
        if not self.is_async:
            if err:
                raise err
            return Answer(prompt if prompt != "shape" else 5)

        async def run() -> Any:
            if err:
                raise err
            return Answer(prompt if prompt != "shape" else 5)

        return run()

    def stream(self, prompt: str) -> Any:
        words = prompt.split()
        return iter(words) if not self.is_async else _aiter(words)

    def close(self) -> None:
        pass


async def _aiter(items: list[str]) -> Any:
    for x in items:
        yield x


class Words(StreamState):
    closing_event = "'.'"

    def fold(self, event: Any) -> ChatChunk | None:
        if event == ".":
            self.done = True
            return ChatChunk(finish_reason="stop")
        if event == "bad":
            return ChatChunk(delta=event.missing)  # type: ignore[attr-defined]
        return ChatChunk(delta=event + " ")


def _read(p: SDKProvider, r: ChatRequest, answer: Any) -> Any:
    return answer.text.upper()


class TinyProvider(SDKProvider):
    map_error = staticmethod(fake_map_error)

    def new_client(self) -> TinySDK:
        return TinySDK(is_async=False)

    def new_async_client(self) -> TinySDK:
        return TinySDK(is_async=True)

    chat, achat = twins(lambda p, c, r: c.complete(r.messages[0].content), _read,  # type: ignore[assignment]
                        what="completion")
    chat_stream, achat_stream = stream_twins(  # type: ignore[assignment]
        lambda p, c, r: c.stream(r.messages[0].content) if c.is_async is False
        else _ready(c.stream(r.messages[0].content)),
        lambda p, c, opened: opened,
        lambda p, r: Words(provider=p.name, model=r.model))


async def _ready(x: Any) -> Any:
    return x


def req(text: str) -> ChatRequest:
    return ChatRequest(model="tiny-1", messages=[Message(role="user", content=text)])


@pytest.fixture
def tiny() -> TinyProvider:
    return TinyProvider(ProviderConfig(name="tiny", api_key=Secret(KEY)))


async def test_twins_sync_and_async_behave_alike(tiny: TinyProvider) -> None:
    assert tiny.chat(req("hi")) == "HI" and await tiny.achat(req("hi")) == "HI"
    for call in (lambda r: tiny.chat(r), None):
        for prompt, cls in (("401", ProviderAuthError), ("500", ProviderError),
                            ("shape", ProviderResponseError)):
            with pytest.raises(cls) as info:
                if call is None:
                    await tiny.achat(req(prompt))
                else:
                    call(req(prompt))
            assert KEY not in everything(info.value)
    with pytest.raises(ProviderResponseError, match="completion of an unexpected shape"):
        tiny.chat(req("shape"))


async def test_stream_twins(tiny: TinyProvider) -> None:
    def run_sync(text: str) -> list[str]:
        return [c.delta or str(c.finish_reason) for c in tiny.chat_stream(req(text))]

    async def run_async(text: str) -> list[str]:
        return [c.delta or str(c.finish_reason) async for c in tiny.achat_stream(req(text))]

    assert run_sync("a b .") == await run_async("a b .") == ["a ", "b ", "stop"]
    for runner in (run_sync, run_async):
        with pytest.raises(ProviderConnectionError) as info:
            result = runner("a b")
            if asyncio.iscoroutine(result):
                await result
        assert info.value.retryable is True and "'.'" in str(info.value)
        with pytest.raises(ProviderResponseError) as info2:
            result = runner("a bad .")
            if asyncio.iscoroutine(result):
                await result
        assert info2.value.retryable is True
    assert isinstance(ProviderResponseError("x"), CencoriError)
