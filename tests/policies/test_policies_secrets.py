"""Secrets policy: key shapes, PEM, JWT, assignments and the router's own keys, through the
router (sync and async)."""

from __future__ import annotations

import pytest
from parity import MODES, call, stream
from policy_kit import decisions, make, user

from cencori_core import PolicyViolationError, Router
from cencori_core.policies import Secrets
from cencori_core.policies.secrets import RULES, make_scan
from cencori_core.testing import FakeProvider, reply, tool_call

SCAN = make_scan(frozenset(RULES), ())

OPENAI = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t"
ANTHROPIC = "sk-ant-api03-Zy9xWv7uTs5rQp3oNm1l"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize("value,rule", [
    (OPENAI, "openai_key"),
    ("sk-Ab3dEf6hIj9kLm2nOp5qRs8t", "openai_key"),
    (ANTHROPIC, "anthropic_key"),
    ("AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key"),
    ("xai-Ab3dEf6hIj9kLm2nOp5qRs8t", "xai_key"),
    ("AKIAIOSFODNN7EXAMPLE", "aws_access_key"),  # AWS's documented example: no allow-list
    ("ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "github_token"),
    ("github_pat_11ABCDEFG0123456789_abcdefghij", "github_token"),
    ("xoxb-1234567890-0987654321-AbCdEfGhIj", "slack_token"),
    ("sk_live_Ab3dEf6hIj9kLm2nOp5qRs8t", "stripe_key"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
     "jwt"),
    (PEM, "private_key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "private_key"),  # the header line alone
])
def test_each_shape_is_found(value, rule):
    text = f"here: {value}"
    assert [(text[s:e], r) for s, e, r in SCAN(text)] == [(value, rule)]


@pytest.mark.parametrize("text,value", [
    ("db_password=hunter22", "hunter22"),
    ('config = {"api_key": "abcd1234efgh"}', "abcd1234efgh"),
    ("client_secret: 'xyz987654'", "xyz987654"),
    ("export ACCESS_TOKEN=tok_98765", "tok_98765"),
])
def test_assignments_redact_only_the_value(text, value):
    assert [(text[s:e], r) for s, e, r in SCAN(text)] == [(value, "password")]


@pytest.mark.parametrize("text", [
    "a task-oriented, well-known, risk-free approach",
    "max_tokens=4096 and tokens: 512",
    "password: enter it on the next screen",
    "the sk- prefix marks OpenAI keys; AIza marks Google's",
    "password = ${DB_PASSWORD} and token=<your token>",
])
def test_lookalikes_are_left_alone(text):
    assert SCAN(text) == []


@pytest.mark.parametrize("mode", MODES)
def test_block_is_the_default_and_sends_nothing(mode):
    router, fake, sink = make([Secrets()])
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "chat", model="m", messages=user(f"use {OPENAI} for it"))
    assert (info.value.policy, info.value.rule) == ("secrets", "openai_key")
    assert OPENAI not in str(info.value) and "sk-proj" not in str(info.value)
    assert fake.calls == [] and sink.statuses == ["blocked"]


@pytest.mark.parametrize("mode", MODES)
def test_redact_and_flag(mode):
    router, fake, _ = make([Secrets(mode="redact")])
    r = call(router, mode, "chat", model="m",
             messages=user(f"key {ANTHROPIC} and password=hunter22"))
    assert fake.last_request.messages[0].content == \
        "key [REDACTED_ANTHROPIC_KEY] and password=[REDACTED_PASSWORD]"
    assert decisions(r) == [("secrets", "anthropic_key", "redact", 1),
                            ("secrets", "password", "redact", 1)]
    router, fake, _ = make([Secrets(mode="flag")])
    r = call(router, mode, "chat", model="m", messages=user(PEM))
    assert fake.last_request.messages[0].content == PEM
    assert decisions(r) == [("secrets", "private_key", "flag", 1)]


@pytest.mark.parametrize("mode", MODES)
def test_the_routers_own_keys_are_known_from_arguments_and_environment(mode, monkeypatch):
    from cencori_core.testing import UsageRecorder

    monkeypatch.setenv("OPENAI_API_KEY", "plainenvkey0123456789")
    sink = UsageRecorder()
    fake = FakeProvider(prefixes=("",))
    router = Router(providers={"fake": fake, "other": {"type": "echo",
                                                         "api_key": "no-shape-key-42"}},
                    plugins=["openai", sink], policies=[Secrets(mode="redact")])
    r = call(router, mode, "chat", model="fake/m",
             messages=user("a plainenvkey0123456789 b no-shape-key-42 c"))
    assert fake.last_request.messages[0].content == \
        "a [REDACTED_ROUTER_KEY] b [REDACTED_ROUTER_KEY] c"
    assert decisions(r) == [("secrets", "router_key", "redact", 2)]


@pytest.mark.parametrize("mode", MODES)
def test_known_secrets_given_to_the_policy(mode):
    router, fake, _ = make([Secrets(known=["corp-internal-token"])])
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "embed", "m", ["x corp-internal-token y"])
    assert info.value.rule == "router_key" and fake.calls == []
    assert "corp-internal-token" not in repr(Secrets(known=["corp-internal-token"]))


@pytest.mark.parametrize("mode", MODES)
def test_every_operation_is_checked(mode):
    router, fake, _ = make([Secrets()])
    for op, args, kw in [("embed", ("m", OPENAI), {}), ("moderate", ("m", OPENAI), {}),
                         ("generate_image", ("m", f"poster {OPENAI}"), {}),
                         ("speech", ("m", OPENAI), {"voice": "alloy"})]:
        with pytest.raises(PolicyViolationError):
            call(router, mode, op, *args, **kw)
    assert fake.calls == []


@pytest.mark.parametrize("mode", MODES)
def test_responses_and_split_stream_chunks(mode):
    router, fake, _ = make([Secrets(mode="redact", responses=True)], chunk_size=3)
    fake.script(f"the key is {OPENAI}.", reply(None, tool_calls=[tool_call(
        "login", {"token": OPENAI})]))
    chunks, s = stream(router, mode, model="m", messages=user("hi"))
    assert "".join(c.delta for c in chunks) == "the key is [REDACTED_OPENAI_KEY]."
    assert not any("Ab3d" in c.delta or "sk-" in c.delta for c in chunks)
    r = call(router, mode, "chat", model="m", messages=user("hi"))
    assert r.tool_calls[0].arguments == {"token": "[REDACTED_OPENAI_KEY]"}


@pytest.mark.parametrize("mode", MODES)
def test_stream_holds_a_private_key_until_it_ends(mode):
    router, fake, sink = make([Secrets(responses=True)], chunk_size=4)
    fake.script(f"sure:\n{PEM}\nbye")
    with pytest.raises(PolicyViolationError) as info:
        stream(router, mode, model="m", messages=user("hi"))
    assert info.value.rule == "private_key" and sink.statuses == ["blocked"]
