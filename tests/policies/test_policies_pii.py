"""PII policy: detectors, every mode, every operation, responses and split-across-chunk streams,
through the router (sync and async)."""

from __future__ import annotations

import pytest
from parity import MODES, call, stream
from policy_kit import decisions, make, user

from cencori_core import ChatResponse, ConfigurationError, PolicyViolationError, ToolCall
from cencori_core.policies import PII
from cencori_core.policies.pii import iban_ok, luhn, scan
from cencori_core.testing import reply, tool_call

CARD = "4111 1111 1111 1111"  # Luhn-valid test number
BAD_CARD = "4111 1111 1111 1112"  # Luhn-invalid
IBAN = "DE89 3704 0044 0532 0130 00"  # mod-97 valid
BAD_IBAN = "DE89 3704 0044 0532 0130 01"


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s:e], rule) for s, e, rule in scan(text)]


# ---------------------------------------------------------------------------- detectors


@pytest.mark.parametrize("text,value,rule", [
    ("write to john.doe+news@mail.example.co.uk.", "john.doe+news@mail.example.co.uk", "email"),
    (f"card {CARD} please", CARD, "credit_card"),
    ("card 4111-1111-1111-1111.", "4111-1111-1111-1111", "credit_card"),
    ("amex 378282246310005", "378282246310005", "credit_card"),
    (f"pay to {IBAN} THANKS", IBAN, "iban"),
    ("iban GB82WEST12345698765432, ok", "GB82WEST12345698765432", "iban"),
    ("ssn 123-45-6789", "123-45-6789", "ssn"),
    ("call +1 (415) 555-0100 now", "+1 (415) 555-0100", "phone"),
    ("call 415-555-0100", "415-555-0100", "phone"),
    ("tel +44 20 7946 0958", "+44 20 7946 0958", "phone"),
    ("host 192.168.1.10.", "192.168.1.10", "ip_address"),
    ("v6 fe80::1ff:fe23:4567:890a here", "fe80::1ff:fe23:4567:890a", "ip_address"),
    ("v6 2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334", "ip_address"),
])
def test_each_detector_finds_its_value(text, value, rule):
    assert found(text) == [(value, rule)]


@pytest.mark.parametrize("text", [
    f"card {BAD_CARD} is not a real card",
    "order 12345678901234 shipped",  # 14 digits, Luhn-invalid
    f"iban {BAD_IBAN} fails mod-97",
    "dates 2024-01-15 and 15/01/2024, one million is 1 000 000",
    "python 3.11.4 and version 1.2.3",
    "time 12:30:45, ratio 16:9, C++ std::vector",
    "ssn-like 000-12-3456 and 666-12-3456 are never issued",
    "plain prose without anything personal in it at all",
])
def test_lookalikes_are_left_alone(text):
    assert found(text) == []


def test_checksums():
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")


def test_findings_are_sorted_and_non_overlapping():
    text = f"a@b.io {CARD} 10.0.0.1 {IBAN} 123-45-6789 x@y.org"
    rules = [r for _, r in found(text)]
    assert rules == ["email", "credit_card", "ip_address", "iban", "ssn", "email"]


def test_unknown_rule_or_mode_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="unknown rule"):
        PII(rules=["emails"])
    with pytest.raises(ConfigurationError, match="mode"):
        PII(mode="mask")


# ---------------------------------------------------------------------------- requests


@pytest.mark.parametrize("mode", MODES)
def test_redact_replaces_values_in_what_the_provider_receives(mode):
    router, fake, _ = make([PII()])
    text = f"I am jane@corp.example, card {CARD}, bad card {BAD_CARD}, iban {IBAN}."
    r = call(router, mode, "chat", model="m", messages=user(text))
    sent = fake.last_request.messages[0].content
    assert sent == ("I am [REDACTED_EMAIL], card [REDACTED_CREDIT_CARD], bad card "
                    f"{BAD_CARD}, iban [REDACTED_IBAN].")
    assert "jane@corp.example" not in sent and CARD not in sent and IBAN not in sent
    assert decisions(r) == [("pii", "email", "redact", 1), ("pii", "credit_card", "redact", 1),
                            ("pii", "iban", "redact", 1)]


