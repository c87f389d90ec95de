"""The public contract of DESIGN.md, tried from the outside as a new user would: only public
names (``cencori_core``, ``cencori_core.errors``, ``cencori_core.policies``,
``cencori_core.testing``, the ``cencori`` command), no provider network.

Every test quotes the DESIGN.md sentence it checks. Provider wire formats (real SDKs against the
loopback servers) are in ``test_contract_wire.py``; policies, hooks, Redis and telemetry in
``test_contract_policies.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import pickle
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import cencori_core
import cencori_core.errors as errors_module
from cencori_core import (
    AllAttemptsFailedError,
    AuthenticationError,
    BudgetExceededError,
    CencoriError,
    ChatChunk,
    ChatResponse,
    ConfigurationError,
    ContentFilterError,
    ContextWindowExceededError,
    Cost,
    EmbeddingResponse,
    GeneratedImage,
    ImageResponse,
    InvalidRequestError,
    Message,
    MissingDependencyError,
    ModelInfo,
    ModerationResponse,
    PluginError,
    PolicyViolationError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderNotConfiguredError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitExceededError,
    RetryPolicy,
    Route,
    Router,
    Secret,
    Speech,
    StreamInterruptedError,
    ToolCall,
    Transcription,
    UnknownModelError,
    Usage,
    UsageRecord,
    hookimpl,
)
from cencori_core.testing import (
    NO_NETWORK,
    FakeProvider,
    FunctionProvider,
    no_network,
    reply,
    tool_call,
)

USER = [{"role": "user", "content": "Hello there"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]
SDK_MODULES = ("openai", "anthropic", "google.genai", "mistralai", "cohere")
ENV_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY",
            "XAI_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "LLAMA_API_KEY", "CO_API_KEY",
            "COHERE_API_KEY")


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_KEYS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("CENCORI_PLUGINS", raising=False)


async def call(router: Router, mode: str, op: str, *args: Any, **kw: Any) -> Any:
    """``router.<op>(...)`` on the sync path, ``await router.a<op>(...)`` on the async one."""
    if mode == "sync":
        return getattr(router, op)(*args, **kw)
    return await getattr(router, "a" + op)(*args, **kw)


async def stream(router: Router, mode: str, **kw: Any) -> tuple[list[ChatChunk], ChatResponse]:
    """Consume a chat stream as a context manager; returns the chunks and ``stream.response``."""
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            chunks = list(s)
    else:
        async with router.achat_stream(**kw) as s:
            chunks = [c async for c in s]
    assert s.response is not None
    return chunks, s.response


def fake_router(fake: FakeProvider | None = None, **kw: Any) -> tuple[Router, FakeProvider]:
    fake = fake or FakeProvider(prefixes=("",))
    return Router(providers={"fake": fake}, load_entrypoints=False, **kw), fake


# ---------------------------------------------------------------------------- public names

# "Top-level exports include `Router`, `RetryPolicy`, `hookimpl`, `Secret`, the types and the
# errors (errors also from `cencori_core.errors`)."
ERROR_NAMES = [
    "CencoriError", "ConfigurationError", "UnknownModelError", "ProviderNotConfiguredError",
    "MissingDependencyError", "PluginError", "InvalidRequestError", "AuthenticationError",
    "PolicyViolationError", "BudgetExceededError", "RateLimitExceededError", "ProviderError",
    "ProviderAuthError", "ProviderBadRequestError", "ProviderRateLimitError",
    "ProviderServerError", "ProviderTimeoutError", "ProviderConnectionError",
    "ContextWindowExceededError", "ContentFilterError", "ProviderResponseError",
    "StreamInterruptedError", "AllAttemptsFailedError",
]
TYPE_NAMES = [
    "Message", "ToolCall", "ToolCallDelta", "Usage", "Cost", "Attempt", "PolicyDecision", "Route",
    "ChatRequest", "ChatResponse", "ChatChunk", "EmbeddingResponse", "ImageResponse",
    "GeneratedImage", "Transcription", "Speech", "ModerationResponse", "ModerationResult",
    "UsageRecord",
]


@pytest.mark.parametrize("name", ["Router", "RetryPolicy", "hookimpl", "Secret", *TYPE_NAMES,
                                  *ERROR_NAMES])
def test_top_level_exports(name: str) -> None:
    assert name in cencori_core.__all__
    value = getattr(cencori_core, name)
    if name in ERROR_NAMES:
        assert getattr(errors_module, name) is value


def test_import_and_router_import_no_provider_sdk() -> None:
    # "`import cencori_core` imports no provider SDK." "Building a `Router` must not import any
    # provider SDK" (plugins import their SDK only when their provider is first used).
    code = (
        "import sys, cencori_core\n"
        f"sdks = {SDK_MODULES!r}\n"
        "def loaded(): return sorted(m for m in sdks if m in sys.modules)\n"
        "assert loaded() == [], loaded()\n"
        "r = cencori_core.Router()\n"
        "for m in ('gpt-4o', 'claude-opus-4', 'gemini-2.5-pro', 'grok-4',\n"
        "          'mistral-large-latest', 'deepseek-chat', 'llama-4-maverick', 'command-a'):\n"
        "    r.resolve(m)\n"
        "r.chat(model='echo/echo', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "assert loaded() == [], loaded()\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS and k != "CENCORI_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------------- errors

# The tree drawn under "## Errors".
ERROR_PARENTS: dict[type, tuple[type, ...]] = {
    ConfigurationError: (CencoriError,),
    UnknownModelError: (ConfigurationError, LookupError),
    ProviderNotConfiguredError: (ConfigurationError,),
    MissingDependencyError: (ConfigurationError,),
    PluginError: (ConfigurationError,),
    InvalidRequestError: (CencoriError,),
    AuthenticationError: (CencoriError,),
    PolicyViolationError: (CencoriError,),
    BudgetExceededError: (PolicyViolationError,),
    RateLimitExceededError: (PolicyViolationError,),
    ProviderError: (CencoriError,),
    ProviderAuthError: (ProviderError,),
    ProviderBadRequestError: (ProviderError,),
    ProviderRateLimitError: (ProviderError,),
    ProviderServerError: (ProviderError,),
    ProviderTimeoutError: (ProviderError,),
    ProviderConnectionError: (ProviderError,),
    ContextWindowExceededError: (ProviderError,),
    ContentFilterError: (ProviderError,),
    ProviderResponseError: (ProviderError,),
    StreamInterruptedError: (ProviderError,),
    AllAttemptsFailedError: (CencoriError, ExceptionGroup),
}


@pytest.mark.parametrize("cls", list(ERROR_PARENTS), ids=lambda c: c.__name__)
def test_error_tree(cls: type) -> None:
    for parent in ERROR_PARENTS[cls]:
        assert issubclass(cls, parent)
    assert issubclass(cls, CencoriError)


def test_error_attributes() -> None:
    # "PolicyViolationError .policy, .rule"; "RateLimitExceededError .retry_after";
    # "ProviderError .provider, .model, .status_code, .retryable, .retry_after, .request_id";
    # "StreamInterruptedError .partial"; "Every `retry_after` is in seconds (float)."
    pv = PolicyViolationError("no", policy="pii", rule="email")
    assert (pv.policy, pv.rule) == ("pii", "email")
    rl = RateLimitExceededError("slow", rule="rpm", retry_after=1.5)
    assert isinstance(rl.retry_after, float) and isinstance(rl, PolicyViolationError)
    pe = ProviderRateLimitError("slow", provider="openai", model="gpt-4o", status_code=429,
                                retry_after=2.0, request_id="req_1")
    assert (pe.provider, pe.model, pe.status_code, pe.retryable, pe.retry_after,
            pe.request_id) == ("openai", "gpt-4o", 429, True, 2.0, "req_1")
    assert ProviderAuthError("no").retryable is False
    partial = ChatResponse(content="half")
    si = StreamInterruptedError("cut", partial=partial)
    assert si.partial is partial
    um = UnknownModelError("unknown", model="gpt-4oo", matches=["gpt-4o"])
    assert isinstance(um, LookupError) and um.matches == ["gpt-4o"]


# ---------------------------------------------------------------------------- Router

async def test_router_constructor_and_context_managers(mode: str) -> None:
    # "Router(providers=..., fallbacks=..., policies=[...], retry=..., timeout=60.0)";
    # "router.close(); await router.aclose()  # also a (async) context manager"
    from cencori_core.policies import PII

    fake = FakeProvider(models=["m1", "m2"])
    kw = dict(providers={"fake": fake}, fallbacks={"m1": ["m2"]}, policies=[PII(mode="redact")],
              retry=RetryPolicy(max_attempts=1), timeout=60.0, load_entrypoints=False)
    if mode == "sync":
        with Router(**kw) as router:
            r = router.chat(model="m1", messages=USER)
    else:
        async with Router(**kw) as router:
            r = await router.achat(model="m1", messages=USER)
    assert r.content == "echo: Hello there" and r.model == "m1"
    assert fake.closed
    with pytest.raises(ConfigurationError):
        router.chat(model="m1", messages=USER)


ALL_CHAT_KEYWORDS: dict[str, Any] = dict(
    temperature=0.7, max_tokens=1000, tools=TOOLS, tool_choice="auto",
    response_format={"type": "json_object"}, stop=["END"], top_p=0.9, seed=7, user="u-1",
    metadata={"trace": "t-1"}, timeout=30.0, retry=RetryPolicy(max_attempts=2), api_key=None,
    project=None, provider_options={"logit_bias": {"50256": -100}})


async def test_chat_accepts_every_listed_keyword(mode: str) -> None:
    # "r = router.chat(model=..., messages=..., temperature=0.7, max_tokens=1000, tools=[...],
    # tool_choice=None, response_format=None, stop=None, top_p=None, seed=None, user=None,
    # metadata=None, timeout=None, retry=None, api_key=None, project=None,
    # provider_options=None)"; "provider_options: a dict passed through to the provider as is"
    router, fake = fake_router()
    await call(router, mode, "chat", model="any-model", messages=USER, **ALL_CHAT_KEYWORDS)
    req = fake.last_request
    assert (req.model, req.temperature, req.max_tokens, req.tool_choice, req.stop, req.top_p,
            req.seed, req.user, req.metadata, req.timeout) == (
        "any-model", 0.7, 1000, "auto", ["END"], 0.9, 7, "u-1", {"trace": "t-1"}, 30.0)
    assert req.tools[0]["function"]["name"] == "get_weather"
    assert req.response_format == {"type": "json_object"}
    assert req.provider_options == {"logit_bias": {"50256": -100}}
    _, resp = await stream(router, mode, model="any-model", messages=USER, **ALL_CHAT_KEYWORDS)
    assert fake.last_request.provider_options == {"logit_bias": {"50256": -100}}
    assert resp.content == "echo: Hello there"


async def test_chat_defaults_all_none(mode: str) -> None:
    # the keywords of the listed signature all default to None
    for fn in (Router.chat, Router.achat, Router.chat_stream, Router.achat_stream):
        params = inspect.signature(fn).parameters
        for name in ("temperature", "max_tokens", "tools", "tool_choice", "response_format",
                     "stop", "top_p", "seed", "user", "metadata", "timeout", "retry", "api_key",
                     "project", "provider_options"):
            assert params[name].default is None, (fn.__name__, name)
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("op", ["chat", "achat", "chat_stream", "achat_stream"])
async def test_unknown_keyword_names_it_the_allowed_ones_and_provider_options(op: str) -> None:
    # "an unknown keyword argument is an InvalidRequestError that names the allowed ones and
    # points to provider_options (typos are caught)"; "The `InvalidRequestError` for an unknown
    # keyword names the offending keyword, the allowed ones and `provider_options`."
    router, fake = fake_router()
    with pytest.raises(InvalidRequestError) as info:
        result = getattr(router, op)(model="m", messages=USER, temprature=0.5)
        if inspect.isawaitable(result):
            await result
    text = str(info.value)
    assert "temprature" in text and "provider_options" in text
    for allowed in ("temperature", "max_tokens", "tools", "stop", "seed", "user", "retry",
                    "api_key", "project"):
        assert allowed in text
    assert fake.calls == []


OTHER_OPS: dict[str, tuple[tuple[Any, ...], tuple[str, ...]]] = {
    # op: (positional arguments, its own keywords the message must name)
    "embed": (("m", "text"), ("dimensions", "input_type")),
    "generate_image": (("m", "a fox"), ("size", "n", "quality")),
    "transcribe": (("m", b"RIFF"), ("language", "prompt")),
    "speech": (("m", "hello"), ("voice", "format", "speed")),
}


@pytest.mark.parametrize("op", list(OTHER_OPS))
async def test_unknown_keyword_of_other_operations_is_refused(op: str, mode: str) -> None:
    # the same rule for every operation: the typo is named, with provider_options
    router, fake = fake_router()
    args, _ = OTHER_OPS[op]
    kw = {"voice": "alloy"} if op == "speech" else {}
    with pytest.raises(InvalidRequestError) as info:
        await call(router, mode, op, *args, typo_kw=1, **kw)
    assert "typo_kw" in str(info.value) and "provider_options" in str(info.value)
    assert fake.calls == []


@pytest.mark.parametrize("op", list(OTHER_OPS))
def test_unknown_keyword_of_other_operations_names_their_own_keywords(op: str) -> None:
    # "The `InvalidRequestError` for an unknown keyword names ... the allowed ones"
    router, _ = fake_router()
    args, own = OTHER_OPS[op]
    kw = {"voice": "alloy"} if op == "speech" else {}
    with pytest.raises(InvalidRequestError) as info:
        getattr(router, op)(*args, typo_kw=1, **kw)
    for name in own:
        assert name in str(info.value), name


async def test_invalid_request_is_raised_before_any_network_call(mode: str) -> None:
    # "InvalidRequestError  bad input, raised before any network call"
    router, fake = fake_router()
    for bad in (dict(temperature=float("nan")), dict(temperature=3.0), dict(max_tokens=0),
                dict(messages=[]), dict(messages=[{"role": "wizard", "content": "x"}]),
                dict(messages=[{"role": "tool", "content": "x"}]), dict(tools=[{"x": 1}])):
        kw = {"model": "m", "messages": USER, **bad}
        with pytest.raises(InvalidRequestError):
            await call(router, mode, "chat", **kw)
    assert fake.calls == []


@pytest.mark.parametrize(("provider", "model", "env_vars"), [
    ("openai", "gpt-4o", ("OPENAI_API_KEY",)),
    ("anthropic", "claude-opus-4", ("ANTHROPIC_API_KEY",)),
    ("google", "gemini-2.5-pro", ("GOOGLE_API_KEY", "GEMINI_API_KEY")),
    ("xai", "grok-4", ("XAI_API_KEY",)),
    ("mistral", "mistral-large-latest", ("MISTRAL_API_KEY",)),
    ("deepseek", "deepseek-chat", ("DEEPSEEK_API_KEY",)),
    ("meta", "llama-4-maverick", ("LLAMA_API_KEY",)),
    ("cohere", "command-a", ("CO_API_KEY",)),
])
async def test_missing_key_is_reported_at_first_use_naming_the_variable(
        no_env_keys: None, mode: str, provider: str, model: str,
        env_vars: tuple[str, ...]) -> None:
    # "A missing provider key is reported when that provider is first used, not when the Router
    # is built." "ProviderNotConfiguredError  names the environment variable / how to enable the
    # provider"
    router = Router(plugins=["openai", "anthropic", "google", "mistral", "cohere"])
    assert router.resolve(model).provider == provider
    with pytest.raises(ProviderNotConfiguredError) as info:
        await call(router, mode, "chat", model=model, messages=USER)
    for var in env_vars:
        assert var in str(info.value)
    assert info.value.provider == provider
    router.close()


# ---------------------------------------------------------------------------- responses

async def test_chat_response_attributes(mode: str) -> None:
    # "r.content, r.tool_calls (id, name, arguments (dict | None), arguments_raw (str)),
    # r.finish_reason, r.usage (prompt_tokens, completion_tokens, total_tokens, cached_tokens,
    # reasoning_tokens, source), r.cost, r.model, r.provider, r.id, r.latency_ms, r.attempts,
    # r.raw, r.message, r.to_openai()"
    fake = FakeProvider(prefixes=("",))
    fake.script(reply("Let me check.", tool_calls=[tool_call("get_weather", {"city": "Paris"},
                                                             id="call_1")],
                      usage=Usage.of(12, 8, cached_tokens=4, reasoning_tokens=3)))
    router, _ = fake_router(fake)
    r = await call(router, mode, "chat", model="my-model", messages=USER, tools=TOOLS)
    assert r.content == "Let me check."
    (tc,) = r.tool_calls
    assert isinstance(tc, ToolCall)
    assert (tc.id, tc.name, tc.arguments, tc.arguments_raw) == (
        "call_1", "get_weather", {"city": "Paris"}, '{"city": "Paris"}')
    assert r.finish_reason == "tool_calls"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens, u.source) == (12, 8, 20, 4, 3, "provider")
    assert r.cost is None  # "None when the model is unpriced"
    assert (r.model, r.provider) == ("my-model", "fake")
    assert r.id and r.latency_ms > 0 and len(r.attempts) == 1
    assert r.attempts[0].status == "ok"
    msg = r.message
    assert isinstance(msg, Message) and msg.role == "assistant" and msg.tool_calls == [tc]
    # "r.message  the assistant message, ready to append to the conversation"
    follow = [*USER, msg, {"role": "tool", "tool_call_id": tc.id, "content": "18C"}]
    await call(router, mode, "chat", model="my-model", messages=follow, tools=TOOLS)
    sent = fake.last_request.messages
    assert [m.role for m in sent] == ["user", "assistant", "tool"]
    assert sent[1].tool_calls[0].id == "call_1"


def test_to_openai_is_a_valid_openai_chat_completion() -> None:
    # "r.to_openai()  # dict in OpenAI ChatCompletion shape": the openai SDK's own type accepts it
    from openai.types.chat import ChatCompletion

    fake = FakeProvider(prefixes=("",))
    fake.script(reply(None, tool_calls=[tool_call("get_weather", {"city": "Paris"})],
                      usage=Usage.of(3, 4)))
    router, _ = fake_router(fake)
    r = router.chat(model="m", messages=USER, tools=TOOLS)
    completion = ChatCompletion.model_validate(r.to_openai())
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.total_tokens == 7


def test_finish_reasons_are_the_listed_ones() -> None:
    # 'r.finish_reason  # "stop" | "length" | "tool_calls" | "content_filter" | "error"'
    from typing import get_args

    from cencori_core.types import FinishReason

    assert set(get_args(FinishReason)) == {"stop", "length", "tool_calls", "content_filter",
                                           "error"}


async def test_messages_as_dicts_with_parts_or_message_objects(mode: str) -> None:
    # "Messages are accepted as OpenAI-style dicts (text or content parts: text, image_url,
    # input_audio) or as `Message` objects; tools as OpenAI-style function definitions."
    router, fake = fake_router()
    parts = [{"type": "text", "text": "what is this?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
             {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]
    messages = [Message(role="system", content="be brief"), {"role": "user", "content": parts}]
    await call(router, mode, "chat", model="m", messages=messages, tools=TOOLS)
    sent = fake.last_request.messages
    assert sent[0].content == "be brief" and [p["type"] for p in sent[1].content] == [
        "text", "image_url", "input_audio"]


async def test_stream_as_context_manager_and_plain_iteration(mode: str) -> None:
    # "with router.chat_stream(model=..., messages=...) as stream:   # also plain iteration";
    # 'chunk.delta  # text delta ("" when none)'; "chunk.tool_calls  # tool-call deltas with a
    # stable index"; "stream.response  # the final ChatResponse (usage, cost) after the stream
    # ends"; "async with router.achat_stream(...) as stream: async for chunk in stream: ..."
    fake = FakeProvider(prefixes=("",))
    calls = [tool_call("a", {"x": 1}, id="c0"), tool_call("b", {"y": 2}, id="c1")]
    fake.script(reply("one two three", tool_calls=calls, usage=Usage.of(5, 6)), "plain text")
    router, _ = fake_router(fake)
    chunks, resp = await stream(router, mode, model="m", messages=USER, tools=TOOLS)
    assert "".join(c.delta for c in chunks) == "one two three"
    assert all(isinstance(c.delta, str) for c in chunks)
    indexes = {d.index: d.name for c in chunks for d in c.tool_calls if d.name}
    assert indexes == {0: "a", 1: "b"}
    assert [(t.id, t.arguments) for t in resp.tool_calls] == [("c0", {"x": 1}), ("c1", {"y": 2})]
    assert resp.usage.total_tokens == 11 and resp.finish_reason == "tool_calls"
    # plain iteration, no context manager
    if mode == "sync":
        s = router.chat_stream(model="m", messages=USER)
        text = "".join(c.delta for c in s)
    else:
        s = router.achat_stream(model="m", messages=USER)
        text = "".join([c.delta async for c in s])
    assert text == "plain text" and s.response is not None
    assert s.response.content == "plain text"


# ---------------------------------------------------------------------------- other operations

def test_other_operation_signatures() -> None:
    # "router.embed(model, input, *, dimensions=None, input_type=None)",
    # "router.generate_image(model, prompt, *, size=None, n=1, quality=None)",
    # "router.transcribe(model, file, *, language=None, prompt=None)",
    # 'router.speech(model, input, *, voice, format="mp3", speed=None)',
    # "router.moderate(model, input)"; "each has an async twin with an "a" prefix"
    expected = {
        "embed": (["model", "input"], {"dimensions": None, "input_type": None}),
        "generate_image": (["model", "prompt"], {"size": None, "n": 1, "quality": None}),
        "transcribe": (["model", "file"], {"language": None, "prompt": None}),
        "speech": (["model", "input"], {"voice": inspect.Parameter.empty, "format": "mp3",
                                        "speed": None}),
        "moderate": (["model", "input"], {}),
    }
    for op, (positional, keywords) in expected.items():
        for name in (op, "a" + op):
            fn = getattr(Router, name)
            assert inspect.iscoroutinefunction(fn) == name.startswith("a"), name
            params = inspect.signature(fn).parameters
            pos = [p.name for p in params.values()
                   if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD][1:]
            assert pos == positional, name
            for kw, default in keywords.items():
                assert params[kw].kind is inspect.Parameter.KEYWORD_ONLY, (name, kw)
                assert params[kw].default == default, (name, kw)


async def test_other_operations_return_their_types_with_usage(mode: str) -> None:
    # "-> EmbeddingResponse(vectors, usage, cost)", "-> ImageResponse(images=[GeneratedImage(
    # b64_json|url, revised_prompt)])", "-> Transcription(text, language, duration)",
    # "-> Speech(audio: bytes, format)", "-> ModerationResponse(flagged, results=[...categories,
    # scores])"; the built-in `echo` provider serves every capability
    router = Router(load_entrypoints=False)
    e = await call(router, mode, "embed", "echo/echo", ["a", "b"], dimensions=4)
    assert isinstance(e, EmbeddingResponse) and len(e.vectors) == 2 and len(e.vectors[0]) == 4
    assert e.usage.prompt_tokens == 2 and e.usage.source == "provider" and e.cost is None
    one = await call(router, mode, "embed", "echo/echo", "single")
    assert len(one.vectors) == 1
    im = await call(router, mode, "generate_image", "echo/echo", "a fox", size="256x256", n=2)
    assert isinstance(im, ImageResponse) and len(im.images) == 2
    img = im.images[0]
    assert isinstance(img, GeneratedImage) and (img.b64_json or img.url)
    assert img.revised_prompt == "a fox"
    t = await call(router, mode, "transcribe", "echo/echo", b"RIFF0000WAVE", language="en")
    assert isinstance(t, Transcription) and isinstance(t.text, str)
    assert t.language == "en" and t.duration is None
    sp = await call(router, mode, "speech", "echo/echo", "hello", voice="alloy")
    assert isinstance(sp, Speech) and isinstance(sp.audio, bytes) and sp.audio and sp.format
    m = await call(router, mode, "moderate", "echo/echo", ["fine", "also fine"])
    assert isinstance(m, ModerationResponse) and m.flagged is False and len(m.results) == 2
    assert isinstance(m.results[0].categories, dict) and isinstance(m.results[0].scores, dict)


async def test_to_dict_is_json_safe_everywhere(mode: str) -> None:
    # "All public types are typed, with `to_dict()`." "`to_dict()` returns every public
    # attribute under its own name, with JSON-safe values."
    from dataclasses import fields

    fake = FakeProvider("openai", models=["gpt-4o"])
    fake.script(reply("priced", usage=Usage.of(1000, 500)))
    router = Router(providers={"openai": fake}, load_entrypoints=False)
    objs: list[Any] = [await call(router, mode, "chat", model="gpt-4o", messages=USER)]
    echo = Router(load_entrypoints=False)
    objs += [await call(echo, mode, "embed", "echo/echo", "x"),
             await call(echo, mode, "generate_image", "echo/echo", "fox"),
             await call(echo, mode, "transcribe", "echo/echo", b"RIFF"),
             await call(echo, mode, "speech", "echo/echo", "hi", voice="alloy"),
             await call(echo, mode, "moderate", "echo/echo", "hi"),
             echo.resolve("echo/echo")]
    assert objs[0].cost is not None
    for obj in objs:
        d = obj.to_dict()
        json.dumps(d)
        assert set(d) == {f.name for f in fields(obj) if f.name != "raw"}, type(obj).__name__
    chat = objs[0].to_dict()
    assert Decimal(chat["cost"]["total"]) == objs[0].cost.total
    assert chat["usage"]["prompt_tokens"] == 1000
    speech = objs[4]
    import base64

    assert base64.b64decode(speech.to_dict()["audio"]) == speech.audio


def test_cost_is_genai_prices_decimals_unrounded() -> None:
    # "Cost values are genai-prices' Decimals, unrounded." "r.cost  # Cost: input, output, total
    # as Decimal USD; None when the model is unpriced"
    import genai_prices

    fake = FakeProvider("openai", models=["gpt-4o"])
    fake.script(reply("x", usage=Usage.of(1234, 567)), reply("y", usage=Usage.of(1, 1)))
    router = Router(providers={"openai": fake}, load_entrypoints=False)
    r = router.chat(model="gpt-4o", messages=USER)
    price = genai_prices.calc_price(genai_prices.Usage(input_tokens=1234, output_tokens=567),
                                    "gpt-4o", provider_id="openai")
    assert isinstance(r.cost, Cost)
    assert (r.cost.input, r.cost.output, r.cost.total) == (
        price.input_price, price.output_price, price.total_price)
    assert all(isinstance(v, Decimal) for v in (r.cost.input, r.cost.output, r.cost.total))
    unpriced = Router(providers={"fake": FakeProvider(prefixes=("",))}, load_entrypoints=False)
    assert unpriced.chat(model="no-such-priced-model", messages=USER).cost is None


# ---------------------------------------------------------------------------- model resolution

TASK_MODELS = [("gpt-4o", "openai"), ("claude-opus-4", "anthropic"),
               ("gemini-2.5-pro", "google"), ("grok-4", "xai"),
               ("mistral-large-latest", "mistral"), ("deepseek-chat", "deepseek"),
               ("llama-4-maverick", "meta"), ("command-a", "cohere")]


@pytest.mark.parametrize(("name", "provider"), TASK_MODELS)
def test_task_model_names_resolve_to_their_provider(name: str, provider: str) -> None:
    # README: "the router resolves a model name (`gpt-4o`, `claude-opus-4`, `gemini-2.5-pro`,
    # `grok-4`, `mistral-large-latest`, `deepseek-chat`, `llama-4-maverick`, `command-a`) to a
    # provider plugin"
    route = Router().resolve(name)
    assert isinstance(route, Route) and route.provider == provider


PREFIXES = [
    ("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
    ("chatgpt-", "openai"), ("text-embedding-", "openai"), ("dall-e", "openai"),
    ("gpt-image", "openai"), ("whisper", "openai"), ("tts-", "openai"),
    ("omni-moderation", "openai"), ("claude-", "anthropic"), ("gemini-", "google"),
    ("imagen-", "google"), ("grok-", "xai"), ("mistral-", "mistral"), ("codestral", "mistral"),
    ("magistral", "mistral"), ("pixtral", "mistral"), ("ministral", "mistral"),
    ("deepseek-", "deepseek"), ("llama-", "meta"), ("Llama-", "meta"), ("command-", "cohere"),
    ("embed-", "cohere"), ("rerank-", "cohere"),
]


@pytest.mark.parametrize(("prefix", "provider"), PREFIXES)
def test_plugin_prefixes(prefix: str, provider: str) -> None:
    # "A bare name is resolved through the catalog (exact names, aliases) and then each plugin's
    # prefixes: `gpt-`, `o1`, ... → openai; `claude-` → anthropic; ..." and "A name matched only
    # by a provider prefix is sent as written"
    name = prefix + "zz-unlisted-7"
    route = Router().resolve(name)
    assert (route.provider, route.model, route.via) == (provider, name, "prefix")


def test_explicit_provider_model_split_only_on_a_registered_provider() -> None:
    # '"provider/model" is explicit (split only when the prefix is a registered provider, so ids
    # such as `ft:gpt-4o:org` or `meta-llama/Llama-3` survive)'
    router = Router(providers={"local": {"type": "openai_compatible", "api_key": "k",
                                         "base_url": "http://127.0.0.1:9/v1",
                                         "models": ["meta-llama/Llama-3"]}})
    ft = router.resolve("openai/ft:gpt-4o:org")
    assert (ft.provider, ft.model) == ("openai", "ft:gpt-4o:org")
    local = router.resolve("local/meta-llama/Llama-3")
    assert (local.provider, local.model) == ("local", "meta-llama/Llama-3")
    with pytest.raises(UnknownModelError) as info:
        router.resolve("meta-llama/Llama-3")  # "meta-llama" is no provider: not split
    assert info.value.model == "meta-llama/Llama-3"


def test_resolve_explains_the_route() -> None:
    # "`router.resolve(name)` returns a `Route` with `alias`, `model`, `provider` (str) and
    # `deployment`, and a readable `str()`." "(alias → canonical model → provider → deployment)"
    route = Router().resolve("claude-opus-4")
    assert route.alias == "claude-opus-4" and route.model.startswith("claude-opus-4")
    assert route.provider == "anthropic" and route.deployment is None
    text = str(route)
    assert text.index(repr(route.alias)) < text.index(repr(route.model)) \
        < text.index(repr(route.provider))
    plain = Router().resolve("gpt-4o")
    assert plain.alias is None and plain.model == "gpt-4o" and "openai" in str(plain)


def test_unknown_model_lists_close_matches() -> None:
    # "UnknownModelError  close matches; also a LookupError"
    with pytest.raises(LookupError) as info:
        Router().resolve("gpt4o")  # no prefix matches either
    assert isinstance(info.value, UnknownModelError)
    assert "gpt-4o" in info.value.matches and "gpt-4o" in str(info.value)


def test_two_plugins_claiming_one_name_is_a_startup_error() -> None:
    # "Two plugins claiming one name is an error at start-up, not a silent override."
    def plugin(provider: str, **claims: Any) -> object:
        class P:
            @hookimpl
            def cencori_register_providers(self, register: Any) -> None:
                register(provider, lambda cfg: FakeProvider(provider), requires_key=False,
                         **claims)

        return P()

    with pytest.raises(PluginError, match="dup-model"):
        Router(plugins=[plugin("p1", models=(ModelInfo(name="dup-model"),)),
                        plugin("p2", models=(ModelInfo(name="dup-model"),))],
               load_entrypoints=False)
    with pytest.raises(PluginError, match="zz-"):
        Router(plugins=[plugin("p1", prefixes=("zz-",)), plugin("p2", prefixes=("zz-",))],
               load_entrypoints=False)


def test_allow_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # "Plugins: pluggy, entry-point group `cencori`, allow-list `CENCORI_PLUGINS` /
    # `Router(plugins=...)`."
    monkeypatch.setenv("CENCORI_PLUGINS", "openai")
    router = Router()
    assert router.resolve("gpt-4o").provider == "openai"
    with pytest.raises(UnknownModelError):
        router.resolve("claude-opus-4")
    assert Router(plugins=["anthropic"]).resolve("claude-opus-4").provider == "anthropic"


def test_register_callback_takes_prefixes_models_and_aliases() -> None:
    # "cencori_register_providers(register)  register(name, factory, *, prefixes=(), models=(),
    # aliases={})"; a third-party plugin uses only public names
    class Plugin:
        @hookimpl
        def cencori_register_providers(self, register: Any) -> None:
            register("acme", lambda cfg: FakeProvider("acme"), prefixes=("acme-",),
                     models=(ModelInfo(name="acme-large-2", context_window=8000),),
                     aliases={"acme-large": "acme-large-2"}, requires_key=False)

    router = Router(plugins=[Plugin()], load_entrypoints=False)
    route = router.resolve("acme-large")
    assert (route.alias, route.model, route.provider) == ("acme-large", "acme-large-2", "acme")
    assert router.resolve("acme-small").via == "prefix"
    r = router.chat(model="acme-large", messages=USER)
    assert (r.provider, r.model) == ("acme", "acme-large-2")


@pytest.mark.parametrize(("model", "kw"), [
    ("deepseek-chat", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    ("text-embedding-3-small", {"messages": USER}),
])
async def test_catalog_capabilities_refuse_before_sending(mode: str, model: str,
                                                          kw: dict[str, Any]) -> None:
    # "Catalog entries carry capabilities"; "a request for a capability the model lacks is an
    # `InvalidRequestError`" (issue 2), raised before any network call
    router = Router(providers={"deepseek": {"api_key": "sk-d-0123456789abcdefgh"},
                               "openai": {"api_key": "sk-o-0123456789abcdefgh"}})
    with no_network(), pytest.raises(InvalidRequestError):
        await call(router, mode, "chat", model=model, **kw)


async def test_capability_checks_apply_to_catalog_entries_only(mode: str) -> None:
    # "A name matched only by a provider prefix is sent as written and assumed to support the
    # operation asked; capability checks apply to catalog entries only."
    fake = FakeProvider("openai", models=[ModelInfo(name="text-embedding-3-small",
                                                    capabilities=frozenset({"embeddings"}))],
                        prefixes=("text-embedding-",))
    router = Router(providers={"openai": fake}, load_entrypoints=False)
    with pytest.raises(InvalidRequestError, match="does not support chat"):
        await call(router, mode, "chat", model="text-embedding-3-small", messages=USER)
    assert fake.calls == []
    await call(router, mode, "chat", model="text-embedding-future", messages=USER)
    assert fake.last_request.model == "text-embedding-future"


# ---------------------------------------------------------------------------- configuration

def test_secret_is_masked_and_refuses_pickling() -> None:
    # "`Secret(value: str)`; `.get_secret_value()` returns the clear text." "keys live in a
    # `Secret` type whose repr/str are masked"
    key = "sk-contract-0123456789abcdefghij"
    s = Secret(key)
    assert s.get_secret_value() == key
    assert key not in repr(s) and key not in str(s) and key not in f"{s}"
    with pytest.raises(TypeError):
        pickle.dumps(s)
    router = Router(providers={"openai": {"api_key": key}})
    assert key not in repr(router)
    assert key not in repr(router.provider("openai").config)


async def test_retry_policy_router_per_model_and_per_call(mode: str) -> None:
    # "`RetryPolicy(max_attempts=3, ...)`: `Router(retry=RetryPolicy(...))`, per model, and per
    # call `router.chat(..., retry=RetryPolicy(...))`."
    fast = dict(initial_delay=0, jitter=0)
    fake = FakeProvider(models=["steady", "fragile"])
    router = Router(providers={"fake": fake}, load_entrypoints=False,
                    retry=RetryPolicy(max_attempts=3, **fast),
                    retry_per_model={"fragile": RetryPolicy(max_attempts=2, **fast)})
    fake.fail(500, times=2)
    r = await call(router, mode, "chat", model="steady", messages=USER)
    assert [a.status for a in r.attempts] == ["ProviderServerError", "ProviderServerError", "ok"]
    fake.fail(500, times=2)
    with pytest.raises(AllAttemptsFailedError) as info:
        await call(router, mode, "chat", model="fragile", messages=USER)
    assert len(info.value.attempts) == 2
    fake.fail(500)
    with pytest.raises(ProviderServerError):
        await call(router, mode, "chat", model="steady", messages=USER,
                   retry=RetryPolicy(max_attempts=1))


async def test_retry_after_is_seconds_and_is_honoured(mode: str) -> None:
    # "Every `retry_after` is in seconds (float)." "honouring `retry-after-ms` / `Retry-After`"
    fake = FakeProvider(prefixes=("",))
    fake.fail(429, retry_after=0.01)
    router, _ = fake_router(fake, retry=RetryPolicy(max_attempts=2, initial_delay=5))
    r = await call(router, mode, "chat", model="m", messages=USER)
    assert r.attempts[0].status == "ProviderRateLimitError" and r.attempts[0].status_code == 429
    assert r.attempts[1].delay == 0.01  # the provider's Retry-After, not the 5 s backoff


async def test_all_attempts_failed_lists_every_attempt_in_order(mode: str) -> None:
    # "AllAttemptsFailedError  every attempt, in order (an ExceptionGroup)"
    fake = FakeProvider(models=["m1", "m2"])
    router, _ = fake_router(fake, fallbacks={"m1": ["m2"]},
                            retry=RetryPolicy(max_attempts=2, initial_delay=0, jitter=0))
    fake.fail(500, times=3).fail(429, retry_after=0)
    with pytest.raises(AllAttemptsFailedError) as info:
        await call(router, mode, "chat", model="m1", messages=USER)
    err = info.value
    assert isinstance(err, ExceptionGroup)
    assert [type(e) for e in err.exceptions] == [ProviderServerError, ProviderServerError,
                                                 ProviderServerError, ProviderRateLimitError]
    assert [(a.model, a.status) for a in err.attempts] == [
        ("m1", "ProviderServerError"), ("m1", "ProviderServerError"),
        ("m2", "ProviderServerError"), ("m2", "ProviderRateLimitError")]
    caught = []
    try:
        raise err
    except* ProviderRateLimitError as group:
        caught.append(len(group.exceptions))
    except* ProviderServerError as group:
        caught.append(len(group.exceptions))
    assert caught == [1, 3]


async def test_fallback_names_the_route_that_answered(mode: str) -> None:
    # "`response.model` / `.provider` name the route that produced the answer (after a fallback,
    # the fallback); the requested name is in `attempts[0]`."
    primary = FakeProvider("primary", models=["big-model"])
    backup = FakeProvider("backup", models=["small-model"])
    router = Router(providers={"primary": primary, "backup": backup}, load_entrypoints=False,
                    fallbacks={"big-model": ["small-model"]}, retry=RetryPolicy(max_attempts=1))
    primary.fail(503)
    r = await call(router, mode, "chat", model="big-model", messages=USER)
    assert (r.model, r.provider) == ("small-model", "backup")
    assert (r.attempts[0].model, r.attempts[0].provider) == ("big-model", "primary")


def test_config_from_mapping_every_key(monkeypatch: pytest.MonkeyPatch, no_env_keys: None) -> None:
    # "`[providers.<name>]` (`api_key` or `api_key_env`, `base_url`, `timeout`, `type`,
    # `models`)": the same keys in Python
    monkeypatch.setenv("MY_LOCAL_KEY", "local-secret-0123456789")
    router = Router(providers={
        "openai": {"api_key": "sk-a-0123456789abcdefgh", "base_url": "http://127.0.0.1:9/v1",
                   "timeout": 7},
        "local": {"type": "openai_compatible", "api_key_env": "MY_LOCAL_KEY",
                  "base_url": "http://127.0.0.1:9/v1", "models": ["qwen2"]}})
    cfg = router.provider("openai").config
    assert cfg.base_url == "http://127.0.0.1:9/v1" and cfg.timeout == 7.0
    assert cfg.api_key.get_secret_value() == "sk-a-0123456789abcdefgh"
    local = router.provider("local").config
    assert local.type == "openai_compatible" and local.models == ["qwen2"]
    assert local.api_key.get_secret_value() == "local-secret-0123456789"
    assert router.resolve("local/qwen2").provider == "local"


async def test_api_key_env_names_the_variable_at_first_use(
        tmp_path: Path, mode: str, no_env_keys: None) -> None:
    # "`[providers.<name>]` (`api_key` or `api_key_env`, ...)"; "ProviderNotConfiguredError
    # names the environment variable"; reported "when that provider is first used"
    path = tmp_path / "cencori.toml"
    path.write_text('[providers.openai]\napi_key_env = "CONTRACT_UNSET_KEY_VAR"\n')
    router = Router.from_config(path)
    with pytest.raises(ProviderNotConfiguredError) as info:
        await call(router, mode, "chat", model="gpt-4o", messages=USER)
    assert "CONTRACT_UNSET_KEY_VAR" in str(info.value)


def test_toml_every_table_is_optional(tmp_path: Path) -> None:
    # "TOML (`Router.from_config(path)`): every table optional, providers also come from the
    # environment."
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    router = Router.from_config(empty)
    assert router.chat(model="echo/echo", messages=USER).content == "echo: Hello there"
    router.close()


def test_toml_policies_tables_switch_policies_on(tmp_path: Path) -> None:
    # "`[policies.<name>]` with `mode` and the policy's options (names: `pii`, `secrets`,
    # `injection`, `access`, `output`; a table present switches the policy on with its default
    # mode)"; "`PII(..., responses=True)` (TOML `responses = true`)"
    from cencori_core.policies import PII, Access, OutputGuard, PromptInjection, Secrets

    path = tmp_path / "cencori.toml"
    path.write_text('[policies.pii]\nmode = "block"\nresponses = true\n[policies.secrets]\n'
                    '[policies.injection]\n[policies.access]\ndeny_models = ["x-*"]\n'
                    '[policies.output]\n')
    router = Router.from_config(path, load_entrypoints=False)
    kinds = {type(p): p for p in router.policies}
    assert set(kinds) == {PII, Secrets, PromptInjection, Access, OutputGuard}
    assert kinds[PII].mode == "block" and kinds[PII].responses is True
    assert kinds[Secrets].mode == Secrets().mode
    assert kinds[PromptInjection].mode == PromptInjection().mode
    with pytest.raises(PolicyViolationError) as info:
        router.chat(model="echo/echo", messages=[{"role": "user", "content": "a@b.example"}])
    assert info.value.policy == "pii"


def test_toml_retry_fallbacks_and_ledger(tmp_path: Path) -> None:
    # "`[fallbacks]` (`"gpt-4o" = ["claude-sonnet-4"]`), `[retry]`, ..., `[ledger]` (`path`)"
    path = tmp_path / "cencori.toml"
    path.write_text('[retry]\nmax_attempts = 1\n[fallbacks]\n"gpt-4o" = ["echo/echo"]\n'
                    '[ledger]\npath = "usage.db"\n[telemetry]\nenabled = false\n')
    fake = FakeProvider("openai", models=["gpt-4o"])
    fake.fail(500)
    router = Router.from_config(path, providers={"openai": fake}, load_entrypoints=False)
    r = router.chat(model="gpt-4o", messages=USER)
    assert r.provider == "echo" and len(r.attempts) == 2  # one try of gpt-4o, then fallback
    router.close()
    assert (tmp_path / "usage.db").exists()
    again = Router(ledger_path=tmp_path / "usage.db", load_entrypoints=False)
    rows = {row.key: row for row in again.usage.summary(by="provider")}
    assert rows["echo"].calls == 1
    again.close()


# ---------------------------------------------------------------------------- testing kit

async def test_fake_provider_scripts_everything_and_records_calls(mode: str) -> None:
    # "`FakeProvider` (every capability; scripted replies, chunks, tool calls, usage, errors
    # such as a 429 with Retry-After, latency; records the calls it received; echoes when
    # nothing is scripted)"
    fake = FakeProvider(prefixes=("",), latency=0.001)
    router, _ = fake_router(fake, retry=RetryPolicy(max_attempts=1))
    fake.script("scripted", reply(tool_calls=[tool_call("f", {"x": 1})], usage=Usage.of(2, 3)))
    assert (await call(router, mode, "chat", model="m", messages=USER)).content == "scripted"
    r = await call(router, mode, "chat", model="m", messages=USER)
    assert r.tool_calls[0].arguments == {"x": 1} and r.usage.total_tokens == 5
    fake.fail(429, retry_after=1.5)
    with pytest.raises(ProviderRateLimitError) as info:
        await call(router, mode, "chat", model="m", messages=USER)
    assert info.value.retry_after == 1.5 and info.value.status_code == 429
    fake.script(["a", "b", ChatChunk(finish_reason="stop", usage=Usage.of(1, 2))])
    chunks, resp = await stream(router, mode, model="m", messages=USER)
    assert [c.delta for c in chunks if c.delta] == ["a", "b"] and resp.usage.total_tokens == 3
    assert (await call(router, mode, "chat", model="m", messages=USER)).content == \
        "echo: Hello there"
    e = await call(router, mode, "embed", "m", "x")
    assert len(e.vectors) == 1
    assert [op for op, _ in fake.calls] == ["chat", "chat", "chat", "chat_stream", "chat",
                                             "embed"]
    assert fake.last_request.input == ["x"]


def test_function_provider_sync_handler() -> None:
    # "`FunctionProvider(handler)` (sync or async handler)"
    from cencori_core.testing import FunctionProvider

    fp = FunctionProvider(lambda req: f"got {req.messages[-1].content}", prefixes=("",))
    router = Router(providers={"fn": fp}, load_entrypoints=False)
    assert router.chat(model="m", messages=USER).content == "got Hello there"
    with router.chat_stream(model="m", messages=USER) as s:
        assert "".join(c.delta for c in s) == "got Hello there"


async def test_function_provider_async_handler() -> None:
    async def handler(req: Any) -> str:
        await asyncio.sleep(0)
        return "async " + req.model

    fp = FunctionProvider(handler, prefixes=("",))
    router = Router(providers={"fn": fp}, load_entrypoints=False)
    assert (await router.achat(model="m1", messages=USER)).content == "async m1"
    async with router.achat_stream(model="m2", messages=USER) as s:
        assert "".join([c.delta async for c in s]) == "async m2"


async def test_no_network_blocks_real_providers_only(mode: str, no_env_keys: None) -> None:
    # "`no_network()` (a context variable that makes real providers refuse to send)";
    # "`no_network()` is a context manager that sets the context variable for its block."
    # "The built-in provider `echo` (models `echo/...`) needs no key and no network"
    router = Router(providers={"openai": {"api_key": "sk-n-0123456789abcdefgh",
                                          "base_url": "http://127.0.0.1:9/v1"},
                               "fake": FakeProvider(models=["fake-model"])},
                    retry=RetryPolicy(max_attempts=3))
    assert NO_NETWORK.get() is False
    with no_network():
        assert NO_NETWORK.get() is True
        with pytest.raises(ProviderConnectionError, match="no_network"):
            await call(router, mode, "chat", model="gpt-4o", messages=USER)
        assert (await call(router, mode, "chat", model="fake-model", messages=USER)).content
        assert (await call(router, mode, "chat", model="echo/anything",
                           messages=USER)).content == "echo: Hello there"
    assert NO_NETWORK.get() is False


def test_pytest_fixtures(cencori_router: Router, cencori_fake_provider: FakeProvider,
                         cencori_register: Any) -> None:
    # "The pytest plugin (entry point `pytest11`, no side effects at import) offers
    # `cencori_router`, `cencori_fake_provider` and `cencori_register` fixtures."
    seen: list[str] = []

    class Spy:
        @hookimpl
        def cencori_pre_request(self, context: Any) -> None:
            seen.append(context.request.model)

    cencori_register(Spy())
    cencori_fake_provider.script("from the fixture")
    r = cencori_router.chat(model="whatever-model", messages=USER)
    assert r.content == "from the fixture" and seen == ["whatever-model"]
    assert cencori_fake_provider.last_request.model == "whatever-model"


# ---------------------------------------------------------------------------- plugins

async def test_missing_sdk_names_the_pip_extra_at_first_use(mode: str) -> None:
    # "a missing SDK raises `MissingDependencyError` naming `pip install
    # "cencori-core[anthropic]"`"; "A plugin imports its SDK only when its provider is first used"
    def factory(cfg: Any) -> Any:
        import cencori_no_such_sdk_for_contract  # noqa: F401

        raise AssertionError("unreachable")

    class Plugin:
        @hookimpl
        def cencori_register_providers(self, register: Any) -> None:
            register("ghost", factory, prefixes=("ghost-",), requires_key=False, extra="ghost")

    router = Router(plugins=[Plugin()], load_entrypoints=False)  # building is fine
    with pytest.raises(MissingDependencyError) as info:
        await call(router, mode, "chat", model="ghost-1", messages=USER)
    assert 'pip install "cencori-core[ghost]"' in str(info.value)
    assert isinstance(info.value, ImportError)


def test_a_plugin_that_fails_to_load_is_reported_and_skipped(tmp_path: Path) -> None:
    # "a plugin that fails to load is reported and skipped, never crashing the router"; the
    # report names the distribution (issue 2). A broken distribution on the path, as pip would
    # leave it: its entry point names a module that raises at import.
    dist = tmp_path / "broken_cencori_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-cencori-plugin\n"
                                   "Version: 0.1\n")
    (dist / "entry_points.txt").write_text("[cencori]\nbroken = broken_cencori_plugin\n")
    (tmp_path / "broken_cencori_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    code = (
        "import warnings\n"
        "from cencori_core import Router\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    r = Router()\n"
        "assert r.chat(model='echo/echo', messages=[{'role': 'user', 'content': 'hi'}]).content\n"
        "assert r.resolve('gpt-4o').provider == 'openai'\n"
        "print('|'.join(str(w.message) for w in caught))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("CENCORI_PLUGINS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "broken-cencori-plugin" in out.stdout and "boom at import" in out.stdout


async def test_hooks_returning_awaitables_are_plugin_errors(mode: str) -> None:
    # "pluggy has **no async hooks**: our hooks are synchronous" / "A hook returning an awaitable
    # is a `PluginError` on both paths."
    async def later() -> None:
        return None

    class Bad:
        @hookimpl
        def cencori_pre_request(self, context: Any) -> Any:
            return later()

    router, fake = fake_router()
    router.register(Bad())
    with pytest.raises(PluginError):
        await call(router, mode, "chat", model="m", messages=USER)
    assert fake.calls == []

    class AsyncHook:
        @hookimpl
        async def cencori_pre_request(self, context: Any) -> None:
            return None

    with pytest.raises(PluginError):
        router.register(AsyncHook())


# ---------------------------------------------------------------------------- usage and projects

class Recorder:
    """A ``cencori_record_usage`` sink, as the plugin contract describes."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    @hookimpl
    def cencori_record_usage(self, context: Any, record: UsageRecord) -> None:
        self.records.append(record)


