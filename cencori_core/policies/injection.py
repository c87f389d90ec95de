"""Prompt injection: a deterministic heuristic score over rule ids.

Rules: ``override`` ("ignore all previous instructions"), ``system_prompt_leak`` ("reveal your
system prompt"), ``role_hijack`` ("you are now DAN", "developer mode enabled"), ``delimiter``
(chat-template tokens such as ``<|im_start|>``, ``[INST]``, ``<<SYS>>``), ``invisible_chars``
(bidi overrides, or three or more zero-width characters), ``unicode_tags`` (tag characters
outside emoji flag sequences: invisible ASCII smuggling) and ``base64_instructions`` (a base64
token that decodes to text matching one of the text rules).

The score is the sum of the weights of the rules that fired (1.0 each by default); at or above
``threshold`` (default 1.0: any single rule) the policy flags or blocks. Each rule is located by
a keyword found with ``str`` methods first, so a clean prompt costs a handful of C-speed scans.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import ClassVar

from ..context import CallContext
from ..errors import ConfigurationError
from ..hookspecs import hookimpl
from ._base import METER, Policy, guarded
from ._text import normalize, text_classes

__all__ = ["PromptInjection", "RULES", "detect"]

RULES = ("override", "system_prompt_leak", "role_hijack", "delimiter", "invisible_chars",
         "unicode_tags", "base64_instructions")

_OVERRIDE = re.compile(r"""
  (?:ignore|disregard|forget|override|bypass)\s+
  (?:
    (?:(?:all|any|every|each|the|these|those|of|and|my)\s+){0,3}
    (?:previous|prior|above|earlier|preceding|former|original|initial|system|developer|existing
       |safety|your|all|any)\s+
    (?:[a-z-]+\s+){0,2}?
    (?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|constraints
       |context|messages?|commands?|programming|restrictions|polic(?:y|ies))\b
  | (?:everything|anything)\s+(?:above|before|prior|previously|you\s+(?:were|have\s+been)\s+told)
  )""", re.X)
_OVERRIDE_WORDS = ("ignore", "disregard", "forget", "overrid", "bypass")

_LEAK = re.compile(r"""
  (?:reveal|print|show|repeat|output|display|leak|dump|tell\s+me|give\s+me|what\s+(?:is|are|were))
  \s+(?:me\s+)?(?:your|the)\s+(?:(?:full|entire|exact|original|initial|hidden|secret|complete)\s+)?
  (?:system\s+(?:prompt|message|instructions)|(?:initial|hidden|original|secret)\s+
     (?:prompt|instructions)|instructions\s+(?:above|you\s+were\s+given)|prompt\s+above)""",
                   re.X)
_LEAK_WORDS = ("prompt", "instructions", "system message")

_HIJACK = re.compile(r"""
  you\s+are\s+now\s+(?:dan\b|jailbroken|unrestricted|unfiltered|in\s+developer\s+mode
                      |free\s+(?:of|from)\s+(?:all\s+)?(?:restrictions|rules))
