"""PII: e-mail addresses, phone numbers, payment cards (Luhn), IBANs (mod-97), US SSNs and IP
addresses.

Speed matters (every request passes here), and Python's ``re`` costs about 10 ns per character
for a pattern that must be tried at every position. So each family is first located with
C-speed primitives: ``str.find`` for ``@``; for digits, the map of character classes
(:func:`~._text.text_classes`: every digit becomes ``0``, every capital ``A``) lets one regex
with a literal first character find the dense digit clusters and ``AA00`` IBAN starts. The
precise patterns then run only on those few windows.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import ClassVar

from ..context import CallContext
from ..errors import ConfigurationError
from ._base import METER, Finding, Scan, merge
from ._scanning import ScanningPolicy
from ._text import normalize, text_classes

__all__ = ["PII", "RULES", "scan"]

RULES = ("email", "phone", "credit_card", "iban", "ssn", "ip_address")

# ---------------------------------------------------------------------------- e-mail

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}"
                     r"(?![A-Za-z0-9-])")


def _emails(text: str, out: list[Finding]) -> None:
    METER.chars += len(text)
    at = text.find("@")
    while at != -1:
        start = at
        low = max(0, at - 64)
        METER.chars += 64 + 600  # the local part's walk and the domain's bounded match
        while start > low and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        while start < at and text[start] == ".":
            start += 1
        if start < at and (start == 0 or text[start - 1] not in _LOCAL_CHARS):
            m = _DOMAIN.match(text, at + 1)
            if m:
                out.append((start, m.end(), "email"))
                at = text.find("@", m.end())
                continue
        at = text.find("@", at + 1)


# ---------------------------------------------------------------------------- digits

# Dense digit clusters on the class map: 7+ digits with short separators, or an IPv4 shape.
_CLUSTER = re.compile(rb"0(?:(?:[ .()/-]{0,2}0){6,}|0{0,2}\.0{1,3}\.0{1,3}\.0{1,3})")
_IBAN_START = re.compile(rb"AA00")

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_DIGITS = re.compile(rf"""
  (?P<ssn>(?<![\w-])(?!000|666|9\d\d)\d{{3}}-(?!00)\d{{2}}-(?!0000)\d{{4}}(?![\w-]))
| (?P<credit_card>(?<![\w-])\d(?:[ ./-]?\d){{12,18}}(?![\w-]))
| (?P<ip_address>(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?![\w]|\.\d))
| (?P<phone>(?<![\w+])(?:\+\d{{1,3}}[ .-]?)?(?:\(\d{{1,4}}\)[ .-]?|\d{{1,4}}[ .-])
            (?:\d{{2,4}}[ .-]){{1,3}}\d{{2,4}}(?![\w-]))
