"""The response types share one envelope and the request types one tail; the frozen-dataclass
helper builds their fast __init__ from inherited fields too (it walks the MRO)."""

from __future__ import annotations

import dataclasses

import pytest

from cencori_core.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ImageRequest,
    ImageResponse,
    ModerationRequest,
    ModerationResponse,
    Speech,
    SpeechRequest,
    Transcription,
    TranscriptionRequest,
    Usage,
    frozen_type,
)

ENVELOPE = ["usage", "cost", "model", "provider", "id", "latency_ms", "attempts", "deployment",
            "policy_decisions", "cache_hit", "raw"]
TAIL = ["model", "timeout", "provider_options", "idempotency_key"]
RESPONSES = [(ChatResponse, {"content": "x"}), (EmbeddingResponse, {"vectors": []}),
             (ImageResponse, {"images": []}), (Transcription, {"text": "x"}),
             (Speech, {"audio": b"x"}), (ModerationResponse, {"flagged": False})]
REQUESTS = [(ChatRequest, {"messages": []}), (EmbeddingRequest, {"input": []}),
            (ImageRequest, {"prompt": "x"}), (TranscriptionRequest, {"file": b"x"}),
            (SpeechRequest, {"input": "x", "voice": "v"}), (ModerationRequest, {"input": []})]


@pytest.mark.parametrize(("cls", "own"), RESPONSES)
def test_every_response_has_the_envelope(cls, own):
    names = [f.name for f in dataclasses.fields(cls)]
    assert names[:len(ENVELOPE)] == ENVELOPE
    r = cls(**own, model="m", provider="p", usage=Usage(total_tokens=3), latency_ms=1.5)
    assert (r.model, r.provider, r.usage.total_tokens, r.latency_ms) == ("m", "p", 3, 1.5)
    assert r.attempts == [] and r.policy_decisions == [] and r.cost is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.model = "other"  # type: ignore[misc]
    assert "raw" not in r.to_dict() and r == cls(**own, model="m", provider="p",
                                                 usage=Usage(total_tokens=3), latency_ms=1.5)


@pytest.mark.parametrize(("cls", "own"), REQUESTS)
def test_every_request_has_the_tail(cls, own):
    names = [f.name for f in dataclasses.fields(cls)]
    assert names[:len(TAIL)] == TAIL
    r = cls(**own, model="m", timeout=2.0, provider_options={"a": 1}, idempotency_key="k")
    assert (r.model, r.timeout, r.provider_options, r.idempotency_key) == (
        "m", 2.0, {"a": 1}, "k")


def test_frozen_type_builds_init_from_inherited_fields():
    @frozen_type
    class Base:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    @frozen_type
    class Child(Base):
        c: str = "c"

    x = Child(a=1, c="z")
    assert (x.a, x.b, x.c) == (1, [], "z") and Child(a=1).b is not Child(a=1).b
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.a = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Child(1)  # type: ignore[misc]  # keyword-only


# The generated __init__ and copier store fields on a mutable twin of the class and switch the
# instance back (issue 14's per-call cost): what users see must be exactly the frozen type.

def test_built_and_evolved_objects_are_exactly_the_frozen_type():
    import copy
    import pickle

    from cencori_core.types import evolve

    req = ChatRequest(model="m", messages=[], temperature=0.5)
    moved = evolve(req, model="other", timeout=3.0)
    for obj in (req, moved, Usage(prompt_tokens=2, completion_tokens=3, total_tokens=5)):
        assert type(obj).__name__ in ("ChatRequest", "Usage")
        assert type(obj) in (ChatRequest, Usage)
        assert copy.copy(obj) == obj and copy.deepcopy(obj) == obj
        assert pickle.loads(pickle.dumps(obj)) == obj
    assert (moved.model, moved.timeout, moved.temperature) == ("other", 3.0, 0.5)
    assert (req.model, req.timeout) == ("m", None)  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.model = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del req.model  # type: ignore[misc]
    with pytest.raises(AttributeError):
        evolve(req, no_such_field=1)


def test_a_user_subclass_keeps_its_own_type():
    class Mine(ChatResponse):
        pass

    m = Mine(content="x")
    assert type(m) is Mine and m.content == "x" and m.tool_calls == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.content = "y"  # type: ignore[misc]