async def test_usage_records_fields_and_one_per_call(mode: str) -> None:
    # "Usage records (delivered to `cencori_record_usage`) have at least `request_id`,
    # `project`, `provider`, `model`, `operation`, `usage`, `cost`, `status`, `latency_ms`,
    # `attempts`."
    rec = Recorder()
    fake = FakeProvider("openai", models=["gpt-4o"])
    router = Router(providers={"openai": fake}, plugins=[rec], load_entrypoints=False,
                    retry=RetryPolicy(max_attempts=1))
    fake.script(reply("ok", usage=Usage.of(10, 5)))
    r = await call(router, mode, "chat", model="gpt-4o", messages=USER)
    await stream(router, mode, model="gpt-4o", messages=USER)
    fake.fail(500)
    with pytest.raises(ProviderServerError):
        await call(router, mode, "chat", model="gpt-4o", messages=USER)
    await call(router, mode, "embed", "gpt-4o", "x")
    assert [x.status for x in rec.records] == ["ok", "ok", "error", "ok"]
    assert [x.operation for x in rec.records] == ["chat", "chat", "chat", "embed"]
    first = rec.records[0]
    # the fields DESIGN names are in the record's public view (to_dict), not only attributes
    assert {"request_id", "project", "provider", "model", "operation", "usage", "cost", "status",
            "latency_ms", "attempts"} <= set(first.to_dict())
    assert first.request_id and first.project is None
    assert (first.provider, first.model) == ("openai", "gpt-4o")
    assert first.usage == r.usage and first.cost == r.cost and first.cost is not None
    assert first.latency_ms > 0 and len(first.attempts) == 1
    json.dumps(first.to_dict())