@pytest.mark.parametrize("mode", MODES)
def test_every_text_of_a_chat_request_is_covered(mode):
    router, fake, _ = make([PII()])
    messages = [
        {"role": "system", "content": "Support line +1 (415) 555-0100."},
        {"role": "user", "content": [{"type": "text", "text": "ssn 123-45-6789"},
                                     {"type": "image_url",
                                      "image_url": {"url": "https://x.example/a.png"}}]},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "lookup", "arguments": '{"email": "bob@example.org"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "bob lives at 10.1.2.3"},
    ]
    call(router, mode, "chat", model="m", messages=messages)
    sent = fake.last_request.messages
    assert sent[0].content == "Support line [REDACTED_PHONE]."
    assert sent[1].content[0] == {"type": "text", "text": "ssn [REDACTED_SSN]"}
    assert sent[1].content[1]["image_url"]["url"] == "https://x.example/a.png"
    call_ = sent[2].tool_calls[0]
    assert (call_.id, call_.name) == ("c1", "lookup")
    assert call_.arguments == {"email": "[REDACTED_EMAIL]"}
    assert sent[3].content == "bob lives at [REDACTED_IP_ADDRESS]"
    assert sent[3].tool_call_id == "c1"


@pytest.mark.parametrize("mode", MODES)
def test_other_operations_are_covered(mode):
    router, fake, _ = make([PII()])
    call(router, mode, "embed", "m", ["hi a@b.io", "clean"])
    assert fake.last_request.input == ["hi [REDACTED_EMAIL]", "clean"]
    call(router, mode, "moderate", "m", f"card {CARD}")
    assert fake.last_request.input == ["card [REDACTED_CREDIT_CARD]"]
    call(router, mode, "generate_image", "m", "a poster for 123-45-6789")
    assert fake.last_request.prompt == "a poster for [REDACTED_SSN]"
    call(router, mode, "speech", "m", "call +44 20 7946 0958", voice="alloy")
    assert fake.last_request.input == "call [REDACTED_PHONE]"
    call(router, mode, "transcribe", "m", b"RIFF....", prompt="names: x@y.org")
    assert fake.last_request.prompt == "names: [REDACTED_EMAIL]"


@pytest.mark.parametrize("mode", MODES)
def test_clean_requests_are_passed_as_they_are(mode):
    router, fake, _ = make([PII()])
    r = call(router, mode, "chat", model="m", messages=user("nothing to see"))
    assert r.policy_decisions == []
    assert fake.last_request.messages[0].content == "nothing to see"


@pytest.mark.parametrize("mode", MODES)
def test_block_sends_nothing_and_records_blocked(mode):
    router, fake, sink = make([PII(mode="block")])
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "chat", model="m", messages=user(f"my card is {CARD}"))
    assert (info.value.policy, info.value.rule) == ("pii", "credit_card")
    assert CARD not in str(info.value) and "4111" not in str(info.value)
    assert fake.calls == []
    assert sink.statuses == ["blocked"]
    assert sink.records[0].cost is None and sink.records[0].usage.total_tokens == 0


@pytest.mark.parametrize("mode", MODES)
def test_flag_records_and_sends_unchanged(mode):
    router, fake, _ = make([PII(mode="flag")])
    r = call(router, mode, "chat", model="m", messages=user("a@b.io and c@d.io"))
    assert fake.last_request.messages[0].content == "a@b.io and c@d.io"
    assert decisions(r) == [("pii", "email", "flag", 2)]


@pytest.mark.parametrize("mode", MODES)
def test_rules_limit_the_detectors(mode):
    router, fake, _ = make([PII(rules=["email"])])
    call(router, mode, "chat", model="m", messages=user(f"a@b.io {CARD}"))
    assert fake.last_request.messages[0].content == f"[REDACTED_EMAIL] {CARD}"


# ---------------------------------------------------------------------------- responses


@pytest.mark.parametrize("mode", MODES)
def test_responses_are_left_alone_unless_enabled(mode):
    router, fake, _ = make([PII()])
    fake.script(f"your card {CARD}")
    assert call(router, mode, "chat", model="m", messages=user("hi")).content == \
        f"your card {CARD}"


@pytest.mark.parametrize("mode", MODES)
def test_response_text_and_tool_arguments_are_redacted(mode):
    router, fake, _ = make([PII(responses=True)])
    fake.script(reply(f"mail ann@example.com, card {CARD}",
                      tool_calls=[tool_call("notify", {"to": "ann@example.com", "n": 3})]))
    r = call(router, mode, "chat", model="m", messages=user("hi"))
    assert r.content == "mail [REDACTED_EMAIL], card [REDACTED_CREDIT_CARD]"
    assert r.tool_calls[0].arguments == {"to": "[REDACTED_EMAIL]", "n": 3}
    assert ("pii", "email", "redact", 2) in decisions(r)


