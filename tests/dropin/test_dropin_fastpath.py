"""The drop-in's own HTTP client sends straight to the router's transport and builds loaded
responses: what the SDK and its users see must be what the SDK's default client gives."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from cencori_core import Router
from cencori_core.dropin._transport import _http

MSGS = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def router() -> Any:
    r = Router(load_entrypoints=False)
    yield r
    r.close()


def test_raw_response_is_a_loaded_closed_response_with_its_request(router: Router) -> None:
    httpx = _http()
    raw = router.openai_client().chat.completions.with_raw_response.create(
        model="echo/echo", messages=MSGS)
    http = raw.http_response
    assert isinstance(http, httpx.Response) and http.is_closed and http.is_stream_consumed
    body = json.loads(http.content)
    assert body["choices"][0]["message"]["content"] == "echo: hello there"
    assert http.headers["content-length"] == str(len(http.content))
    assert http.headers["content-type"] == "application/json"
    assert http.headers["x-request-id"] == raw.request_id == body["id"]
    assert raw.elapsed.total_seconds() >= 0
    req = raw.http_request
    assert req.method == "POST" and req.url.path == "/v1/chat/completions"
    assert json.loads(req.content)["messages"] == MSGS
    assert req.headers["content-length"] == str(len(req.content))
    assert req.headers["authorization"] == "Bearer cencori"
    assert req.extensions["timeout"]["read"] == 600
    parsed = raw.parse()
    assert isinstance(parsed, openai.types.chat.ChatCompletion)
    assert list(http.iter_bytes()) == [http.content]  # readable again, as a loaded response


def test_stream_response_has_elapsed_after_close(router: Router) -> None:
    client = router.openai_client()
    with client.chat.completions.with_streaming_response.create(
            model="echo/echo", messages=MSGS, stream=True) as raw:
        chunks = list(raw.parse())
    assert raw.http_response.is_closed and raw.http_response.elapsed.total_seconds() >= 0
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: hello there"


def test_event_hooks_and_a_closed_client_take_the_http_clients_own_path(router: Router) -> None:
    client = router.openai_client()
    seen: list[str] = []
    http = client._client
    http.event_hooks = {"request": [lambda r: seen.append(str(r.url))],
                        "response": [lambda r: seen.append(str(r.status_code))]}
    resp = client.chat.completions.create(model="echo/echo", messages=MSGS)
    assert resp.choices[0].message.content == "echo: hello there"
    assert seen == ["http://cencori.invalid/v1/chat/completions", "200"]
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        http.send(http.build_request("POST", "http://cencori.invalid/v1/models"))


def test_query_params_and_multipart_bodies_use_the_clients_own_building(router: Router) -> None:
    http = router.openai_client()._client
    req = http.build_request("GET", "http://cencori.invalid/v1/models", params={"a": "1"})
    assert req.url.query == b"a=1"
    req = http.build_request("POST", "http://cencori.invalid/v1/audio/transcriptions",
                             files={"file": ("a.wav", b"RIFF")})
    assert req.headers["content-type"].startswith("multipart/form-data")


def test_async_raw_response_is_loaded_and_timed(router: Router) -> None:
    async def run() -> Any:
        async with router.async_openai_client() as c:
            return await c.chat.completions.with_raw_response.create(model="echo/echo",
                                                                     messages=MSGS)

    raw = asyncio.run(run())
    assert raw.http_response.is_closed and raw.elapsed.total_seconds() >= 0
    assert raw.parse().choices[0].message.content == "echo: hello there"


def test_a_stream_response_yields_the_frames_once(router: Router) -> None:
    httpx = _http()
    client = router.openai_client()
    with client.chat.completions.with_streaming_response.create(
            model="echo/echo", messages=MSGS, stream=True) as raw:
        http = raw.http_response
        frames = list(http.iter_bytes())
        assert all(f.startswith(b"data: ") and f.endswith(b"\n\n") for f in frames)
        assert frames[-1].endswith(b"data: [DONE]\n\n")
        assert http.num_bytes_downloaded == sum(map(len, frames)) and http.is_closed
        with pytest.raises(httpx.StreamConsumed):
            list(http.iter_bytes())


def _replayed(body: bytes, ctype: str) -> openai.OpenAI:
    """A raw SDK client on its own default HTTP client, answered the given bytes."""
    httpx = _http()
    return openai.OpenAI(api_key="sk-x", base_url="http://replay.invalid/v1", max_retries=0,
                         http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(
                             lambda r: httpx.Response(200, content=body,
                                                      headers={"content-type": ctype}))))


def test_the_sdk_objects_equal_those_of_the_same_bytes_on_the_sdks_own_client(
        router: Router) -> None:
    client = router.openai_client()
    raw = client.chat.completions.with_raw_response.create(model="echo/echo", messages=MSGS)
    again = _replayed(raw.http_response.content, "application/json").chat.completions.create(
        model="echo/echo", messages=MSGS)
    assert raw.parse() == again
    raw = client.embeddings.with_raw_response.create(model="echo/echo", input=["a b"])
    assert raw.parse() == _replayed(raw.http_response.content, "application/json") \
        .embeddings.create(model="echo/echo", input=["a b"])
    with client.chat.completions.with_streaming_response.create(
            model="echo/echo", messages=MSGS, stream=True,
            stream_options={"include_usage": True}) as s:
        frames = b"".join(s.http_response.iter_bytes())
    with client.chat.completions.with_streaming_response.create(
            model="echo/echo", messages=MSGS, stream=True,
            stream_options={"include_usage": True}) as s:
        ours = list(s.parse())
    theirs = list(_replayed(frames, "text/event-stream").chat.completions.create(
        model="echo/echo", messages=MSGS, stream=True))
    strip = [c.model_dump(exclude={"id", "created"}) for c in ours]
    assert strip == [c.model_dump(exclude={"id", "created"}) for c in theirs]
    assert len(ours) == len(theirs) and ours[-1].usage is not None


def test_a_stream_names_the_same_model_as_the_answer() -> None:
    # the frames named the model asked for ("echo/echo") while chat answered with the route's
    # ("echo"); OpenAI names the model that answered in both
    from cencori_core import Router

    router = Router(load_entrypoints=False)
    client = router.openai_client()
    msgs: Any = [{"role": "user", "content": "hi there"}]
    try:
        answer = client.chat.completions.create(model="echo/echo", messages=msgs)
        chunks = list(client.chat.completions.create(model="echo/echo", messages=msgs,
                                                     stream=True))
        assert answer.model == "echo" and {c.model for c in chunks} == {"echo"}
    finally:
        router.close()
