"""The stream hold-back against the whole-text scan, on generated texts and chunkings: what a
stream releases is what redacting the whole answer at once gives, so no part of a value split
across chunks ever reaches the caller."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cencori_core.policies._base import redact
from cencori_core.policies._holdback import HoldBack
from cencori_core.policies.pii import HOLD as PII_HOLD
from cencori_core.policies.pii import scan as pii_scan
from cencori_core.policies.secrets import HOLD, RULES, make_scan

SECRETS = make_scan(frozenset(RULES), ())

PIECES = st.sampled_from([
    " ", "\n", "hello", "the card", ",", ".", '"', "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t",
    "4111 1111 1111 1111", "jane.doe@example.com", "password=hunter22", "AKIAIOSFODNN7EXAMPLE",
    "sk-\u200bAb3dEf6hIj9kLm2nOp5q", "\\u0073k-Ab3dEf6hIj9kLm2nOp5qRs8t", "+1 (415) 555-0100",
    "-----BEGIN RSA PRIVATE KEY-----", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc",
    "DE89 3704 0044 0532 0130 00", "x" * 40,
])


def _stream(text: str, sizes: list[int], scan, hold: int) -> list[str]:
    buf = HoldBack(scan, hold, lambda t, found: redact(t, found, lambda rule: f"<{rule}>"))
    out = []
    pos = 0
    for size in sizes:
        out.append(buf.feed(text[pos:pos + size]))
        pos += size
    out.append(buf.feed(text[pos:]))
    out.append(buf.flush())
    return out


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=30), st.lists(st.integers(1, 40), max_size=40))
def test_stream_releases_what_the_whole_text_scan_redacts(pieces, sizes):
    text = "".join(pieces)
    for scan, hold in ((SECRETS, HOLD), (pii_scan, PII_HOLD)):
        whole = redact(text, scan(text), lambda rule: f"<{rule}>")
        assert "".join(_stream(text, sizes, scan, hold)) == whole
