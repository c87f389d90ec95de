"""Input validation: precise messages, raised before any provider is touched (sync and async)."""

from __future__ import annotations

import math

import pytest
from parity import MODES, raises

from cencori_core import InvalidRequestError, Router
from cencori_core.testing import FakeProvider

OK = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}

CASES = [
    # (kwargs, fragment of the message)
    ({"messages": []}, "must not be empty"),
    ({"messages": "hi"}, "must be a list of messages"),
    ({"messages": [42]}, "messages[0] must be a dict"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "'wizard' is not one of"),
    ({"messages": [{"content": "x"}]}, "role None is not one of"),
    ({"messages": [{"role": "user"}]}, "content is missing"),
    ({"messages": [{"role": "user", "content": 5}]}, "must be a string or a list of content"),
    ({"messages": [{"role": "user", "content": [{"type": "txt", "text": "a"}]}]},
     "'txt' is not one of"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
     "text part needs a string"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     "image_url part needs"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio",
                                                  "input_audio": {"data": "x"}}]}]},
     "input_audio part needs"),
    ({"messages": [{"role": "system", "content": [{"type": "image_url",
                                                    "image_url": {"url": "http://x"}}]}]},
     "text parts only"),
    ({"messages": [{"role": "tool", "content": "42"}]}, "needs 'tool_call_id'"),
    ({"messages": [{"role": "assistant"}]}, "needs content or tool_calls"),
    ({"messages": [{"role": "user", "content": "x", "tool_calls": []}], "bogus_key": 1},
     "bogus_key"),
    ({"messages": [{"role": "user", "content": "x", "colour": "red"}]}, "unknown key"),
    ({"messages": [{"role": "assistant", "content": None,
                    "tool_calls": [{"id": "1", "function": {"arguments": "{}"}}]}]},
     "tool_calls[0] needs"),
    ({"temperature": 2.5}, "temperature must be a number from 0 to 2"),
    ({"temperature": -0.1}, "temperature must be a number from 0 to 2"),
    ({"temperature": math.nan}, "temperature must be a number from 0 to 2"),
    ({"temperature": "hot"}, "temperature must be a number from 0 to 2"),
    ({"top_p": 1.5}, "top_p must be a number from 0 to 1"),
    ({"max_tokens": 0}, "max_tokens must be a positive integer"),
    ({"max_tokens": -5}, "max_tokens must be a positive integer"),
    ({"max_tokens": 1.5}, "max_tokens must be a positive integer"),
    ({"tools": [{"name": "f"}]}, "must be a function definition"),
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]},
     "needs a non-empty 'name'"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
     "parameters must be a JSON schema object"),
    ({"tools": TOOL}, "tools must be a list"),
    ({"tool_choice": "auto"}, "no tools are given"),
    ({"tools": [TOOL], "tool_choice": "sometimes"}, "tool_choice 'sometimes'"),
    ({"tools": [TOOL], "tool_choice": {"type": "function"}}, "must name a function"),
    ({"stop": 5}, "stop must be a string or a list"),
    ({"response_format": {"type": "yaml"}}, "response_format must be"),
    ({"response_format": {"type": "json_schema"}}, "json_schema needs"),
    ({"seed": "1"}, "seed must be an integer"),
    ({"timeout": 0}, "timeout must be a positive number"),
    ({"metadata": ["x"]}, "metadata must be a dict"),
    ({"provider_options": "x"}, "provider_options must be a dict"),
    ({"model": ""}, "model must be a non-empty string"),
    ({"temprature": 0.5}, "unexpected keyword argument(s) temprature"),
]


@pytest.fixture
def setup():
    fake = FakeProvider(prefixes=("",))
    return Router(providers={"fake": fake}, load_entrypoints=False), fake


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("kwargs", "fragment"), CASES,
                         ids=[f"case{i}" for i in range(len(CASES))])
def test_invalid_chat_arguments(setup, mode, kwargs, fragment):
    router, fake = setup
    call_kwargs = {"model": "m", "messages": OK, **kwargs}
    err = raises(router, mode, "chat", InvalidRequestError, **call_kwargs)
    assert fragment in str(err)
    err = raises(router, mode, "chat_stream", InvalidRequestError, **call_kwargs)
    assert fragment in str(err)
    assert fake.calls == []  # nothing reached the provider


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("op", "args", "kwargs", "fragment"), [
    ("embed", ("m", []), {}, "non-empty string or a non-empty list"),
    ("embed", ("m", [1, 2]), {}, "non-empty string or a non-empty list"),
    ("embed", ("m", "x"), {"dimensions": 0}, "dimensions must be a positive integer"),
    ("embed", ("m", "x"), {"dimension": 3}, "unexpected keyword argument(s) dimension"),
    ("generate_image", ("m", ""), {}, "prompt must be a non-empty string"),
    ("generate_image", ("m", "cat"), {"size": "big"}, "size must look like"),
    ("generate_image", ("m", "cat"), {"n": 0}, "n must be a positive integer"),
    ("speech", ("m", "hi"), {"voice": ""}, "voice must be a non-empty string"),
    ("speech", ("m", "hi"), {"voice": "alloy", "speed": 9}, "speed must be a number"),
    ("transcribe", ("m", b""), {}, "file is empty"),
    ("transcribe", ("m", 42), {}, "file must be a path, bytes or a binary file object"),
    ("moderate", ("m", ""), {}, "must not be empty"),
])
def test_invalid_other_operations(setup, mode, op, args, kwargs, fragment):
    router, fake = setup
    err = raises(router, mode, op, InvalidRequestError, *args, **kwargs)
    assert fragment in str(err)
    assert fake.calls == []


def test_valid_messages_are_normalized(setup):
    router, fake = setup
    router.chat(model="m", messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": "https://x/y.png"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "f", "arguments": '{"a": 1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ], tools=[TOOL], tool_choice={"type": "function", "function": {"name": "f"}})
    req = fake.last_request
    assert req.messages[1].content[1] == {"type": "image_url",
                                          "image_url": {"url": "https://x/y.png"}}
    assert req.messages[2].tool_calls[0].arguments == {"a": 1}
    assert req.messages[3].tool_call_id == "c1"