async def test_usage_summary_rows(mode: str) -> None:
    # "`router.usage.summary(by=...)` rows have `calls`, `prompt_tokens`, `completion_tokens`,
    # `total_tokens`, `cost`."
    fake = FakeProvider("openai", models=["gpt-4o", "gpt-4o-mini"])
    router = Router(providers={"openai": fake}, load_entrypoints=False)
    fake.script(reply("a", usage=Usage.of(10, 5)), reply("b", usage=Usage.of(20, 10)),
                reply("c", usage=Usage.of(1, 1)))
    await call(router, mode, "chat", model="gpt-4o", messages=USER, user="ann")
    await call(router, mode, "chat", model="gpt-4o", messages=USER, user="bob")
    await call(router, mode, "chat", model="gpt-4o-mini", messages=USER, user="ann")
    rows = {row.key: row for row in router.usage.summary(by="model")}
    row = rows["gpt-4o"]
    assert (row.calls, row.prompt_tokens, row.completion_tokens, row.total_tokens) == (
        2, 30, 15, 45)
    assert isinstance(row.cost, Decimal) and row.cost > 0
    users = {row.key: row.calls for row in router.usage.summary(by="user")}
    assert users == {"ann": 2, "bob": 1}
    for by in ("provider", "project", "operation", "status", "day"):
        assert sum(r.calls for r in router.usage.summary(by=by)) == 3