@pytest.mark.parametrize("mode", MODES)
def test_response_block(mode):
    router, fake, sink = make([PII(mode="block", responses=True)])
    fake.script("ssn 123-45-6789")
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "chat", model="m", messages=user("hi"))
    assert info.value.rule == "ssn" and "123-45" not in str(info.value)
    assert sink.statuses == ["blocked"]


@pytest.mark.parametrize("mode", MODES)
def test_transcription_text_is_redacted(mode):
    from cencori_core import Transcription

    router, fake, _ = make([PII(responses=True)])
    fake.script(Transcription(text="my number is 415-555-0100"))
    assert call(router, mode, "transcribe", "m", b"RIFF").text == "my number is [REDACTED_PHONE]"


# ---------------------------------------------------------------------------- streams

SPLIT = f"Reach me at jane.doe@example.com or {CARD} or {IBAN}, thanks!"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [1, 3, 7])
def test_stream_redacts_values_split_across_chunks(mode, size):
    router, fake, _ = make([PII(responses=True)], chunk_size=size)
    fake.script(SPLIT)
    chunks, s = stream(router, mode, model="m", messages=user("hi"))
    pieces = [c.delta for c in chunks]
    text = "".join(pieces)
    assert text == ("Reach me at [REDACTED_EMAIL] or [REDACTED_CREDIT_CARD] or "
                    "[REDACTED_IBAN], thanks!")
    assert s.response.content == text
    # No chunk ever carried a raw fragment long enough to matter: no digit group at all.
    assert not any(ch.isdigit() for p in pieces for ch in p)
    assert not any("jane" in p or "example.com" in p for p in pieces)
    assert ("pii", "email", "redact", 1) in decisions(s.response)
    assert ("pii", "credit_card", "redact", 1) in decisions(s.response)


@pytest.mark.parametrize("mode", MODES)
def test_stream_redacts_tool_call_arguments(mode):
    router, fake, _ = make([PII(responses=True)], chunk_size=2)
    fake.script(reply(None, tool_calls=[tool_call("send", {"to": "ann@example.com"})]))
    chunks, s = stream(router, mode, model="m", messages=user("hi"))
    raw = "".join(d.arguments for c in chunks for d in c.tool_calls)
    assert "ann@" not in raw and "example.com" not in raw
    assert s.response.tool_calls[0].arguments == {"to": "[REDACTED_EMAIL]"}
    assert s.response.tool_calls[0].name == "send"


@pytest.mark.parametrize("mode", MODES)
def test_stream_block_stops_before_the_value(mode):
    router, fake, sink = make([PII(mode="block", responses=True)], chunk_size=3)
    fake.script(f"all good so far, and now the card {CARD} follows")
    seen: list[str] = []
    with pytest.raises(PolicyViolationError) as info:
        if mode == "sync":
            with router.chat_stream(model="m", messages=user("hi")) as s:
                for c in s:
                    seen.append(c.delta)
        else:
            import asyncio

            async def run() -> None:
                async with router.achat_stream(model="m", messages=user("hi")) as s:
                    async for c in s:
                        seen.append(c.delta)

            asyncio.run(run())
    assert info.value.rule == "credit_card"
    assert "4111" not in "".join(seen)
    assert sink.statuses == ["blocked"]


@pytest.mark.parametrize("mode", MODES)
def test_stream_flag_counts_the_assembled_answer(mode):
    router, fake, _ = make([PII(mode="flag", responses=True)], chunk_size=4)
    fake.script("write to a@b.io")
    chunks, s = stream(router, mode, model="m", messages=user("hi"))
    assert "".join(c.delta for c in chunks) == "write to a@b.io"
    assert decisions(s.response) == [("pii", "email", "flag", 1)]


@pytest.mark.parametrize("mode", MODES)
def test_stream_of_a_clean_answer_is_unchanged(mode):
    router, fake, _ = make([PII(responses=True)], chunk_size=5)
    text = "The quick brown fox jumps over the lazy dog 12 times."
    fake.script(text)
    chunks, s = stream(router, mode, model="m", messages=user("hi"))
    assert "".join(c.delta for c in chunks) == text
    assert s.response.policy_decisions == []


def test_response_objects_stay_frozen_and_complete():
    router, fake, _ = make([PII(responses=True)])
    fake.script(reply("a@b.io", tool_calls=[ToolCall.from_raw(id="c", name="f",
                                                              arguments_raw='{"x": "a@b.io"}')]))
    r = router.chat(model="m", messages=user("hi"))
    assert isinstance(r, ChatResponse) and r.provider == "fake" and r.usage.total_tokens > 0
    assert r.tool_calls[0].arguments_raw == '{"x": "[REDACTED_EMAIL]"}'
