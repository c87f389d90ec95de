"""Cache keys and the in-memory store: canonical keys (Hypothesis), what never goes into a key or
a value (keys, secrets, user, metadata), TTL expiry on an injected clock, LRU bounds by entries
and bytes, the per-entry size limit, and the ``[cache]`` TOML table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cencori_core import ChatRequest, ConfigurationError, Message, ResponseCache, Router, Secret
from cencori_core.cache._key import cache_key
from cencori_core.testing import FakeProvider

USER = [{"role": "user", "content": "Hello"}]
KEY = "sk-proj-CACHESECRET0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**opts: Any) -> tuple[Router, FakeProvider]:
    fake = FakeProvider(name="local", models=["m"])
    router = Router(providers={"local": fake}, load_entrypoints=False,
                    cache=ResponseCache(**opts))
    return router, fake


def chat(router: Router, text: str = "Hello", **kw: Any) -> Any:
    return router.chat(model="m", messages=[{"role": "user", "content": text}], **kw)


# ---------------------------------------------------------------------------- keys

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)


def _shuffled(value: Any, seed: int) -> Any:
    """The same data with every dict's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        k = seed % len(items) if items else 0
        items = items[k:] + items[:k]
        items.reverse()
        return {key: _shuffled(v, seed + 1) for key, v in items}
    if isinstance(value, list):
        return [_shuffled(v, seed + 1) for v in value]
    return value


def _request(options: Any = None, **kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message(role="user", content="hi")],
                       provider_options=options, **kw)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(options=st.dictionaries(st.text(min_size=1, max_size=6), _json, max_size=5),
       seed=st.integers(0, 50))
def test_the_same_request_in_another_dict_order_has_the_same_key(options: Any, seed: int) -> None:
    a = cache_key("chat", "p", "local", "m", _request(options))
    b = cache_key("chat", "p", "local", "m", _request(_shuffled(options, seed)))
    assert a == b


_CHANGES = {
    "temperature": st.floats(0, 2, allow_nan=False).filter(lambda x: x != 0.5),
    "max_tokens": st.integers(1, 10**5).filter(lambda x: x != 100),
    "top_p": st.floats(0, 1, allow_nan=False).filter(lambda x: x != 0.9),
    "seed": st.integers(0, 10**6).filter(lambda x: x != 7),
    "stop": st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=2).filter(
        lambda x: x != ["END"]),
    "tool_choice": st.sampled_from(["none", "required"]),
    "response_format": st.just({"type": "json_object"}),
}


@settings(derandomize=True, max_examples=150, deadline=None)
@given(data=st.data(), field=st.sampled_from(sorted(_CHANGES)))
def test_any_changed_answer_affecting_parameter_changes_the_key(data: Any, field: str) -> None:
    base = {"temperature": 0.5, "max_tokens": 100, "top_p": 0.9, "seed": 7, "stop": ["END"],
            "tool_choice": "auto", "response_format": {"type": "text"}}
    changed = dict(base, **{field: data.draw(_CHANGES[field])})
    assert cache_key("chat", None, "local", "m", _request(**base)) != \
        cache_key("chat", None, "local", "m", _request(**changed))


def test_route_project_and_operation_are_in_the_key() -> None:
    req = _request()
    keys = {cache_key("chat", None, "local", "m", req), cache_key("chat", "a", "local", "m", req),
            cache_key("chat", "b", "local", "m", req), cache_key("chat", None, "other", "m", req),
            cache_key("chat", None, "local", "m2", req)}
    assert len(keys) == 5


def test_what_does_not_change_the_answer_is_not_in_the_key() -> None:
    a = _request(temperature=0.0)
    b = ChatRequest(model="alias-name", messages=[Message(role="user", content="hi")],
                    temperature=0, user="someone", metadata={"k": "v"}, timeout=3.0,
                    idempotency_key="req_1", stream=True)
    assert cache_key("chat", None, "local", "m", a) == cache_key("chat", None, "local", "m", b)
    # credentials in provider_options are left out (they never change the answer)
    c = _request({"extra_headers": {"Authorization": "Bearer " + KEY}, "x": 1})
    d = _request({"extra_headers": {"Authorization": "Bearer other-secret-value"}, "x": 1})
    assert cache_key("chat", None, "l", "m", c) == cache_key("chat", None, "l", "m", d)
    assert cache_key("chat", None, "l", "m", c) != cache_key("chat", None, "l", "m",
                                                            _request({"x": 2}))
    s = _request({"api_key": Secret(KEY)})
    assert KEY not in cache_key("chat", None, "l", "m", s)


def test_keys_and_secrets_never_reach_the_store() -> None:
    fake = FakeProvider(name="local", models=["m"])
    router = Router(providers={"local": fake}, load_entrypoints=False, cache=True)
    key = router.projects.create("acme")
    router.chat(model="m", messages=USER, api_key=key, user="alice@example.com",
                metadata={"token": KEY},
                provider_options={"extra_headers": {"Authorization": "Bearer " + KEY}})
    backend = router.cache.backend  # type: ignore[union-attr]
    [(entry_key, (_, value, _))] = backend._data.items()
    blob = entry_key.encode() + value
    for secret in (key, KEY, "alice@example.com", "acme"):
        assert secret.encode() not in blob
    assert json.loads(value)["r"]["content"] == "echo: Hello"
    assert entry_key.startswith("cencori:cache:") and len(entry_key) == 14 + 64


