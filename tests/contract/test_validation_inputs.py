"""Input that used to crash (issue 13, item 8): each of these raised a raw UnicodeEncodeError,
AttributeError, TypeError, RecursionError or OverflowError, or failed only after sending. Now
each is an InvalidRequestError before anything is sent, through the real SDKs (OpenAI's and
Google's, which puts the model name in the URL path) against their loopback wire servers."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from test_contract_wire import USER, Wires, call, mode, stream
from test_validation_options import _servers, wires

from cencori_core import ConfigurationError, InvalidRequestError, RetryPolicy, Router
from cencori_core.config import ProviderConfig

__all__ = ["_servers", "mode", "wires"]  # fixtures, imported for pytest

FN = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def deep(n: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(n):
        value = [value]
    return value


def assistant_call(arguments: Any) -> list[dict[str, Any]]:
    return [*USER, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]


# (name, chat keyword arguments over model/messages defaults, fragment of the message)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("role-list", {"messages": [{"role": ["user"], "content": "x"}]}, "role"),
    ("role-dict", {"messages": [{"role": {"r": "user"}, "content": "x"}]}, "role"),
    ("role-huge-int", {"messages": [{"role": 10**5000, "content": "x"}]}, "role"),  # no repr()
    ("surrogate-model", {"model": "gemini-2.5-pro\ud800"}, "lone surrogate"),
    ("surrogate-content", {"messages": [{"role": "user", "content": "hi \udc80"}]},
     "lone surrogate"),
    ("surrogate-part", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "\ud83d"}]}]}, "lone surrogate"),
    ("tools-not-json", {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "default": object()}}}]}, "not a JSON"),
    ("response-format-not-json", {"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"enum": {1, 2}}}}}, "not a JSON"),
    ("provider-options-not-json", {"provider_options": {"thinking": {"budget": math.nan}}},
     "not valid JSON"),
    ("tool-arguments-not-json", {"messages": assistant_call({"when": object()}),
                                 "tools": [FN]}, "not a JSON"),
    ("tools-5000-deep", {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "default": deep(5000)}}}]},
     "nested more than"),
    ("arguments-5000-deep", {"messages": assistant_call("[" * 5000 + "]" * 5000),
                             "tools": [FN]}, "nested more than"),
    ("timeout-inf", {"timeout": math.inf}, "timeout must be a positive number"),
    ("timeout-nan", {"timeout": math.nan}, "timeout must be a positive number"),
    ("timeout-negative", {"timeout": -1}, "timeout must be a positive number"),
    ("retry-deadline-inf", {"retry": {"deadline": math.inf}}, "RetryPolicy.deadline"),
    ("retry-initial-delay-inf", {"retry": {"initial_delay": math.inf}},
     "RetryPolicy.initial_delay"),
    ("provider-options-timeout", {"provider_options": {"timeout": "x"}}, "timeout="),
    ("provider-options-stream", {"provider_options": {"stream": True}}, "chat_stream()"),
    ("reasoning-int", {"messages": [*USER, {"role": "assistant", "content": "a",
                                            "reasoning": 5}, *USER]}, "reasoning"),
    ("provider-data-str", {"messages": [*USER, {"role": "assistant", "content": "a",
                                                "provider_data": "x"}, *USER]},
     "provider_data must be a dict"),
    ("model-dotdot", {"model": "models/../../v1/files"}, "'..' path segment"),
    ("model-percent", {"model": "%2e%2e/gemini-2.5-pro"}, "'%'"),
    ("model-crlf", {"model": "gemini-2.5-pro\r\nX-Injected: 1"}, "'\\r'"),
    ("model-slash", {"model": "/gemini-2.5-pro"}, "empty"),
    ("max-tokens-huge", {"max_tokens": 10**5000}, "max_tokens must be a positive integer"),
    ("seed-huge", {"seed": 10**400}, "seed must be an integer"),
    ("temperature-huge", {"temperature": 10**400}, "temperature must be a number"),
    ("top-p-huge", {"top_p": -(10**400)}, "top_p must be a number"),
]


@pytest.mark.parametrize("provider", ["google", "openai"])
@pytest.mark.parametrize(("kwargs", "fragment"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_bad_input_is_an_invalid_request_before_sending(
        wires: Wires, mode: str, provider: str, kwargs: dict, fragment: str) -> None:
    router = wires.router(provider)
    model = "gemini-2.5-pro" if provider == "google" else "gpt-4o"
    kw = {"model": model, "messages": USER, **kwargs}
    before = len(wires.requests(provider))
    with pytest.raises(InvalidRequestError) as info:
        await call(router, mode, "chat", **kw)
    assert fragment in str(info.value)
    with pytest.raises(InvalidRequestError):
        await stream(router, mode, **kw)
    assert len(wires.requests(provider)) == before


@pytest.mark.parametrize("field", ["deadline", "initial_delay", "max_delay", "jitter",
                                   "max_retry_after", "multiplier"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "1", True, 10**400])
def test_retry_policy_numbers_are_finite_and_bounded(field: str, value: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        RetryPolicy(**{field: value})
    assert f"RetryPolicy.{field}" in str(info.value)
    with pytest.raises(InvalidRequestError):
        RetryPolicy.coerce({field: value})


@pytest.mark.parametrize("value", [0, -1, 10**400, True, 1.5, 101])
def test_retry_policy_max_attempts(value: Any) -> None:
    with pytest.raises(InvalidRequestError, match="max_attempts"):
        RetryPolicy(max_attempts=value)


@pytest.mark.parametrize(("op", "args", "kwargs"), [
    ("embed", ("text-embedding-3-small", ["ok", "\ud800"]), {}),
    ("embed", ("text-embedding-3-small", "x"), {"dimensions": 10**400}),
    ("embed", ("text-embedding-3-small", "x"), {"metadata": {"k": object()}}),
    ("embed", ("text-embedding-3-small\n", "x"), {}),
    ("generate_image", ("gpt-image-1", "a \udfff cat"), {}),
    ("generate_image", ("gpt-image-1", "a cat"), {"size": "1024xbig"}),
    ("generate_image", ("gpt-image-1", "a cat"), {"n": 10**400}),
    ("speech", ("tts-1", "hi"), {"voice": "al\ud800loy"}),
    ("speech", ("tts-1", "hi"), {"voice": "alloy", "speed": math.nan}),
    ("transcribe", ("whisper-1", "/no/such\x00file"), {}),
    ("transcribe", ("whisper-1", "/dev/zero"), {}),  # endless: read() never returned
    ("transcribe", ("whisper-1", b"RIFF"), {"language": "\ud800"}),
    ("moderate", ("omni-moderation-latest", "x"), {"timeout": math.inf}),
    ("moderate", ("omni-moderation-latest", "x"), {"api_key": 5}),
    ("moderate", ("omni-moderation-latest", "x"), {"retry": "twice"}),
])
async def test_other_operations_refuse_bad_input_before_sending(
        wires: Wires, mode: str, op: str, args: tuple, kwargs: dict) -> None:
    router = wires.router("openai")
    before = len(wires.requests("openai"))
    with pytest.raises(InvalidRequestError):
        await call(router, mode, op, *args, **kwargs)
    assert len(wires.requests("openai")) == before


def test_a_fifo_is_refused_without_blocking(wires: Wires, tmp_path) -> None:
    # open() of a FIFO blocks until a writer comes; the call must not hang there
    fifo = tmp_path / "audio.wav"
    os.mkfifo(fifo)
    router = wires.router("openai")
    with pytest.raises(InvalidRequestError, match="not a regular file"):
        router.transcribe("whisper-1", fifo)


@pytest.mark.parametrize("value", [math.inf, math.nan, -1, 0, 10**400, "1e999", True, 86_401])
def test_configured_timeouts_are_bounded(value: Any) -> None:
    # an infinite provider timeout reached the SDK clients (OverflowError on the first call)
    with pytest.raises(ConfigurationError, match="timeout must be a positive number"):
        ProviderConfig.from_mapping("openai", {"timeout": value})
    with pytest.raises(InvalidRequestError, match="timeout must be a positive number"):
        Router(timeout=value, load_entrypoints=False)