| (?:enable|activate)\s+developer\s+mode | developer\s+mode\s+(?:enabled|activated|on)\b
| do\s+anything\s+now | jailbr(?:eak|oken)\s+mode""", re.X)
_HIJACK_WORDS = ("you are now", "developer mode", "anything now", "jailbr")

_DELIMITER = re.compile(r"<\|[a-z_]{2,30}\|>|\[/?inst\]|<</?sys>>|<(?:start|end)_of_turn>")

_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_ZERO_WIDTH = re.compile("[\u200b\u180e\u2060-\u2064]|(?<!^)\ufeff")
_TAGS = re.compile("[\U000e0000-\U000e007f]")
_FLAG = re.compile("\U0001f3f4[\U000e0020-\U000e007e]{1,8}\U000e007f")  # e.g. England's flag

_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_TOKEN_END = re.compile(r"[ \n\t\"'()<>\[\],]")
_LAST_END = re.compile(r".*[ \n\t\"'()<>\[\],]", re.S)  # up to the last token end
_B64_MAX = 20_000  # longer tokens are data (images, files), not instructions


def _near(low: str, words: Iterable[str], pattern: re.Pattern[str], back: int) -> int:
    """Matches of ``pattern`` in the windows from ``back`` characters before each keyword to 160
    after it. Overlapping windows are merged first, so each character is searched once however
    densely the keywords repeat ("ignore ignore ignore ...")."""
    windows: list[tuple[int, int]] = []
    for word in words:
        at = low.find(word)
        while at != -1:
            windows.append((max(0, at - back), min(len(low), at + 160)))
            at = low.find(word, at + 1)
    METER.chars += len(low) * len(tuple(words))
    if not windows:
        return 0
    windows.sort()
    found = 0
    lo, hi = windows[0]
    for w_lo, w_hi in windows[1:] + [(len(low) + 1, 0)]:
        if w_lo <= hi:
            hi = max(hi, w_hi)
            continue
        METER.chars += hi - lo
        found += sum(1 for _ in pattern.finditer(low, lo, hi))
        lo, hi = w_lo, w_hi
    return found


def _text_rules(text: str, out: dict[str, int]) -> None:
    low = text.lower()
    for rule, words, pattern, back in (("override", _OVERRIDE_WORDS, _OVERRIDE, 0),
                                       ("system_prompt_leak", _LEAK_WORDS, _LEAK, 60),
                                       ("role_hijack", _HIJACK_WORDS, _HIJACK, 12)):
        n = _near(low, words, pattern, back)
        if n:
            out[rule] = out.get(rule, 0) + n
    if "<" in text or "[" in text:
        METER.chars += len(text)
        n = len(_DELIMITER.findall(low))
        if n:
            out["delimiter"] = out.get("delimiter", 0) + n


def _unicode_rules(text: str, out: dict[str, int]) -> None:
    bidi = len(_BIDI.findall(text))
    zero = len(_ZERO_WIDTH.findall(text))
    if bidi or zero >= 3:
        out["invisible_chars"] = out.get("invisible_chars", 0) + bidi + zero
    if _TAGS.search(text):
        n = len(_TAGS.findall(_FLAG.sub("", text)))
        if n:
            out["unicode_tags"] = out.get("unicode_tags", 0) + n


def _decode(token: str) -> str | None:
    raw = token.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        text = data.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    return text if text and printable >= 0.9 * len(text) else None


def _base64_rules(text: str, out: dict[str, int]) -> None:
    # Base64 of text switches between lower and upper case inside a token ("aWdub3Jl"), which
    # prose rarely does: that pair on the character-class map is the cheap hint. The token
    # around a hint is bounded by the last token end since the previous token (each character
    # is looked at once) and the next one.
    classes = text_classes(text)
    METER.chars += 2 * len(text)
    at = classes.find(b"aA")
    prev_end = 0
    while at != -1:
        last = _LAST_END.match(text, prev_end, at)
        start = last.end() if last else prev_end
        m_end = _TOKEN_END.search(text, at)
        end = m_end.start() if m_end else len(text)
        METER.chars += 2 * (end - prev_end)
        m = _B64_TOKEN.search(text, start, end) if end - start >= 24 else None
        if m and m.end() - m.start() <= _B64_MAX:
            decoded = _decode(m.group())
            if decoded:
                inner: dict[str, int] = {}
                _text_rules(decoded, inner)
                if inner:
                    out["base64_instructions"] = out.get("base64_instructions", 0) + 1
        prev_end = end
        at = classes.find(b"aA", end)


def detect(text: str) -> dict[str, int]:
    """Rule id → number of hits in ``text`` (empty when clean).

    The text rules read the normalized text (NFKC, invisible characters removed), so
    "ig<zero-width space>nore previous instructions" or full-width letters still match; the
    invisible characters themselves are counted on the original."""
    out: dict[str, int] = {}
    norm = text if text.isascii() and "\\" not in text else normalize(text)[0]
    _text_rules(norm, out)
    if not text.isascii():
        _unicode_rules(text, out)
    if len(norm) >= 24:
        _base64_rules(norm, out)
    return out


class PromptInjection(Policy):
    """Scores the user's messages and tool results for prompt injection.

    ``PromptInjection(mode="flag")`` (default) records the rules that fired on the response's
    ``policy_decisions``; ``block`` refuses the call. ``threshold`` (default 1.0) is compared with
    the sum of ``weights`` (rule → weight, 1.0 each by default) of the rules that fired, so by
    default any single rule triggers. ``roles`` chooses the messages scanned (default the user's
    and tool results: the system prompt is the application's own). Applies to chat calls.
    The score and fired rules are kept in ``context.state["injection"]``.
    """

    name: ClassVar[str] = "injection"
    modes: ClassVar[tuple[str, ...]] = ("flag", "block")

    def __init__(self, *, mode: str | None = None, threshold: float = 1.0,
                 weights: Mapping[str, float] | None = None,
                 rules: Iterable[str] | None = None,
                 roles: Iterable[str] = ("user", "tool"), fail_open: bool = False) -> None:
        super().__init__(mode=mode, fail_open=fail_open)
        chosen = frozenset(RULES if rules is None else rules)
        unknown = sorted((chosen | set(weights or {})) - set(RULES))
        if unknown:
            raise ConfigurationError(
                f"PromptInjection: unknown rule(s) {unknown}; known: {list(RULES)}")
        self.rules = chosen
        self.weights = {rule: 1.0 for rule in RULES}
        self.weights.update({k: float(v) for k, v in (weights or {}).items()})
        self.threshold = float(threshold)
        self.roles = frozenset(roles)

    def score(self, text: str) -> tuple[float, dict[str, int]]:
        """The score of one text and the hits of each rule that fired."""
        hits = {r: n for r, n in detect(text).items() if r in self.rules}
        return sum(self.weights[r] for r in hits), hits

    @hookimpl
    @guarded
    def cencori_pre_request(self, context: CallContext) -> None:
        messages = getattr(context.request, "messages", None)
        if not messages:
            return
        hits: dict[str, int] = {}
        for m in messages:
            if m.role not in self.roles:
                continue
            content = m.content
            texts = [content] if isinstance(content, str) else [
                p["text"] for p in content or () if p.get("type") == "text"]
            for text in texts:
                for rule, n in detect(text).items():
                    if rule in self.rules:
                        hits[rule] = hits.get(rule, 0) + n
        if not hits:
            return
        score = sum(self.weights[r] for r in hits)
        context.state["injection"] = {"score": score, "rules": sorted(hits)}
        if score < self.threshold:
            return
        if self.mode == "block":
            first = next(r for r in RULES if r in hits)
            for rule in hits:
                if rule != first:
                    context.decide(self.name, rule, "block", hits[rule])
            raise self.block(context, first, hits[first],
                             f"the request looks like a prompt injection (score {score:g})")
        for rule in RULES:
            if rule in hits:
                context.decide(self.name, rule, "flag", hits[rule])