# ---------------------------------------------------------------------------- memory store


def test_entries_expire_after_their_ttl_on_the_injected_clock() -> None:
    clock = Clock()
    router, fake = make(ttl=60, clock=clock)
    chat(router)
    clock.now += 59
    assert chat(router).cache_hit
    chat(router, "Short", cache={"ttl": 5})  # stored at 1059 for 5 s
    clock.now += 1  # 60 s after the first store
    assert not chat(router).cache_hit  # expired: called and stored again
    clock.now += 3
    assert chat(router, "Short").cache_hit  # 4 s old
    clock.now += 1
    assert not chat(router, "Short").cache_hit  # 5 s old: gone
    assert len(fake.calls) == 4


def test_no_ttl_keeps_entries_until_evicted() -> None:
    clock = Clock()
    router, fake = make(ttl=None, clock=clock)
    chat(router)
    clock.now += 10**9
    assert chat(router).cache_hit


def test_the_lru_is_bounded_by_entries() -> None:
    router, fake = make(max_entries=2)
    chat(router, "a")
    chat(router, "b")
    assert chat(router, "a").cache_hit  # a is now the most recently used
    chat(router, "c")  # evicts b
    assert chat(router, "a").cache_hit and chat(router, "c").cache_hit
    assert not chat(router, "b").cache_hit
    assert router.cache.stats()["entries"] == 2  # type: ignore[union-attr]


def test_the_lru_is_bounded_by_bytes() -> None:
    router, fake = make(max_bytes=1500)
    for text in ("a" * 300, "b" * 300, "c" * 300):
        chat(router, text)
    stats = router.cache.stats()  # type: ignore[union-attr]
    assert stats["bytes"] <= 1500 and stats["entries"] < 3
    assert chat(router, "c" * 300).cache_hit
    assert not chat(router, "a" * 300).cache_hit


def test_an_answer_over_the_entry_limit_is_not_stored() -> None:
    router, fake = make(max_entry_bytes=600)
    chat(router, "x" * 1000)
    assert not chat(router, "x" * 1000).cache_hit
    assert router.cache.stats()["skipped"] == 2  # type: ignore[union-attr]
    chat(router, "small")
    assert chat(router, "small").cache_hit


def test_clear_forgets_everything() -> None:
    router, fake = make()
    chat(router)
    router.cache.clear()  # type: ignore[union-attr]
    assert not chat(router).cache_hit


# ---------------------------------------------------------------------------- configuration


def test_the_cache_table_of_a_toml_file(tmp_path: Any) -> None:
    path = tmp_path / "cencori.toml"
    path.write_text('[cache]\nttl = 60\nmax_entries = 5\ntemperature = true\n')
    router = Router.from_config(path, load_entrypoints=False)
    cache = router.cache
    assert cache is not None and (cache.ttl, cache.max_entries, cache.temperature) == \
        (60.0, 5, True)
    assert cache.stats()["backend"] == "memory"
    path.write_text('[cache]\nenabled = false\n')
    assert Router.from_config(path, load_entrypoints=False).cache is None
    path.write_text('[cache]\nttl = 60\nmax_entrys = 5\n')
    with pytest.raises(ConfigurationError, match="did you mean max_entries"):
        Router.from_config(path, load_entrypoints=False)
    path.write_text('cache = 5\n')
    with pytest.raises(ConfigurationError, match=r"\[cache\] must be a table"):
        Router.from_config(path, load_entrypoints=False)


# ---------------------------------------------------------------------------- stored answers


def test_answers_round_trip_through_the_codec() -> None:
    from decimal import Decimal

    from cencori_core import (
        Attempt,
        ChatResponse,
        Cost,
        EmbeddingResponse,
        ModerationResponse,
        ModerationResult,
        ToolCall,
        Usage,
    )
    from cencori_core.cache._codec import decode, encode

    cost = Cost(input=Decimal("0.000125"), output=Decimal("0.5"), total=Decimal("0.500125"))
    envelope: dict[str, Any] = {"usage": Usage.of(3, 4, cached_tokens=1, reasoning_tokens=2),
                                "cost": cost, "model": "m-2024", "provider": "p", "id": "x1"}
    noise: dict[str, Any] = {"latency_ms": 3.5, "raw": object(), "deployment": "d#0",
                             "attempts": [Attempt(model="m", provider="p")]}
    chat = ChatResponse(content=None, tool_calls=[ToolCall(id="c1", name="f",
                                                           arguments_raw='{"a": 1}',
                                                           arguments={"a": 1})],
                        finish_reason="tool_calls", reasoning="thinking", created=5,
                        provider_data={"signature": "abc"}, refusal="no", **envelope, **noise)
    emb = EmbeddingResponse(vectors=[[0.1, -2.5e-7], [1.0, 3.0]], **envelope, **noise)
    mod = ModerationResponse(flagged=True, results=[ModerationResult(
        flagged=True, categories={"hate": True}, scores={"hate": 0.97})], **envelope, **noise)
    for op, resp in (("chat", chat), ("embed", emb), ("moderate", mod)):
        back = decode(op, encode(op, resp))
        assert back == type(resp)(**{f: getattr(resp, f) for f in resp.__dataclass_fields__
                                     if f not in noise})
    with pytest.raises(ValueError, match="not 'embed'"):
        decode("embed", encode("chat", chat))