async def test_projects_and_keys(mode: str) -> None:
    # "`router.projects.create(name, providers=[...], budget=Decimal | None, rate_limits=None)
    # -> str` (the `csk_` key, shown once), `router.projects.revoke(key)`,
    # `router.projects.list()`; per call `api_key=` or `project=`." "An unknown or revoked key
    # is an `AuthenticationError`; a model whose provider the project has not enabled is a
    # `ProviderNotConfiguredError` that says how to enable it." "`projects.create()` of an
    # existing name raises `ConfigurationError`."
    rec = Recorder()
    fake = FakeProvider(models=["fake-model"])
    router = Router(providers={"fake": fake}, plugins=[rec], load_entrypoints=False)
    key = router.projects.create("acme", providers=["fake"], budget=Decimal("10"),
                                 rate_limits={"rpm": 60, "tpm": 100_000})
    assert key.startswith("csk_")
    (project,) = router.projects.list()
    assert project.name == "acme" and project.providers == ("fake",)
    assert project.budget == Decimal("10") and project.rate_limits == {"rpm": 60, "tpm": 100_000}
    assert key not in json.dumps(project.to_dict())  # only a hash is stored, never shown again
    await call(router, mode, "chat", model="fake-model", messages=USER, api_key=key)
    await call(router, mode, "chat", model="fake-model", messages=USER, project="acme")
    assert [r.project for r in rec.records] == ["acme", "acme"]
    assert key not in json.dumps([r.to_dict() for r in rec.records])
    with pytest.raises(ProviderNotConfiguredError) as info:
        await call(router, mode, "chat", model="echo/echo", messages=USER, api_key=key)
    assert "echo" in str(info.value) and "providers=" in str(info.value)
    with pytest.raises(AuthenticationError):
        await call(router, mode, "chat", model="fake-model", messages=USER,
                   api_key="csk_000000000000_" + "A" * 43)
    with pytest.raises(ConfigurationError):
        router.projects.create("acme")
    calls_before = len(fake.calls)
    router.projects.revoke(key)
    with pytest.raises(AuthenticationError):
        await call(router, mode, "chat", model="fake-model", messages=USER, api_key=key)
    assert len(fake.calls) == calls_before


