"""End to end: the real ``mistralai`` SDK driven through ``cencori_core.Router`` against a
loopback server speaking Mistral's wire format (tests/mistral_wire.py), sync and async.

Each test asserts what the server received (request bodies, headers) and what the router
returned (normalized responses, usage, cost, errors).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from decimal import Decimal
from typing import Any

import httpx
import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from loopback import Reply
from mistral_wire import MistralWire, error_body, usage

from cencori_core import (
    ContextWindowExceededError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderNotConfiguredError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
)

KEY = "mistral-test-key-7f3a9c2e51"
USER = [{"role": "user", "content": "Hello?"}]


@pytest.fixture
def wire():
    w = MistralWire().start()
    yield w
    w.stop()


class Driver:
    """Runs router operations sync or async (one event loop per test, so the SDK's async
    connection pool stays on one loop)."""

    def __init__(self, router: Router, mode: str):
        self.router = router
        self.mode = mode
        self.loop = asyncio.new_event_loop() if mode == "async" else None
        self.closed = False

    def call(self, op: str, *args: Any, **kw: Any) -> Any:
        if self.loop is None:
            return getattr(self.router, op)(*args, **kw)
        return self.loop.run_until_complete(getattr(self.router, "a" + op)(*args, **kw))

    def chat(self, **kw: Any) -> Any:
        kw.setdefault("messages", USER)
        return self.call("chat", **kw)

    def stream(self, **kw: Any) -> tuple[list[Any], Any]:
        kw.setdefault("messages", USER)
        if self.loop is None:
            with self.router.chat_stream(**kw) as s:
                chunks = list(s)
            return chunks, s.response

        async def run() -> tuple[list[Any], Any]:
            async with self.router.achat_stream(**kw) as s:
                chunks = [c async for c in s]
            return chunks, s.response

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.loop is None:
            self.router.close()
        else:
            self.loop.run_until_complete(self.router.aclose())
            self.loop.close()


@pytest.fixture(params=["sync", "async"])
def mode(request):
    return request.param


@pytest.fixture
def drive(wire, mode):
    made: list[Driver] = []

    def make(retry: Any = 1, **cfg: Any) -> Driver:
        prov = {"api_key": KEY, "base_url": wire.base_url, **cfg}
        d = Driver(Router(providers={"mistral": prov}, plugins=["mistral"], retry=retry), mode)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def _price(model: str, prompt: int, completion: int, cached: int = 0) -> Decimal:
    return calc_price(GUsage(input_tokens=prompt, output_tokens=completion,
                             cache_read_tokens=cached or None), model,
                      provider_id="mistral").total_price


# ---------------------------------------------------------------------------- chat


def test_chat(drive, wire):
    d = drive()
    r = d.chat(model="mistral-large-latest")
    assert r.content == "Hello from Mistral" and r.finish_reason == "stop"
    assert r.provider == "mistral" and r.model == "mistral-large-2512"
    assert r.id.startswith("cmpl-")
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (12, 5, 17)
    assert r.usage.source == "provider"
    assert r.cost.total == _price("mistral-large-2512", 12, 5)
    req = wire.last
    assert req.method == "POST" and req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.json == {"model": "mistral-large-latest", "stream": False,
                        "messages": [{"role": "user", "content": "Hello?"}]}


def test_chat_parameters_reach_the_wire(drive, wire):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    rf = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema,
                                                 "strict": True}}
    wire.reply(text='{"n": 4}')
    r = drive().chat(model="mistral-small-latest",
                     messages=[{"role": "developer", "content": "Answer in JSON."},
                               {"role": "user", "content": "2+2?"}],
                     temperature=0.3, max_tokens=50, top_p=0.8, stop=["END"], seed=11,
                     response_format=rf,
                     provider_options={"safe_prompt": True, "prompt_cache_key": "s-1",
                                       "presence_penalty": 0.5})
    assert r.content == '{"n": 4}'
    body = wire.last.json
    assert body["messages"][0] == {"role": "system", "content": "Answer in JSON."}
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["stop"],
            body["random_seed"]) == (0.3, 50, 0.8, ["END"], 11)
    assert body["response_format"] == rf
    assert body["safe_prompt"] is True and body["prompt_cache_key"] == "s-1"
    assert body["presence_penalty"] == 0.5
    assert "seed" not in body and "user" not in body


def test_tool_calls_and_tool_results(drive, wire):
    d = drive()
    tools = [{"type": "function", "function": {
        "name": "weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    wire.reply(text="", tool_calls=[{"id": "D681PevKs", "name": "weather",
                                     "arguments": '{"city": "Paris"}'}])
    r = d.chat(model="mistral-large-latest", messages=USER, tools=tools, tool_choice="auto")
    assert r.finish_reason == "tool_calls" and r.content is None
    (call,) = r.tool_calls
    assert (call.id, call.name, call.arguments) == ("D681PevKs", "weather", {"city": "Paris"})
    body = wire.last.json
    assert body["tools"] == tools and body["tool_choice"] == "auto"

    # The next turn: the assistant's call and our result, plus a call another provider minted.
    foreign = {"id": "call_0fypS1hVXq", "type": "function",
               "function": {"name": "weather", "arguments": '{"city": "Rome"}'}}
    history = [*USER, r.message.to_openai(),
               {"role": "tool", "tool_call_id": "D681PevKs", "content": "12 degrees"},
               {"role": "assistant", "content": None, "tool_calls": [foreign]},
               {"role": "tool", "tool_call_id": "call_0fypS1hVXq", "content": "20 degrees"}]
    wire.reply(text="Paris 12, Rome 20")
    assert d.chat(model="mistral-large-latest", messages=history,
                  tools=tools).content == "Paris 12, Rome 20"
    sent = wire.last.json["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "D681PevKs"
    assert sent[1]["tool_calls"][0]["function"] == {"name": "weather",
                                                    "arguments": '{"city": "Paris"}'}
    assert {k: sent[2][k] for k in ("role", "tool_call_id", "name", "content")} == \
        {"role": "tool", "tool_call_id": "D681PevKs", "name": "weather", "content": "12 degrees"}
    mapped = sent[3]["tool_calls"][0]["id"]
    assert len(mapped) == 9 and mapped.isalnum() and sent[4]["tool_call_id"] == mapped


def test_tool_arguments_sent_as_an_object(drive, wire):
    wire.reply(text="", tool_calls=[{"id": "abcDEF123", "name": "add",
                                     "arguments": {"a": 1, "b": 2}}])
    r = drive().chat(model="mistral-small-latest",
                     tools=[{"type": "function", "function": {"name": "add"}}])
    assert r.tool_calls[0].arguments == {"a": 1, "b": 2}
    assert wire.last.json["tools"][0]["function"]["parameters"] == {"type": "object",
                                                                    "properties": {}}


def test_image_parts_for_vision_models(drive, wire):
    d = drive()
    content = [{"type": "text", "text": "What is in this picture?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    d.chat(model="pixtral-large-latest", messages=[{"role": "user", "content": content}])
    assert wire.last.json["messages"][0]["content"] == [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="}]
    hits = wire.server.hits
    with pytest.raises(InvalidRequestError, match="vision"):
        d.chat(model="codestral-latest", messages=[{"role": "user", "content": content}])
    assert wire.server.hits == hits


def test_reasoning_and_its_signature_round_trip(drive, wire):
    d = drive()
    wire.reply(thinking="Six times seven.", signature="sig-abc", text="42",
               usage=usage(20, 30, completion_tokens_details={"reasoning_tokens": 25}))
    r = d.chat(model="magistral-medium-latest")
    assert (r.content, r.reasoning) == ("42", "Six times seven.")
    assert r.usage.reasoning_tokens == 25 and r.usage.completion_tokens == 30
    d.chat(model="magistral-medium-latest", messages=[*USER, r.message, *USER])
    thinking, text = wire.last.json["messages"][1]["content"]
    assert text == {"type": "text", "text": "42"}
    assert thinking["type"] == "thinking" and thinking["signature"] == "sig-abc"
    assert thinking["thinking"] == [{"type": "text", "text": "Six times seven."}]


def test_cached_prompt_tokens_are_priced_as_cache_reads(drive, wire):
    wire.reply(usage=usage(200, 10, prompt_tokens_details={"cached_tokens": 128}))
    r = drive().chat(model="mistral-large-latest")
    assert (r.usage.prompt_tokens, r.usage.cached_tokens) == (200, 128)
    assert r.cost.cached_input > 0
    assert r.cost.total == _price("mistral-large-2512", 200, 10, cached=128)


def test_unknown_provider_option_is_refused_before_sending(drive, wire):
    with pytest.raises(InvalidRequestError, match="not_a_param"):
        drive().chat(model="mistral-small-latest", provider_options={"not_a_param": 1})
    assert wire.server.hits == 0


# ---------------------------------------------------------------------------- streaming


def test_stream_text(drive, wire):
    wire.reply(text="The quick brown fox", pieces=4, usage=usage(9, 4))
    chunks, resp = drive().stream(model="mistral-small-latest")
    assert "".join(c.delta for c in chunks) == "The quick brown fox"
    assert sum(1 for c in chunks if c.delta) == 4
    assert resp.content == "The quick brown fox" and resp.finish_reason == "stop"
    assert resp.usage.total_tokens == 13 and resp.usage.source == "provider"
    assert resp.model == "mistral-small-2506" and resp.id.startswith("cmpl-")
    assert resp.cost.total == _price("mistral-small-2506", 9, 4)
    body = wire.last.json
    assert body["stream"] is True and wire.last.headers["accept"] == "text/event-stream"


def test_stream_tool_calls(drive, wire):
    wire.reply(text="", tool_calls=[
        {"id": "aaaaaaaa1", "name": "weather", "arguments": '{"city": "Paris"}'},
        {"id": "bbbbbbbb2", "name": "clock", "arguments": {"tz": "UTC"}}])
    chunks, resp = drive().stream(model="mistral-large-latest",
                                  tools=[{"type": "function", "function": {"name": "weather"}},
                                         {"type": "function", "function": {"name": "clock"}}])
    deltas = [t for c in chunks for t in c.tool_calls]
    assert [(t.index, t.id) for t in deltas] == [(0, "aaaaaaaa1"), (1, "bbbbbbbb2")]
    assert resp.finish_reason == "tool_calls"
    assert [(t.id, t.name, t.arguments) for t in resp.tool_calls] == [
        ("aaaaaaaa1", "weather", {"city": "Paris"}), ("bbbbbbbb2", "clock", {"tz": "UTC"})]


def test_stream_reasoning(drive, wire):
    wire.reply(thinking="Let me think it over", signature="sig-s", text="Yes")
    chunks, resp = drive().stream(model="magistral-medium-latest")
    assert "".join(c.reasoning for c in chunks) == "Let me think it over"
    assert resp.reasoning == "Let me think it over" and resp.content == "Yes"
    assert resp.provider_data == {"mistral": {"thinking_signature": "sig-s"}}


def test_stream_cut_midway_is_interrupted_with_the_partial_text(drive, wire):
    wire.reply(text="abcdefghij", pieces=5, cut_after=3)
    with pytest.raises(StreamInterruptedError) as info:
        # on httpx: aiohttp drops events it received but the SDK had not read yet when the
        # connection drops (docs/fast-transport.md), so the partial would depend on timing
        drive(fast_transport=False).stream(model="mistral-small-latest")
    assert info.value.partial.content == "abcd"
    assert isinstance(info.value.__cause__, ProviderConnectionError)


def test_closing_a_stream_early_closes_the_http_response(wire, mode):
    responses: list[Any] = []

    async def ahook(response: httpx.Response) -> None:
        responses.append(response)

    client = httpx.Client(event_hooks={"response": [responses.append]})
    aclient = httpx.AsyncClient(event_hooks={"response": [ahook]})
    d = Driver(Router(providers={"mistral": {"api_key": KEY, "base_url": wire.base_url,
                                             "http_client": client,
                                             "async_http_client": aclient}},
                      plugins=["mistral"]), mode)
    wire.reply(text="x" * 40, pieces=20)
    kw = {"model": "mistral-small-latest", "messages": USER}
    if d.loop is None:
        with d.router.chat_stream(**kw) as s:
            first = next(iter(s))
    else:
        async def run() -> Any:
            async with d.router.achat_stream(**kw) as s:
                return await s.__anext__()

        first = d.loop.run_until_complete(run())
    assert first.delta == "xx"
    (response,) = responses
    assert response.is_closed
    d.close()
    client.close()
    asyncio.run(aclient.aclose())


def test_stream_refused_before_the_first_chunk(drive, wire):
    wire.fail(429, error_body("Rate limit exceeded", type="rate_limited", code="1300"),
              headers={"retry-after": "3"})
    with pytest.raises(ProviderRateLimitError) as info:
        drive().stream(model="mistral-small-latest")
    assert info.value.retry_after == 3.0


def test_stream_event_that_does_not_parse(drive, wire):
    good = {"id": "cmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    wire.queue(Reply.sse([good, '{"id": 3, "choices": "none"}']))
    with pytest.raises(StreamInterruptedError) as info:
        drive().stream(model="mistral-small-latest")
    assert isinstance(info.value.__cause__, ProviderResponseError)
    assert info.value.partial.content == "Hi"


# ---------------------------------------------------------------------------- embeddings


def test_embeddings(drive, wire):
    d = drive()
    e = d.call("embed", "mistral-embed", ["first text", "second"])
    assert len(e.vectors) == 2 and all(len(v) == 1024 for v in e.vectors)
    assert e.usage.prompt_tokens == 3 and e.model == "mistral-embed"
    assert e.cost.total == _price("mistral-embed", 3, 0)
    assert wire.last.path == "/v1/embeddings"
    assert wire.last.json == {"model": "mistral-embed", "input": ["first text", "second"]}

    c = d.call("embed", "codestral-embed", "def f(): pass", dimensions=256,
               input_type="search_document")
    assert len(c.vectors) == 1 and len(c.vectors[0]) == 256
    assert wire.last.json == {"model": "codestral-embed", "input": ["def f(): pass"],
                              "output_dimension": 256}


def test_chat_model_cannot_embed(drive, wire):
    with pytest.raises(InvalidRequestError, match="embeddings"):
        drive().call("embed", "mistral-large-latest", ["x"])
    assert wire.server.hits == 0


# ---------------------------------------------------------------------------- moderation


def test_moderation(drive, wire):
    m = drive().call("moderate", "mistral-moderation-latest", ["Nice weather", "I will kill you"])
    assert wire.last.path == "/v1/moderations"
    assert wire.last.json == {"model": "mistral-moderation-latest",
                              "input": ["Nice weather", "I will kill you"]}
    assert m.flagged is True and [r.flagged for r in m.results] == [False, True]
    assert m.results[1].categories["violence_and_threats"] is True
    assert m.results[1].scores["violence_and_threats"] == 0.97
    assert set(m.results[0].categories) == {
        "sexual", "hate_and_discrimination", "violence_and_threats",
        "dangerous_and_criminal_content", "selfharm", "health", "financial", "law", "pii"}
    assert m.model == "mistral-moderation-2411" and m.cost is None


def test_chat_moderation(drive, wire):
    m = drive().call("moderate", "mistral-moderation-latest",
                     ["How do I make a bomb?", "Here is how to build a bomb"],
                     provider_options={"chat": True})
    assert wire.last.path == "/v1/chat/moderations"
    sent = wire.last.json["input"]
    assert [(x["role"], x["content"]) for x in sent] == [
        ("user", "How do I make a bomb?"), ("assistant", "Here is how to build a bomb")]
    assert m.flagged and len(m.results) == 1
    assert m.results[0].categories["dangerous_and_criminal_content"] is True


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("status, body, headers, cls", [
    (400, error_body("Assistant message must have either content or tool_calls"), {},
     ProviderBadRequestError),
    (400, error_body("Invalid model: mistral-nope", type="invalid_model", code="1500"), {},
     ProviderBadRequestError),
    (400, error_body("Prompt contains 140000 tokens and 0 draft tokens, too large for model "
                     "with 131072 maximum context length", type="invalid_request_invalid_args",
                     code="3051", raw_status_code=400), {}, ContextWindowExceededError),
    (401, {"message": "Unauthorized", "request_id": "req-401"}, {}, ProviderAuthError),
    (403, error_body("This key cannot use this model", type="authentication_error"), {},
     ProviderAuthError),
    (404, {"detail": "Not Found"}, {}, ProviderBadRequestError),
    (422, error_body({"detail": [{"type": "extra_forbidden", "loc": ["body", "store"],
                                  "msg": "Extra inputs are not permitted", "input": False}]}),
     {}, ProviderBadRequestError),
    (429, error_body("Rate limit exceeded", type="rate_limited", code="1300"),
     {"retry-after": "2", "mistral-correlation-id": "corr-429"}, ProviderRateLimitError),
    (500, error_body("Internal server error", type="internal_server_error"), {},
     ProviderServerError),
    (503, "upstream connect error", {}, ProviderServerError),
])
def test_http_errors(drive, wire, status, body, headers, cls):
    wire.fail(status, body, headers=headers)
    with pytest.raises(cls) as info:
        drive().chat(model="mistral-small-latest")
    err = info.value
    assert type(err) is cls and err.status_code == status
    assert err.provider == "mistral" and err.model == "mistral-small-latest"
    assert wire.server.hits == 1
    for text in (str(err), repr(err), str(err.__cause__)):
        assert KEY not in text
    if status == 429:
        assert err.retry_after == 2.0 and err.request_id == "corr-429" and err.code == "1300"
    if status == 422:
        assert "body.store" in str(err)


def test_errors_on_embeddings_and_moderation(drive, wire):
    d = drive()
    wire.fail(401, {"message": "Unauthorized", "request_id": "r"})
    with pytest.raises(ProviderAuthError):
        d.call("embed", "mistral-embed", ["x"])
    wire.fail(500, error_body("boom", type="internal_server_error"))
    with pytest.raises(ProviderServerError):
        d.call("moderate", "mistral-moderation-latest", ["x"])


def test_malformed_response(drive, wire):
    wire.queue(Reply(status=200, body=b'{"id": "cmpl-1", "choices": "none"}',
                     content_type="application/json"))
    with pytest.raises(ProviderResponseError):
        drive().chat(model="mistral-small-latest")


def test_timeout_from_the_call(drive, wire):
    wire.queue(Reply.json({"never": "read"}, delay=1.0))
    with pytest.raises(ProviderTimeoutError):
        drive().chat(model="mistral-small-latest", timeout=0.2)


def test_timeout_from_the_configuration(drive, wire):
    wire.queue(Reply.json({"never": "read"}, delay=1.0))
    with pytest.raises(ProviderTimeoutError):
        drive(timeout=0.2).chat(model="mistral-small-latest")


def test_connection_refused(mode):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = Driver(Router(providers={"mistral": {"api_key": KEY,
                                             "base_url": f"http://127.0.0.1:{port}"}},
                      plugins=["mistral"], retry=1), mode)
    try:
        with pytest.raises(ProviderConnectionError):
            d.chat(model="mistral-small-latest")
    finally:
        d.close()


def test_sdk_retries_are_off_and_ours_apply(drive, wire):
    wire.fail(503, error_body("overloaded", type="service_unavailable"))
    with pytest.raises(ProviderServerError):
        drive(retry=1).chat(model="mistral-small-latest")
    assert wire.server.hits == 1  # the SDK did not retry on its own

    wire.server.reset()
    wire.fail(429, error_body("Rate limit exceeded", type="rate_limited", code="1300"),
              headers={"retry-after": "0"})
    r = drive(retry=RetryPolicy(max_attempts=2, initial_delay=0, jitter=0)).chat(
        model="mistral-small-latest")
    assert r.content == "Hello from Mistral" and wire.server.hits == 2
    assert [a.status for a in r.attempts] == ["ProviderRateLimitError", "ok"]


# ---------------------------------------------------------------------------- configuration


def test_missing_key_is_reported_before_any_request(wire, monkeypatch):
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    router = Router(providers={"mistral": {"base_url": wire.base_url}}, plugins=["mistral"])
    with pytest.raises(ProviderNotConfiguredError, match="MISTRAL_API_KEY") as info:
        router.chat(model="mistral-small-latest", messages=USER)
    assert info.value.provider == "mistral"
    with pytest.raises(ProviderNotConfiguredError):
        asyncio.run(router.aembed("mistral-embed", ["x"]))
    assert wire.server.hits == 0


def test_key_and_base_url_from_the_environment(wire, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    monkeypatch.setenv("MISTRAL_BASE_URL", wire.base_url + "/v1")
    with Router(plugins=["mistral"]) as router:
        assert router.chat(model="ministral-8b-latest", messages=USER).content
    assert wire.last.path == "/v1/chat/completions"
    assert wire.last.headers["authorization"] == f"Bearer {KEY}"


def test_configured_headers_are_sent(drive, wire):
    d = drive(headers={"x-team": "search"})
    d.chat(model="mistral-small-latest")
    assert wire.last.headers["x-team"] == "search"
    d.chat(model="mistral-small-latest", provider_options={"http_headers": {"x-call": "7"}})
    assert (wire.last.headers["x-team"], wire.last.headers["x-call"]) == ("search", "7")


def test_one_sdk_client_reused_and_closed(wire):
    router = Router(providers={"mistral": {"api_key": KEY, "base_url": wire.base_url}},
                    plugins=["mistral"])
    router.chat(model="mistral-small-latest", messages=USER)
    provider = router.provider("mistral")
    side = provider.clients.sync_client()
    router.chat(model="mistral-small-latest", messages=USER)
    assert provider.clients.sync_client() is side
    http = side.sdk.sdk_configuration.client

    async def run() -> Any:
        await router.achat(model="mistral-small-latest", messages=USER)
        aside = provider.clients.async_client()
        await router.achat(model="mistral-small-latest", messages=USER)
        assert provider.clients.async_client() is aside
        await router.aclose()
        return aside.sdk.sdk_configuration.async_client

    ahttp = asyncio.run(run())
    assert http.is_closed and ahttp.is_closed


def test_a_router_used_from_successive_event_loops(wire):
    """asyncio.run() per job: each loop gets its own async client, closed with its loop, and no
    call fails (issue 15: the second loop's first call hit 'Event loop is closed')."""
    router = Router(providers={"mistral": {"api_key": KEY, "base_url": wire.base_url}},
                    plugins=["mistral"], retry=1)
    provider = router.provider("mistral")
    seen: list[Any] = []

    async def job() -> Any:
        r = await router.achat(model="mistral-small-latest", messages=USER)
        async with router.achat_stream(model="mistral-small-latest", messages=USER) as s:
            text = "".join([c.delta async for c in s])
        clients = getattr(provider, "clients", None)
        seen.append(clients and clients.async_client().sdk.sdk_configuration.async_client)
        return r, text

    for _ in range(3):
        r, text = asyncio.run(job())
        assert [a.status for a in r.attempts] == ["ok"]
        assert r.content == text == "Hello from Mistral"
    assert len({id(h) for h in seen}) == 3 and all(h.is_closed for h in seen)
    assert provider.clients.async_clients == 0
    assert wire.server.hits == 6
    router.close()


def test_callers_http_clients_are_used_and_left_open(drive, wire, mode):
    seen: list[str] = []

    async def ahook(request: httpx.Request) -> None:
        seen.append("async " + request.url.path)

    client = httpx.Client(event_hooks={"request": [lambda r: seen.append("sync " + r.url.path)]})
    aclient = httpx.AsyncClient(event_hooks={"request": [ahook]})
    d = drive(http_client=client, async_http_client=aclient)
    d.chat(model="mistral-small-latest")
    d.stream(model="mistral-small-latest")
    prefix = "sync" if mode == "sync" else "async"
    assert seen == [f"{prefix} /v1/chat/completions"] * 2
    d.close()
    assert not client.is_closed and not aclient.is_closed
    client.close()
    asyncio.run(aclient.aclose())


def test_registration_imports_no_sdk():
    code = (
        "import sys\n"
        "from cencori_core import Router\n"
        "r = Router(plugins=['mistral'], providers={'mistral': {'api_key': 'k'}})\n"
        "route = r.resolve('codestral-latest')\n"
        "assert route.provider == 'mistral', route\n"
        "assert r.resolve('magistral-small-2509').provider == 'mistral'\n"
        "bad = [m for m in sys.modules if m.startswith(('mistralai', 'httpx2'))\n"
        "       or m == 'cencori_mistral._provider']\n"
        "assert not bad, bad\n"
        "print(json.dumps(sorted(r.catalog.models)))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    names = set(json.loads(out.stdout))
    assert {"mistral-large-latest", "mistral-medium-latest", "mistral-small-latest",
            "codestral-latest", "magistral-medium-latest", "pixtral-large-latest",
            "ministral-8b-latest", "mistral-embed", "codestral-embed",
            "mistral-moderation-latest"} <= names


def test_missing_sdk_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['mistralai'] = None  # as if the SDK were not installed\n"
        "from cencori_core import MissingDependencyError, Router\n"
        "r = Router(plugins=['mistral'], providers={'mistral': {'api_key': 'k'}})\n"
        "try:\n"
        "    r.chat(model='mistral-small-latest', messages=[{'role': 'user', 'content': 'x'}])\n"
        "except MissingDependencyError as e:\n"
        "    print(e.extra, str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("mistral ")
    assert 'pip install "cencori-core[mistral]"' in out.stdout
