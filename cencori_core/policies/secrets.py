"""Secrets: API keys and tokens by their prefix, PEM private keys, JWTs, ``password=``-style
assignments, and the router's own provider keys (exact match).

Every shape starts with a fixed prefix, so the scan is a ``str.find`` per prefix (C speed) and a
regex anchored at each hit; nothing runs character by character over a clean prompt. There is
no allow-list of documented example keys: a key-shaped string is a hit, whoever published it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from ..context import CallContext
from ..errors import ConfigurationError
from ._base import METER, Finding, Scan, merge
from ._rewrite import SPLIT_GATE
from ._scanning import ScanningPolicy
from ._text import normalizing

__all__ = ["Secrets", "RULES"]

_KEY = r"[A-Za-z0-9_-]"
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

# (rule, prefixes, pattern anchored at the prefix). Order matters where prefixes nest: the
# first detector to claim a span wins (sk-ant- before sk-).
_SHAPES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("anthropic_key", ("sk-ant-",), rf"sk-ant-{_KEY}{{16,}}"),
    ("openai_key", ("sk-",), rf"sk-{_KEY}{{16,}}"),
    ("google_api_key", ("AIza",), rf"AIza{_KEY}{{16,}}"),
    ("xai_key", ("xai-",), rf"xai-{_KEY}{{16,}}"),
    ("aws_access_key", ("AKIA", "ASIA", "ABIA", "ACCA"), r"A[KSBC][IC]A[A-Z0-9]{16,}"),
    ("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     r"(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}"),
    ("slack_token", ("xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-"),
     r"(?:xox[bpares]|xapp)-[A-Za-z0-9-]{16,}"),
    ("stripe_key", ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"),
     r"(?:[sr]k_(?:live|test)|whsec)_[A-Za-z0-9]{16,}"),
    ("gitlab_token", ("glpat-",), rf"glpat-{_KEY}{{16,}}"),
    ("huggingface_token", ("hf_",), r"hf_[A-Za-z0-9]{16,}"),
    ("groq_key", ("gsk_",), r"gsk_[A-Za-z0-9]{16,}"),
    ("jwt", ("eyJ",), rf"eyJ{_KEY}{{8,}}\.eyJ{_KEY}{{8,}}\.{_KEY}*"),
    # The BEGIN line alone is a hit; the body (also JSON-escaped newlines) up to END goes with it.
    # The body stops at the first "-----" (a lone '-' may not start five), so a search for END
    # never runs past the next PEM line: each one costs the distance to the next.
    ("private_key", ("-----BEGIN ",),
     r"-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY-----(?:(?:[A-Za-z0-9+/=\s\\:,]|-(?!----))*"
     r"-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY-----|[A-Za-z0-9+/=\s\\]*)"),
)
_COMPILED = tuple((rule, prefixes, re.compile(p)) for rule, prefixes, p in _SHAPES)

# password=hunter2, "api_key": "...", db_password: 'x': the keyword (possibly ending an
# identifier), an optional closing quote, then '=' (any value) or ':' and a quoted value; only
# the value is redacted.
_ASSIGN = re.compile(
    r"[a-z0-9_-]*?(?:password|passwd|passphrase|pwd|secret|api[_-]?key|"
    r"(?:access|auth|refresh|session|bearer|api|id)[_-]?token)[\"']?[ \t]{0,3}"
    r"(?:=[ \t]{0,3}[\"']?|:[ \t]{0,3}[\"'])(?P<value>[^\s\"'`<>${}*=][^\s\"'`]{3,})",
    re.IGNORECASE)

RULES = tuple(rule for rule, _, _ in _SHAPES) + ("password", "router_key")

# The longest prefix plus 16 key characters, a PEM header, or an assignment's keyword and
# padding, plus the look-ahead character.
HOLD = 64


# Cheap hints, each a regex with a literal first character (which ``re`` finds at C speed): a
# '-' or '_' followed by 16 key characters, the AWS and Google capitals, a JWT, a PEM header.
_HINTS = (
    re.compile(r"-[A-Za-z0-9_-]{16}"),
    re.compile(r"_[A-Za-z0-9_]{16}"),
    re.compile(r"A(?:Iza|KIA|SIA|BIA|CCA)"),
    re.compile(r"eyJ"),
)
_PEM = "-----BEGIN "  # str.find: re's search for a literal of repeated characters is slow
_NO_MATCH = 32  # what a failed anchored match is counted as (it stops within a few characters)
# Key characters (and nothing else) as b"k": the start of the token around a hint is the last
# non-key character before it, found by bytes.rfind at C speed.
def _key_map(text: str) -> bytes:
    # Non-ASCII characters become '?' first: not key characters.
    return text.encode("ascii", "replace").translate(_KEY_TABLE)


_KEY_TABLE = bytes(ord("k") if chr(i) in _KEY_CHARS else ord(" ") for i in range(256))


def _shapes(text: str, rules: frozenset[str], out: list[Finding]) -> None:
    hits: list[int] = []
    for hint in _HINTS:
        for hit in hint.finditer(text):  # a loop, not a generator: cheaper when none is found
            hits.append(hit.start())
    METER.chars += len(text) * len(_HINTS)
    pems: list[int] = []
    at = text.find(_PEM)
    while at != -1:
        pems.append(at)
        at = text.find(_PEM, at + 1)
    if not hits and not pems:
        return
    # Each hint's token start, found once per token: a later hint in the same token (nothing
    # but key characters since the previous hint) shares the previous hint's start, so every
    # character is looked at once however many hints a token holds.
    starts: list[int] = []
    if hits:
        hits.sort()
        keys = _key_map(text)
        METER.chars += len(text)
        prev = prev_start = 0
        for at in hits:
            gap = keys.rfind(b" ", prev, at)
            start = gap + 1 if gap != -1 else prev_start
            METER.chars += at - prev
            if not starts or starts[-1] != start:
                starts.append(start)
            prev, prev_start = at, start
    if pems:  # a PEM line starts where it is found ('-' is a key character: no walk-back)
        starts = sorted(set(starts).union(pems))
    end = 0
    for start in starts:
        if start < end:  # inside the previous match: it is part of that value
            continue
        for rule, prefixes, pattern in _COMPILED:
            if rule in rules and text.startswith(prefixes, start):
                m = pattern.match(text, start)
                METER.chars += m.end() - start if m else _NO_MATCH
                if m:
                    out.append((start, m.end(), rule))
                    end = m.end()
                    break


_COLON_QUOTE = re.compile(r":[ \t]{0,3}[\"']")
_ASSIGN_KEY = re.compile(r"[a-z0-9_-]*?(?:password|passwd|passphrase|pwd|secret|api[_-]?key|"
                         r"(?:access|auth|refresh|session|bearer|api|id)[_-]?token)", re.I)


_KEYWORD_MAX = 16  # the longest keyword ("refresh_token") and a separator before it


def _assignments(text: str, out: list[Finding]) -> None:
    # Found from the operator ('=' by str.find, ':' by a regex with a literal first character,
    # both at C speed), then the keyword just before it. The keyword must end the identifier,
    # so only its last few characters are read, and an operator inside a value already found
    # (password=a=b=c...) is part of that value: nothing is read twice.
    ops = []
    at = text.find("=")
    while at != -1:
        ops.append(at)
        at = text.find("=", at + 1)
    colons = False
    for hit in _COLON_QUOTE.finditer(text):
        ops.append(hit.start())
        colons = True
    METER.chars += 2 * len(text)
    if not ops:
        return
    if colons:
        ops.sort()
    done = 0
    for at in ops:
        if at < done:
            continue
        key_end = at
        low = max(0, at - 4)  # a closing quote and up to three blanks
        while key_end > low and text[key_end - 1] in " \t\"'":
            key_end -= 1
        start = key_end
        low = max(0, key_end - _KEYWORD_MAX)
        while start > low and (text[start - 1].isalnum() or text[start - 1] in "_-"):
            start -= 1
        METER.chars += at - start
        if start == key_end or not _ASSIGN_KEY.fullmatch(text, start, key_end):
            continue
        m = _ASSIGN.match(text, start)
        METER.chars += m.end() - start if m else _NO_MATCH
        if m:
            out.append((m.start("value"), m.end("value"), "password"))
            done = m.end()


def _exact(text: str, keys: tuple[str, ...], out: list[Finding]) -> None:
    METER.chars += len(text) * len(keys)
    for key in keys:
        at = text.find(key)
        while at != -1:
            out.append((at, at + len(key), "router_key"))
            at = text.find(key, at + len(key))


def make_scan(rules: frozenset[str], keys: tuple[str, ...]) -> Scan:
    """A scan function for these rules and these exact secrets (longest first)."""
    exact = keys if "router_key" in rules else ()
    assignments = "password" in rules

    def scan(text: str) -> list[Finding]:
        out: list[Finding] = []
        if exact:
            _exact(text, exact, out)
        _shapes(text, rules, out)
        if assignments:
            _assignments(text, out)
        # A router key is reported as such even when it also has a public key shape.
        return merge(out) if out else out

    # On the normalized text: a key written in full-width letters or split by a zero-width
    # space is still that key.
    return normalizing(scan)


# How many distinct router key sets one Secrets policy keeps compiled scans for.
_CACHED_KEY_SETS = 16


class Secrets(ScanningPolicy):
    """Credentials in requests (and, with ``responses=True``, in responses and streams).

    Default mode ``block``; ``redact`` replaces each with ``[REDACTED_<RULE>]`` (for assignments
    only the value); ``flag`` records. Besides the shapes in :data:`RULES`, every provider key
    visible to the router (arguments, config file, environment) is matched exactly, so a key
    without a recognisable prefix is still caught; ``known`` adds more exact strings.
    """

    name: ClassVar[str] = "secrets"
    modes: ClassVar[tuple[str, ...]] = ("block", "redact", "flag")
    what: ClassVar[str] = "a secret"

    def __init__(self, *, mode: str | None = None, rules: Iterable[str] | None = None,
                 known: Iterable[str] = (), responses: bool = False,
                 fail_open: bool = False) -> None:
        super().__init__(mode=mode, responses=responses, fail_open=fail_open)
        chosen = frozenset(RULES if rules is None else rules)
        unknown = sorted(chosen - set(RULES))
        if unknown:
            raise ConfigurationError(f"Secrets: unknown rule(s) {unknown}; known: {list(RULES)}")
        self.rules = chosen
        self._known = tuple(k for k in known if isinstance(k, str) and k)
        # Per set of router keys (CallContext.known_secrets(), one tuple per router): the scan
        # with those keys and whether a split key could hide in prose. A few entries at most;
        # cleared if it ever grows (routers built and dropped in a loop).
        self._by_keys: dict[tuple[str, ...], tuple[Scan, int, bool]] = {}

    def _compiled(self, context: CallContext) -> tuple[Scan, int, bool]:
        router_keys = context.known_secrets()
        if not isinstance(router_keys, tuple):
            router_keys = tuple(router_keys)
        hit = self._by_keys.get(router_keys)
        if hit is None:
            keys = set(self._known)
            keys.update(router_keys)
            ordered = tuple(sorted(keys, key=len, reverse=True))
            hold = max([HOLD, *(len(k) + 1 for k in ordered)])
            # A known key without a digit or symbol could be split across texts in plain prose.
            gate = all(SPLIT_GATE.search(k) for k in keys)
            if len(self._by_keys) >= _CACHED_KEY_SETS:
                self._by_keys.clear()
            hit = self._by_keys[router_keys] = (make_scan(self.rules, ordered), hold, gate)
        return hit

    def scanner(self, context: CallContext) -> tuple[Scan, int]:
        scan, hold, _ = self._compiled(context)
        return scan, hold

    def split_gate(self, context: CallContext) -> re.Pattern[str] | None:
        return SPLIT_GATE if self._compiled(context)[2] else None

    def __repr__(self) -> str:  # never show the known secrets
        return f"<Secrets mode={self.mode!r} known={len(self._known)}>"