async def test_project_rate_limits_and_budget(mode: str) -> None:
    # 'rate_limits={"rpm": 60, "tpm": 100_000}'; "RateLimitExceededError .retry_after";
    # "BudgetExceededError"; "Every `retry_after` is in seconds (float)."
    fake = FakeProvider("openai", models=["gpt-4o"])
    router = Router(providers={"openai": fake}, load_entrypoints=False)
    limited = router.projects.create("limited", rate_limits={"rpm": 1})
    await call(router, mode, "chat", model="gpt-4o", messages=USER, api_key=limited)
    with pytest.raises(RateLimitExceededError) as info:
        await call(router, mode, "chat", model="gpt-4o", messages=USER, api_key=limited)
    assert isinstance(info.value.retry_after, float) and 0 < info.value.retry_after <= 60
    assert isinstance(info.value, PolicyViolationError) and info.value.rule
    poor = router.projects.create("poor", budget=Decimal("0.000001"))
    n = len(fake.calls)
    with pytest.raises(BudgetExceededError):
        await call(router, mode, "chat", model="gpt-4o", messages=USER, api_key=poor,
                   max_tokens=1000)
    assert len(fake.calls) == n  # refused before the provider


def test_ledger_path_keeps_projects_keys_and_usage(tmp_path: Path) -> None:
    # "a Router keeps projects, keys and the ledger in memory unless a path is configured
    # (`Router(ledger_path=...)` / `[ledger] path`, holding keys too: SQLite)"
    db = tmp_path / "cencori.db"
    first = Router(ledger_path=db, load_entrypoints=False)
    key = first.projects.create("acme")
    first.chat(model="echo/echo", messages=USER, api_key=key)
    first.close()
    second = Router(ledger_path=db, load_entrypoints=False)
    assert [p.name for p in second.projects.list()] == ["acme"]
    second.chat(model="echo/echo", messages=USER, api_key=key)
    assert {r.key: r.calls for r in second.usage.summary(by="project")} == {"acme": 2}
    second.close()
    # "project keys (`csk_` + random; only a hash is stored)"
    stored = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.is_file())
    assert key.encode() not in stored and key.split("_")[-1].encode() not in stored
    memory = Router(load_entrypoints=False)
    assert memory.projects.list() == []


