"""Issue 13 item 2: every policy's work is linear in its input, on prompts and on streams.

No clocks: the scanners add the characters they examine to ``policies._base.METER`` (each pass
over the text, each window searched, each anchored match), and the stream hold-back is given a
scan function that counts what it is handed. Each crafted input below made the first wave's
scanners quadratic (the audit's 60 KB prompt took 12.5 s, a 20 KB stream 253 s): a walk back to
the token start for every hint, a match re-run from every prefix inside a long token, a PEM body
searched to the end of the text from every BEGIN line, a rescan of the whole held buffer on
every chunk.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

import pytest
from parity import MODES, call, stream
from policy_kit import make, user

from cencori_core.policies import PII, OutputGuard, PromptInjection, Secrets
from cencori_core.policies._base import METER, redact
from cencori_core.policies._holdback import HoldBack
from cencori_core.policies.injection import detect
from cencori_core.policies.pii import scan as pii_scan
from cencori_core.policies.secrets import HOLD, RULES, make_scan

SECRETS_SCAN = make_scan(frozenset(RULES), ("my-router-key-0123456789abcdef",))


def _b64url(n: int) -> str:
    rnd = random.Random(n)
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(rnd.choice(alphabet) for _ in range(n))


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


# name -> generator of an n-character adversarial text
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "base64url": _b64url,  # a hint every few characters inside one endless token
    "dashes": _repeat("-"),
    "sk-prefixes": _repeat("sk-"),  # every prefix of one token is a key
    "eyJ": _repeat("eyJ"),  # JWT starts that never close
    "jwt-halves": _repeat("eyJabcdefghij.eyJ"),
    "pem-headers": _repeat("-----BEGIN RSA PRIVATE KEY-----\n"),
    "pem-body": lambda n: "-----BEGIN PRIVATE KEY-----\n" + _repeat("MIIE ")(n),
    "assignments": _repeat("password="),
    "assign-colons": _repeat("api_key: 'x"),
    "long-identifier": lambda n: "a" * (n - 12) + "password=xyz",
    "spaces": _repeat(" "),
    "ignore": _repeat("ignore "),
    "prompt-words": _repeat("prompt instructions "),
    "case-switches": _repeat("aAaa "),  # a base64 hint in every short token
    "b64-tokens": _repeat("aWdub3JlIHByZXZpb3VzIGluc3RydWN0aW9ucw== "),
    "digits": _repeat("1"),
    "spaced-digits": _repeat("1 "),
    "dotted-digits": _repeat("4111.1111."),
    "colons": _repeat(":"),
    "hex-colons": _repeat("a:"),
    "at-signs": _repeat("a" * 63 + "@"),
    "domains": _repeat("x@a.b.c.d.e.f.g.h."),
    "iban-starts": _repeat("AA00 "),
    "zero-width": _repeat("sk-\u200bab\u200bcd\u200b"),
    "full-width": _repeat("ｓｋ－ａｂｃ１２３"),
    "arabic-digits": _repeat("٤١١١ "),
}


def _canary_scan(text: str) -> Any:
    return OutputGuard(canary="cnry-0123456789")._scan_canary(text)


SCANNERS: dict[str, Callable[[str], Any]] = {
    "secrets": SECRETS_SCAN,
    "pii": pii_scan,
    "injection": detect,
    "canary": _canary_scan,
}

N = 16_000
# Characters examined per input character: the fixed number of passes each scanner makes
# (hint regexes, keyword finds, window searches), whatever the input.
PER_CHAR = 64


def work(fn: Callable[[str], Any], text: str) -> int:
    METER.reset()
    fn(text)
    return METER.reset()


@pytest.mark.parametrize("scanner", SCANNERS)
@pytest.mark.parametrize("shape", ADVERSARIAL)
def test_scanner_work_is_linear(scanner, shape):
    fn, make_text = SCANNERS[scanner], ADVERSARIAL[shape]
    small, big = work(fn, make_text(N)), work(fn, make_text(8 * N))
    assert small <= PER_CHAR * N and big <= PER_CHAR * 8 * N
    # 8 times the input, (about) 8 times the work: no term grows faster than the input
    assert big <= 8 * small * 1.2 + 1_000


def test_a_1mb_prompt_scans_in_a_bounded_number_of_steps():
    text = "".join(make_text(1 << 20 // len(ADVERSARIAL)) for make_text in ADVERSARIAL.values())
    text += _b64url((1 << 20) - len(text))
    for fn in SCANNERS.values():
        assert work(fn, text) <= PER_CHAR * len(text)


@pytest.mark.parametrize("mode", MODES)
def test_a_1mb_prompt_through_the_router(mode):
    policies = [Secrets(mode="redact"), PII(), PromptInjection(), OutputGuard(canary=True)]
    router, fake, _ = make(policies)
    text = _repeat("sk-")(1 << 19) + _b64url(1 << 19)
    METER.reset()
    call(router, mode, "chat", model="m", messages=user(text))
    assert METER.reset() <= 4 * PER_CHAR * len(text)
    assert "sk-sk-" not in fake.last_request.messages[-1].content


# ---------------------------------------------------------------------------- streams


class CountingScan:
    """A scan function that counts the characters the hold-back hands it."""

    def __init__(self, scan: Callable[[str], Any]) -> None:
        self.inner = scan
        self.chars = 0
        self.calls = 0

    def __call__(self, text: str) -> Any:
        self.chars += len(text)
        self.calls += 1
        return self.inner(text)


def _stream(text: str, size: int, scan: Callable[[str], Any], hold: int = HOLD) -> list[str]:
    buf = HoldBack(scan, hold, lambda t, found: redact(t, found, lambda rule: "#"))
    out = [buf.feed(text[i:i + size]) for i in range(0, len(text), size)]
    out.append(buf.flush())
    return out


@pytest.mark.parametrize("shape", ["base64url", "spaces", "sk-prefixes", "pem-body",
                                   "assignments", "at-signs", "spaced-digits"])
def test_holdback_scans_what_is_new_plus_a_bounded_tail(shape):
    for n in (N, 8 * N):
        counting = CountingScan(SECRETS_SCAN)
        _stream(ADVERSARIAL[shape](n), 5, counting)
        # each character is handed to the scan a bounded number of times
        assert counting.chars <= 4 * n + 2_000, (n, counting.chars)


def test_a_growing_key_is_held_whole_and_rescanned_at_doubling_sizes():
    key = "sk-" + _b64url(200_000).replace("-", "a").replace("_", "b")
    text = f"here it is: {key} and more text after it"
    counting = CountingScan(SECRETS_SCAN)
    out = _stream(text, 7, counting)
    assert "".join(out) == "here it is: # and more text after it"
    assert counting.chars <= 4 * len(text)
    assert counting.calls <= 200  # doubling, not one rescan per chunk
    assert not any("sk-" in piece or key[10:30] in piece for piece in out)


def test_an_endless_token_still_flows():
    text = _b64url(50_000)  # no space, no match: nothing to hold beyond a bounded tail
    out = _stream(text, 5, CountingScan(SECRETS_SCAN))
    assert "".join(out) == text
    released = 0
    for i, piece in enumerate(out[:-1]):
        released += len(piece)
        assert released >= (i + 1) * 5 - 2_048  # never more than ~2 KB behind the input


@pytest.mark.parametrize("mode", MODES)
def test_a_1mb_stream_through_the_router_is_linear_and_flows(mode):
    router, fake, _ = make([Secrets(mode="redact", responses=True), PII(responses=True)],
                           chunk_size=512)
    answer = _b64url(1 << 20)
    fake.script(answer)
    METER.reset()
    chunks, s = stream(router, mode, model="m", messages=user("hi"))
    assert METER.reset() <= 3 * 2 * PER_CHAR * len(answer)
    deltas = [c.delta for c in chunks if c.delta]
    assert "".join(deltas) == answer
    assert len(deltas) >= len(answer) // 2_048  # delivered as it arrives, not at the end


@pytest.mark.parametrize("mode", MODES)
def test_a_key_split_across_many_chunks_never_reaches_the_caller(mode):
    key = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8t" * 40
    router, fake, _ = make([Secrets(mode="redact", responses=True)], chunk_size=3)
    fake.script(f"the key is {key} done")
    chunks, s = stream(router, mode, model="m", messages=user("hi"))
    assert "".join(c.delta for c in chunks) == "the key is [REDACTED_OPENAI_KEY] done"
    assert not any("sk-" in c.delta or "Ab3d" in c.delta for c in chunks)
