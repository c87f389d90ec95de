"""From the outside, as an attacker: hostile values in every argument of the public operations.
Each input either works or raises a ``CencoriError`` subclass before anything is sent; none
raises anything else (TypeError, RecursionError, UnicodeEncodeError, ...) and none hangs."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cencori_core import CencoriError, Router
from cencori_core.testing import FakeProvider, no_network


class Evil:
    """An object whose dunders misbehave: printing, comparing or hashing it raises."""

    def __str__(self) -> str:
        raise RuntimeError("evil __str__")

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("evil __eq__")

    def __hash__(self) -> int:
        raise RuntimeError("evil __hash__")

    def __len__(self) -> int:
        raise RuntimeError("evil __len__")

    def __iter__(self) -> Any:
        raise RuntimeError("evil __iter__")


class EvilStr(str):
    """A str subclass whose conversions misbehave (its text is still a plain string)."""

    def __str__(self) -> str:
        raise RuntimeError("evil str subclass")

    def __format__(self, spec: str) -> str:
        raise RuntimeError("evil str __format__")


class PlainStr(str):
    """A harmless str subclass (as LangChain's and enums' strings are)."""


class EvilEqStr(str):
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("evil str __eq__")

    __hash__ = str.__hash__


def _cyclic_dict() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


def _cyclic_list() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


def _deep(n: int) -> Any:
    value: Any = "x"
    for _ in range(n):
        value = [value]
    return value


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["\ud800", "a\x00b", "\ufeff", "\u202e", "", " ", "system", "user",
                     "sk-" + "A" * 40]),
    st.binary(max_size=8), st.just(0).map(lambda _: Evil()),
    st.sampled_from(["user", "text", "sk-" + "B" * 30]).map(PlainStr),
    st.just(0).map(lambda _: _cyclic_dict()), st.just(0).map(lambda _: _cyclic_list()),
    st.sampled_from([70, 200]).map(_deep),  # deeper: the test below (and printable)
    st.sampled_from([float("nan"), math.inf, b"\xff", (1, 2), frozenset({1, 2})]),
    st.just(0).map(lambda _: object()),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.integers(),
                                                      st.none()), inner, max_size=4)),
    max_leaves=12)
roles = st.one_of(st.sampled_from(["system", "developer", "user", "assistant", "tool"]), scalars)
part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": json_like}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": st.one_of(json_like, st.fixed_dictionaries(
                               {"url": json_like}))}),
    st.fixed_dictionaries({"type": st.sampled_from(["input_audio", "file", "video", None])},
                          optional={"input_audio": json_like, "file": json_like}),
    json_like)
message = st.one_of(
    st.fixed_dictionaries({"role": roles, "content": st.one_of(json_like, st.lists(part,
                                                                                   max_size=3))},
                          optional={"name": json_like, "tool_calls": json_like,
                                    "tool_call_id": json_like, "reasoning": json_like,
                                    "provider_data": json_like, "extra": json_like}),
    json_like)
messages = st.one_of(st.lists(message, min_size=0, max_size=4), json_like)

# No shrinking: the shrinker replays drawn strings and cannot rebuild the str subclass.
SETTINGS = settings(derandomize=True, max_examples=300, deadline=None,
                    suppress_health_check=list(HealthCheck),
                    phases=(Phase.explicit, Phase.generate))


def _router() -> tuple[Router, FakeProvider]:
    fake = FakeProvider(prefixes=("",))
    return Router(providers={"fake": fake}, load_entrypoints=False), fake


ROUTER, FAKE = _router()


def _attempt(call: Any) -> None:
    """The call works, or raises a CencoriError; anything else fails the test."""
    with no_network():
        try:
            call()
        except CencoriError as exc:
            str(exc)  # the message itself must be printable
            repr(exc)


@SETTINGS
@given(msgs=messages)
def test_hostile_messages_work_or_raise_a_cencori_error(msgs):
    _attempt(lambda: ROUTER.chat(model="fake/m", messages=msgs))


@SETTINGS
@given(msgs=messages)
def test_hostile_messages_on_a_stream_work_or_raise_a_cencori_error(msgs):
    def call() -> None:
        with ROUTER.chat_stream(model="fake/m", messages=msgs) as stream:
            for _ in stream:
                pass
    _attempt(call)


OK_MSGS = [{"role": "user", "content": "hi"}]
keyword_values = st.one_of(json_like, st.lists(json_like, max_size=3))
KEYWORDS = ["temperature", "max_tokens", "tools", "tool_choice", "response_format", "stop",
            "top_p", "seed", "user", "metadata", "timeout", "retry", "api_key", "project",
            "provider_options", "n", "logprobs", "top_logprobs", "reasoning_effort",
            "max_completion_tokens", "parallel_tool_calls", "presence_penalty",
            "frequency_penalty", "cache"]


@SETTINGS
@given(name=st.sampled_from(KEYWORDS), value=keyword_values)
def test_hostile_keyword_values_work_or_raise_a_cencori_error(name, value):
    _attempt(lambda: ROUTER.chat(model="fake/m", messages=OK_MSGS, **{name: value}))


@SETTINGS
@given(name=st.sampled_from(KEYWORDS), value=keyword_values)
def test_hostile_keyword_values_async_work_or_raise_a_cencori_error(name, value):
    _attempt(lambda: asyncio.run(ROUTER.achat(model="fake/m", messages=OK_MSGS,
                                              **{name: value})))


@SETTINGS
@given(model=st.one_of(json_like, st.text(max_size=300),
                       st.builds(lambda a, b: f"{a}/{b}", st.text(max_size=10),
                                 st.text(max_size=10))))
def test_hostile_model_names_work_or_raise_a_cencori_error(model):
    _attempt(lambda: ROUTER.chat(model=model, messages=OK_MSGS))
    _attempt(lambda: ROUTER.resolve(model))


@SETTINGS
@given(op=st.sampled_from(["embed", "generate_image", "transcribe", "speech", "moderate",
                           "rerank"]),
       first=json_like, kw=st.dictionaries(st.sampled_from(
           ["dimensions", "input_type", "size", "n", "quality", "language", "prompt", "voice",
            "format", "speed", "top_n", "documents", "user", "metadata", "timeout",
            "provider_options"]), json_like, max_size=3))
def test_hostile_arguments_of_every_operation_work_or_raise_a_cencori_error(op, first, kw):
    if op == "generate_image":
        kw.pop("prompt", None)  # its positional argument
    def call() -> None:
        fn = getattr(ROUTER, op)
        if op == "rerank":
            fn("fake/m", first, kw.pop("documents", ["a"]), **kw)
        elif op == "speech":
            kw.setdefault("voice", "alloy")
            fn("fake/m", first, **kw)
        else:
            fn("fake/m", first, **kw)
    _attempt(call)


@pytest.mark.parametrize("make", [_cyclic_dict, _cyclic_list, lambda: _deep(100_000)],
                         ids=["cyclic-dict", "cyclic-list", "100k-deep"])
def test_a_cyclic_or_very_deep_value_is_refused_everywhere(make):
    value = make()
    for kw in ({"metadata": {"a": value}}, {"provider_options": {"x": value}},
               {"tools": [{"type": "function", "function": {"name": "f", "parameters": value}}]},
               {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "x", "schema": value}}}):
        with pytest.raises(CencoriError):
            ROUTER.chat(model="fake/m", messages=OK_MSGS, **kw)
    with pytest.raises(CencoriError):
        ROUTER.chat(model="fake/m", messages=[{"role": "user", "content": value}])


@pytest.mark.parametrize("cls", [EvilEqStr, EvilStr])
def test_a_role_whose_dunders_raise_works_as_a_plain_str_or_is_an_invalid_request_error(cls):
    # the role is read as a plain str copy: the subclass's own __eq__/__format__ never run
    r = ROUTER.chat(model="fake/m", messages=[{"role": cls("user"), "content": "hi"}])
    assert r.content is not None
    sent = FAKE.calls[-1][1].messages[0]
    assert type(sent.role) is str and sent.role == "user"
    with pytest.raises(CencoriError):  # a user message without content, whatever its role type
        ROUTER.chat(model="fake/m", messages=[{"role": cls("user"), "content": None}])


def test_tool_calls_whose_len_raises_are_an_invalid_request_error():
    with pytest.raises(CencoriError):
        ROUTER.chat(model="fake/m", messages=[*OK_MSGS, {"role": "assistant", "content": "x",
                                                         "tool_calls": Evil()}])


def test_a_reasoning_effort_whose_eq_raises_is_an_invalid_request_error():
    with pytest.raises(CencoriError):
        ROUTER.chat(model="fake/m", messages=OK_MSGS, reasoning_effort=Evil())


def test_a_cache_argument_whose_eq_raises_is_an_invalid_request_error():
    with pytest.raises(CencoriError):
        ROUTER.chat(model="fake/m", messages=OK_MSGS, cache=Evil())


def test_a_str_enum_reasoning_effort_is_taken_as_its_value():
    # an experienced user passes enum members; the type check for hostile objects must not
    # refuse them (it did, between two commits of this session)
    import enum

    class Effort(enum.StrEnum):
        HIGH = "high"

    from cencori_core._params import check_common

    taken = check_common({"reasoning_effort": Effort.HIGH}, False)["reasoning_effort"]
    assert taken == "high" and type(taken) is str