""", re.X)
_IBAN_HEAD = re.compile(r"[A-Z]{2}\d{2} ")
_GROUP = re.compile(r"\d+")
# Not phones: dates, and the SSN shape (an invalid SSN is still no phone number).
_NOT_PHONE = re.compile(r"\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{4}"
                        r"|\d{3}-\d{2}-\d{4}")


_DOUBLED = str.maketrans("0123456789", "0246813579")  # each digit doubled, digits summed


def luhn(digits: str) -> bool:
    """The Luhn checksum of a string of digits (slices and a translate: no per-digit loop)."""
    rev = digits[::-1]
    total = sum(map(int, rev[0::2])) + sum(map(int, rev[1::2].translate(_DOUBLED)))
    return total % 10 == 0


def _phone_ok(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    if not 7 <= digits <= 15 or _NOT_PHONE.fullmatch(value):
        return False
    if value[0] in "+(":
        return True
    # "1 000 000": groups of exactly three after the first are a thousands separator, not a phone.
    groups = re.split(r"[ .-]", value)
    return not all(len(g) == 3 for g in groups[1:])


def _card_end(text: str, start: int, end: int) -> int | None:
    """The end of the Luhn-valid card number starting at ``start``: the whole candidate, or a
    shorter one ending at a group boundary (a card followed by another number: "4111 ... 1111 10").
    """
    if _IBAN_HEAD.fullmatch(text, max(0, start - 5), start):
        return None  # the digits after an IBAN's "DE89 " are the IBAN's, not a card's
    ends = []
    counts = []  # digits up to the end of each group
    n = 0
    for m in _GROUP.finditer(text, start, end):
        ends.append(m.end())
        n += m.end() - m.start()
        counts.append(n)
    digits = text[start:end]
    if len(digits) != n:
        digits = "".join(_GROUP.findall(digits))
    for i in range(len(ends) - 1, -1, -1):
        if counts[i] < 13:
            break
        if luhn(digits[:counts[i]]):
            return ends[i]
    return None


def _digit_rules(text: str, classes: bytes, out: list[Finding]) -> None:
    METER.chars += len(text)
    last = 0
    for c in _CLUSTER.finditer(classes):
        if c.end() <= last:
            continue
        pos = max(last, c.start() - 1)
        stop = min(len(text), c.end() + 1)
        METER.chars += stop - pos  # the searches below move forward through this window
        while True:
            m = _DIGITS.search(text, pos, stop)
            if m is None:
                break
            rule = m.lastgroup
            start, end = m.span()
            valid: int | None = end
            if rule == "credit_card":
                valid = _card_end(text, start, end)
            elif rule == "phone" and not _phone_ok(m.group()):
                valid = None
            if valid is None:
                pos = end  # the whole number is judged: no retry on a piece of it
                continue
            out.append((start, valid, rule))  # type: ignore[arg-type]
            pos = last = valid


# ---------------------------------------------------------------------------- IBAN

# Length of the IBAN of each country (ISO 13616 registry).
_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
# The same, exactly as long as one country's IBAN (characters, spaces not counted).
_IBAN_OF = {n: re.compile(rf"[A-Z]{{2}}\d{{2}}(?: ?[A-Z0-9]){{{n - 4}}}")
            for n in set(_IBAN_LENGTH.values())}


def iban_ok(compact: str) -> bool:
    """The ISO 7064 mod-97 check of an IBAN without spaces."""
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _ibans(text: str, classes: bytes, out: list[Finding]) -> None:
    METER.chars += len(text)
    for hit in _IBAN_START.finditer(classes):
        start = hit.start()
        METER.chars += 64  # the bounded IBAN match
        if start and text[start - 1].isalnum():
            continue
        m = _IBAN.match(text, start)
        if not m:
            continue
        want = _IBAN_LENGTH.get(text[start:start + 2])
        # Cut the match at the country's length: a trailing word in capitals is not part of it.
        if want:
            m = _IBAN_OF[want].match(text, start)
            if not m:
                continue
        end = m.end()
        if end < len(text) and text[end].isalnum():
            continue
        compact = text[start:end].replace(" ", "")
        if iban_ok(compact):
            out.append((start, end, "iban"))


# ---------------------------------------------------------------------------- IPv6

_V6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_V6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|"
                 rf"{_OCTET}(?:\.{_OCTET}){{3}})?(?![\w:]|\.\d)")


def _ipv6(text: str, out: list[Finding]) -> None:
    # The windows around the hints are merged first and searched once each: dense colons
    # ("::::") cost one pass, not one window per colon. Every match holds a hint.
    windows = [(max(0, h.start() - 40), min(len(text), h.end() + 46))
               for h in _V6_HINT.finditer(text)]
    METER.chars += len(text)
    if not windows:
        return
    regions = []
    lo, hi = windows[0]
    for w_lo, w_hi in windows[1:]:
        if w_lo <= hi:
            hi = max(hi, w_hi)
        else:
            regions.append((lo, hi))
            lo, hi = w_lo, w_hi
    regions.append((lo, hi))
    for lo, hi in regions:
        METER.chars += hi - lo
        for m in _V6.finditer(text, lo, hi):
            value = m.group()
            groups = [g for g in value.split(":") if g]
            if len(groups) < 2 or not any(c.isdigit() for c in value):
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            out.append((m.start(), m.end(), "ip_address"))


# ---------------------------------------------------------------------------- scan


def scan(text: str, rules: frozenset[str] = frozenset(RULES)) -> list[Finding]:
    """Every PII finding in ``text``, sorted and non-overlapping.

    The detectors read the normalized text (NFKC, invisible characters removed, non-ASCII
    digits as ASCII: a card written in Arabic-Indic digits or split by zero-width spaces is
    still a card); the spans are mapped back to ``text``."""
    if text.isascii() and "\\" not in text:  # the common case, without a call
        return _scan(text, rules)
    norm, tmap = normalize(text)
    found = _scan(norm, rules)
    if tmap is None or not found:
        return found
    return [(*tmap.span(start, end), rule) for start, end, rule in found]


def _scan(text: str, rules: frozenset[str]) -> list[Finding]:
    out: list[Finding] = []
    if "@" in text and "email" in rules:
        _emails(text, out)
    classes = text_classes(text)
    if b"0" in classes:
        _digit_rules(text, classes, out)
        if "iban" in rules and b"AA00" in classes:
            _ibans(text, classes, out)
        if "ip_address" in rules:
            _ipv6(text, out)
    if not out:
        return out
    if len(rules) < len(RULES):
        out = [f for f in out if f[2] in rules]
    return merge(out)


# The longest bounded pattern: an IBAN written in groups (34 characters and 8 spaces), plus the
# look-ahead character. Longer, unbounded shapes (e-mails) are held as unfinished tokens.
HOLD = 48


class PII(ScanningPolicy):
    """Personal data in requests (and, with ``responses=True``, in responses and streams).

    ``PII(mode="redact")`` (default) replaces each value with ``[REDACTED_EMAIL]``,
    ``[REDACTED_PHONE]``, ``[REDACTED_CREDIT_CARD]``, ``[REDACTED_IBAN]``, ``[REDACTED_SSN]`` or
    ``[REDACTED_IP_ADDRESS]``; ``block`` refuses the call; ``flag`` only records decisions.
    ``rules`` limits the detectors (default: all of :data:`RULES`). Card numbers must pass the
    Luhn check and IBANs the mod-97 check; numbers that fail are left alone.
    """

    name: ClassVar[str] = "pii"
    what: ClassVar[str] = "personal data"

    def __init__(self, *, mode: str | None = None, rules: Iterable[str] | None = None,
                 responses: bool = False, fail_open: bool = False) -> None:
        super().__init__(mode=mode, responses=responses, fail_open=fail_open)
        chosen = frozenset(RULES if rules is None else rules)
        unknown = sorted(chosen - set(RULES))
        if unknown:
            raise ConfigurationError(f"PII: unknown rule(s) {unknown}; known: {list(RULES)}")
        self.rules = chosen
        if chosen == frozenset(RULES):
            self._scan: Scan = scan
        else:
            self._scan = lambda text: scan(text, chosen)

    def scanner(self, context: CallContext) -> tuple[Scan, int]:
        return self._scan, HOLD