# ---------------------------------------------------------------------------- CLI

def _cli(*args: str, home: Path, env: dict[str, str] | None = None,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("cencori")
    base = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, input=stdin,
                          env={**base, "CENCORI_HOME": str(home), **(env or {})}, timeout=120)


def test_cli_chat_streams_json_and_usage_persists(tmp_path: Path) -> None:
    # 'CLI: `cencori chat "Hello" -m echo/echo` (streams by default)'; "`cencori chat --json`
    # prints one JSON object (the final response's `to_dict()`) and nothing else on stdout";
    # "The CLI stores them in `$CENCORI_HOME/cencori.db` (default `~/.cencori/`) so `cencori
    # keys` and `cencori usage` persist between runs."
    out = _cli("chat", "Hello", "-m", "echo/echo", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "echo: Hello"
    out = _cli("chat", "--json", "Hi there", "-m", "echo/echo", home=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    expected = set(ChatResponse(content="").to_dict())
    assert set(data) == expected and data["content"] == "echo: Hi there"
    out = _cli("usage", "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert row["key"] == "echo" and row["calls"] == 2


def test_cli_models_keys_and_errors(tmp_path: Path) -> None:
    # "`cencori models` (catalog and which providers are configured)", "`cencori keys
    # create|list|revoke`", "CLI: errors are one line on stderr with exit code 2"
    out = _cli("models", home=tmp_path, env={"OPENAI_API_KEY": "sk-cli-0123456789abcdefgh"})
    assert out.returncode == 0, out.stderr
    assert "gpt-4o" in out.stdout and "openai (configured)" in out.stdout
    assert "anthropic (no key)" in out.stdout
    out = _cli("keys", "create", "acme", home=tmp_path)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key.startswith("csk_")
    listed = _cli("keys", "list", home=tmp_path)
    assert "acme" in listed.stdout and key not in listed.stdout
    again = _cli("keys", "create", "acme", home=tmp_path)
    assert again.returncode == 2 and again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1 and "Traceback" not in again.stderr
    assert _cli("keys", "revoke", key, home=tmp_path).returncode == 0
    listed = _cli("keys", "list", "--json", home=tmp_path)
    (project,) = json.loads(listed.stdout)
    assert project["keys"][0]["revoked"] is not None
    for bad in (["chat", "Hi", "-m", "nosuch-model-zz"], ["chat", "Hi", "-m", "gpt-4o"],
                ["keys", "revoke", "csk_000000000000"], ["chat", "Hi", "--no-such-flag"],
                ["chat", "Hi", "-t", "warm"], ["frobnicate"], ["keys", "create"]):
        out = _cli(*bad, home=tmp_path)
        assert out.returncode == 2, bad
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cencori: error:"), out.stderr
