"""How the scanners see text: Unicode normalization (NFKC, invisibles dropped, escapes
and non-ASCII digits folded) with a map back to the original offsets, and the cached
character-class map the keyword scanners read."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from bisect import bisect_right
from typing import Any

from ._base import METER, Finding, Scan

# ---------------------------------------------------------------------------- normalization

# Invisible characters a value can be split with: soft hyphen, combining grapheme joiner,
# Mongolian vowel separator, zero-width space/joiners, direction marks, word joiner and the
# invisible operators, the BOM.
_INVISIBLE = "\u00ad\u034f\u180e\u200b-\u200f\u2060-\u2064\ufeff"
# What NFKC leaves alone but a scanner must not: invisibles and non-ASCII decimal digits.
_SPECIAL = re.compile(f"[{_INVISIBLE}]|(?![0-9])\\d")
_STRIP = re.compile(f"[{_INVISIBLE}]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")

__all__ = ["TextMap", "normalize", "normalizing", "text_classes"]


@functools.lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """One character as the scanners see it: NFKC, invisibles dropped, digits made ASCII."""
    if _STRIP.fullmatch(ch):
        return ""
    out = unicodedata.normalize("NFKC", ch)
    if not out.isascii():
        out = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in out)
    return out


class TextMap:
    """Maps spans of a normalized text back to the original: piece ``i`` covers normalized
    ``[starts[i], starts[i+1])``, made from original ``[origs[i], origs[i+1])``, character for
    character when ``same[i]`` (else one original character became the piece, or none).

    Built on first use: most normalized texts have no finding, and the map is the one part
    of normalization that walks the non-ASCII characters one by one in Python."""

    __slots__ = ("text", "starts", "origs", "same")

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: list[int] = []
        self.origs: list[int] = []
        self.same: list[bool] = []

    def span(self, start: int, end: int) -> tuple[int, int]:
        if not self.starts:
            _build(self.text, self)
        i = bisect_right(self.starts, start) - 1
        orig_start = self.origs[i] + (start - self.starts[i] if self.same[i] else 0)
        j = bisect_right(self.starts, end - 1) - 1
        orig_end = self.origs[j] + (end - self.starts[j]) if self.same[j] else self.origs[j + 1]
        return orig_start, orig_end


class _FoldTable(dict[int, Any]):
    """``str.translate`` table folding each character as :func:`_fold` does, filled on demand
    (the translation then runs at C speed over characters already seen)."""

    def __missing__(self, code: int) -> Any:
        if len(self) > 65_536:
            self.clear()
        ch = chr(code)
        out = _fold(ch)
        value = self[code] = code if out == ch else out
        return value


_FOLD = _FoldTable()


# A JSON escape (``\u0073``, or any other escaped character, kept whole so that ``\\u0041`` is
# an escaped backslash and a letter, not an escape) or a run of non-ASCII characters.
_PIECES = re.compile(r"\\(?:u[0-9a-fA-F]{4}(?:\\u[0-9a-fA-F]{4})?|.)|[^\x00-\x7f]+", re.S)


def _unescape(seq: str) -> str | None:
    r"""The character(s) of a ``\uXXXX`` escape (a surrogate pair as one character), or None."""
    try:
        out = json.loads(f'"{seq}"')
    except ValueError:
        return None
    if any(0xD800 <= ord(c) <= 0xDFFF for c in out):
        return None  # a lone surrogate: left as written
    return str(out)


def normalize(text: str) -> tuple[str, TextMap | None]:
    r"""``text`` as the scanners see it and the map back to ``text``; ``None`` when the text is
    already in that form (always for ASCII without ``\u`` escapes: two C-speed checks).

    The form: NFKC, zero-width and other invisible characters removed, non-ASCII digits as
    ASCII, and JSON ``\uXXXX`` escapes decoded (tool-call arguments are JSON text: a key
    written ``\u0073k-...`` is the key the tool will read). Characters are folded one by one
    so that every span maps back to whole original characters and escapes.
    """
    if text.isascii():
        # One character is found by memchr; "\\u" is a slower two-character search.
        if "\\" not in text or "\\u" not in text:
            return text, None
    else:
        METER.chars += len(text)
        if "\\u" not in text:
            if unicodedata.is_normalized("NFKC", text) and not _SPECIAL.search(text):
                return text, None
            # Without escapes the folding is one translate; the map waits until needed.
            norm = text.translate(_FOLD)
            return (text, None) if norm == text else (norm, TextMap(text))
    METER.chars += len(text)
    tmap = TextMap(text)
    norm = _build(text, tmap)
    if tmap.starts == [0, len(norm)] and tmap.same == [True, True]:
        return text, None  # nothing changed (escapes of quotes and newlines only)
    return norm, tmap


def _build(text: str, tmap: TextMap) -> str:
    """Fold ``text`` piece by piece, filling ``tmap``; returns the folded text."""
    METER.chars += len(text)
    starts, origs, same = tmap.starts, tmap.origs, tmap.same
    parts: list[str] = []
    size = 0
    pos = 0

    def keep(orig: int, piece: str, one_to_one: bool) -> None:
        nonlocal size
        if not (one_to_one and same and same[-1]):  # else it extends the previous 1:1 piece
            starts.append(size)
            origs.append(orig)
            same.append(one_to_one)
        parts.append(piece)
        size += len(piece)

    # ASCII stretches map 1:1; only escapes and non-ASCII characters are looked at one by one.
    for m in _PIECES.finditer(text):
        if m.start() > pos:
            keep(pos, text[pos:m.start()], True)
        piece = m.group()
        if piece[0] == "\\":
            decoded = _unescape(piece) if piece[1:2] == "u" else None
            if decoded is None:
                keep(m.start(), piece, True)
            else:
                keep(m.start(), "".join(_fold(c) for c in decoded), False)
        else:
            for k, ch in enumerate(piece, m.start()):
                folded = _fold(ch)
                keep(k, folded, folded == ch)
        pos = m.end()
    if pos < len(text) or not starts:
        keep(pos, text[pos:], True)
    starts.append(size)
    origs.append(len(text))
    same.append(True)
    return "".join(parts)


def normalizing(scan: Scan) -> Scan:
    """``scan`` run on the normalized text, its findings mapped back to the original (so the
    redaction covers the invisible characters inside a value, and the original digits)."""

    def wrapped(text: str) -> list[Finding]:
        norm, tmap = normalize(text)
        if tmap is None:
            return scan(text)
        return [(*tmap.span(start, end), rule) for start, end, rule in scan(norm)]

    return wrapped


# ---------------------------------------------------------------------------- class map

_CLASSES = bytes.maketrans(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                           b"0" * 10 + b"A" * 26 + b"a" * 26)
_class_cache: dict[int, tuple[str, bytes]] = {}
_CACHE_SIZE = 32
_CACHE_TEXT = 16_384  # bounded memory: big texts are mapped again rather than kept


def text_classes(text: str) -> bytes:
    """``text`` as one byte per character with every digit mapped to ``0``, every capital to
    ``A`` and every small letter to ``a`` (anything outside ASCII becomes ``?``).

    Regexes with a literal first character run at C speed over this map (dense digit clusters,
    ``AA00`` IBAN starts, ``aA`` case switches), where character classes over the text would
    cost ~10 ns a character. Several policies scan the same strings in one call, so the last
    few maps are kept, by identity of the string.
    """
    hit = _class_cache.get(id(text))
    if hit is not None and hit[0] is text:
        return hit[1]
    classes = text.encode("ascii", "replace").translate(_CLASSES)
    if len(text) <= _CACHE_TEXT:
        if len(_class_cache) >= _CACHE_SIZE:
            _class_cache.clear()
        _class_cache[id(text)] = (text, classes)
    return classes
