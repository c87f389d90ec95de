"""What every built-in policy shares: modes, fail-closed crash handling, walking the texts of a
request or response, and the hold-back buffer that lets stream chunks be scanned safely.

A *finding* is ``(start, end, rule)``: a span of one text and the rule id that matched it. The
value itself never leaves the policy: decisions and errors carry only rule ids and counts.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

from ..context import CallContext
from ..errors import ConfigurationError, PolicyViolationError
from ..types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Message,
    ToolCall,
    ToolCallDelta,
    Transcription,
)

__all__ = ["Policy", "guarded", "Finding", "Scan", "rewrite_request", "rewrite_response",
           "redact", "merge", "text_classes", "HoldBack", "StreamFilter", "METER", "Meter",
           "normalize", "normalizing", "TextMap", "chat_texts", "split_findings", "SPLIT_GATE",
           "may_split"]

log = logging.getLogger("cencori_core.policies")

Finding = tuple[int, int, str]
Scan = Callable[[str], list[Finding]]
TextFn = Callable[..., str]  # fn(text) or fn(text, extra findings)
F = TypeVar("F", bound=Callable[..., Any])


class Policy:
    """Base class of the built-in policies (third-party policies may use it too).

    ``mode`` is one of the class's ``modes`` (the first is the default). A policy whose own code
    raises fails closed: the call is blocked with ``PolicyViolationError(rule="policy_error")``;
    with ``fail_open=True`` the failure is recorded as a decision and the call goes on.
    """

    name: ClassVar[str] = "policy"
    modes: ClassVar[tuple[str, ...]] = ("block", "flag")

    def __init__(self, *, mode: str | None = None, fail_open: bool = False) -> None:
        mode = self.modes[0] if mode is None else mode
        if mode not in self.modes:
            raise ConfigurationError(
                f"{type(self).__name__}: mode {mode!r} is not one of {', '.join(self.modes)}")
        self.mode = mode
        self.fail_open = bool(fail_open)
        # context.state key: one slot per policy object, so two instances never share state.
        self._key = f"{self.name}@{id(self):x}"

    def block(self, context: CallContext, rule: str, count: int, what: str) -> PolicyViolationError:
        """Record the block and build the error (``what`` describes the data, never quotes it)."""
        context.decide(self.name, rule, "block", count)
        return PolicyViolationError(f"blocked by the {self.name} policy: {what} (rule {rule})",
                                    policy=self.name, rule=rule)

    def _crashed(self, context: CallContext, exc: Exception) -> None:
        # Only the exception's type is reported: its message could quote the text being scanned.
        kind = type(exc).__name__
        if self.fail_open:
            log.warning("policy %s failed with %s; failing open", self.name, kind)
            context.decide(self.name, "policy_error", "fail_open", 1)
            return
        log.warning("policy %s failed with %s; failing closed", self.name, kind)
        raise PolicyViolationError(
            f"the {self.name} policy failed ({kind}) and fails closed; pass fail_open=True to "
            "let calls through when it fails", policy=self.name, rule="policy_error") from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} mode={self.mode!r}>"


def guarded(fn: F) -> F:
    """Wrap a hook method so that a crash fails closed (or open, per policy).

    ``PolicyViolationError`` passes through untouched: it is the policy's decision, not a crash.
    """

    @functools.wraps(fn)
    def wrapper(self: Policy, context: CallContext, *args: Any) -> Any:
        try:
            return fn(self, context, *args)
        except PolicyViolationError:
            raise
        except Exception as exc:  # noqa: BLE001 - any crash is handled by the policy's setting
            self._crashed(context, exc)
            return None

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------- findings


def merge(found: Iterable[Finding]) -> list[Finding]:
    """Sort findings by start and drop those overlapping an earlier (or longer) one."""
    out: list[Finding] = []
    end = -1
    for f in sorted(found, key=lambda f: (f[0], -f[1])):
        if f[0] >= end:
            out.append(f)
            end = f[1]
    return out


def redact(text: str, found: list[Finding], placeholder: Callable[[str], str]) -> str:
    """``text`` with every finding replaced by its rule's placeholder."""
    parts = []
    pos = 0
    for start, end, rule in found:
        parts.append(text[pos:start])
        parts.append(placeholder(rule))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


# ---------------------------------------------------------------------------- work meter


class Meter:
    """Characters the scanners examined, summed over every scan since the last ``reset()``.

    Each pass of a regex or ``str`` search over a whole text adds the text's length, a search
    in a window adds the window, an anchored match adds what it consumed (or its bound when it
    fails). The scanners are written so that this total is linear in their input; the tests
    read it to prove so (no wall clock), and it costs one addition per pass.
    """

    __slots__ = ("chars",)

    def __init__(self) -> None:
        self.chars = 0

    def reset(self) -> int:
        chars, self.chars = self.chars, 0
        return chars


#: The process-wide meter every built-in scanner adds to.
METER = Meter()


# ---------------------------------------------------------------------------- normalization

# Invisible characters a value can be split with: soft hyphen, combining grapheme joiner,
# Mongolian vowel separator, zero-width space/joiners, direction marks, word joiner and the
# invisible operators, the BOM.
_INVISIBLE = "\u00ad\u034f\u180e\u200b-\u200f\u2060-\u2064\ufeff"
# What NFKC leaves alone but a scanner must not: invisibles and non-ASCII decimal digits.
_SPECIAL = re.compile(f"[{_INVISIBLE}]|(?![0-9])\\d")
_STRIP = re.compile(f"[{_INVISIBLE}]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


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


# ---------------------------------------------------------------------------- request texts

# Where a text sits in a chat request: (message index, content part index or -1 for a string).
Where = tuple[int, int]


def _rewrite_message(m: Message, fn: TextFn, extra: dict[Where, list[Finding]] | None = None,
                     index: int = 0) -> Message:
    content = m.content
    if isinstance(content, str):
        more = extra.get((index, -1)) if extra else None
        new_content: Any = fn(content, more) if more else fn(content)
    elif content:
        new_content = content
        for i, part in enumerate(content):
            text = part.get("text") if part.get("type") == "text" else None
            if isinstance(text, str):
                more = extra.get((index, i)) if extra else None
                new = fn(text, more) if more else fn(text)
                if new is not text:
                    if new_content is content:
                        new_content = list(content)
                    new_content[i] = {**part, "text": new}
    else:
        new_content = content
    calls = m.tool_calls
    new_calls = calls
    for i, tc in enumerate(calls):
        # The raw JSON text: normalization decodes its \uXXXX escapes for the scanners and the
        # redaction replaces whole escapes, so the arguments stay valid JSON.
        new = fn(tc.arguments_raw)
        if new is not tc.arguments_raw:
            if new_calls is calls:
                new_calls = list(calls)
            new_calls[i] = ToolCall.from_raw(id=tc.id, name=tc.name, arguments_raw=new,
                                             provider_data=tc.provider_data)
    name = m.name
    new_name = fn(name) if name else name
    if new_content is content and new_calls is calls and new_name is name:
        return m
    return replace(m, content=new_content, tool_calls=new_calls, name=new_name)


def _rewrite_list(items: list[str], fn: TextFn) -> list[str]:
    out = items
    for i, text in enumerate(items):
        new = fn(text)
        if new is not text:
            if out is items:
                out = list(items)
            out[i] = new
    return out


def _rewrite_json(value: Any, fn: TextFn) -> Any:
    """``value`` (JSON-like: a tool's declaration, a response schema) with ``fn`` applied to
    every string in it, keys included; the same object when nothing changed."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for i, (key, item) in enumerate(value.items()):
            new_key = fn(key) if isinstance(key, str) else key
            new_item = _rewrite_json(item, fn)
            if out is None and (new_key is not key or new_item is not item):
                out = dict(list(value.items())[:i])
            if out is not None:
                out[new_key] = new_item
        return value if out is None else out
    if isinstance(value, (list, tuple)):
        items = [_rewrite_json(item, fn) for item in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    return value


def may_split(messages: list[Message]) -> bool:
    """Whether a value can be split between two texts: a message made of content parts, or two
    consecutive messages of one role (the common system, user, assistant, ... turns cannot)."""
    role = None
    for m in messages:
        if m.role == role or isinstance(m.content, list):
            return True
        role = m.role
    return False


def chat_texts(messages: list[Message]) -> list[tuple[Where, str]]:
    """The texts of a chat conversation in order: each message's content string or text parts."""
    out: list[tuple[Where, str]] = []
    for i, m in enumerate(messages):
        content = m.content
        if isinstance(content, str):
            if content:
                out.append(((i, -1), content))
        elif content:
            for k, part in enumerate(content):
                text = part.get("text") if part.get("type") == "text" else None
                if isinstance(text, str) and text:
                    out.append(((i, k), text))
    return out


# Every value a built-in scanner finds holds one of these: a digit or a symbol of the key,
# e-mail, assignment and PEM shapes, a letters-only key prefix, or a character that
# normalization may turn into one. A boundary window without any cannot hold a split value.
SPLIT_GATE = re.compile(r"[0-9@_=:/+\\-]|[^\x00-\x7f]|AIza|A[KSBC][IC]A|eyJ")
_LAST_TOKEN_END = re.compile(r".*[ \n\t\"'<>`]", re.S)


def split_findings(messages: list[Message], scan: Scan, reach: int,
                   gate: re.Pattern[str] | None = SPLIT_GATE,
                   state: dict[str, Any] | None = None) -> dict[Where, list[Finding]]:
    """Values split between two consecutive texts of a conversation (two content parts, or the
    end of one message and the start of the next message of the same role), as the two pieces
    to redact: the first carries the rule, the second the rule ``""`` (it is removed, not
    replaced).

    Each boundary is scanned in a window of ``reach`` characters on either side (and the whole
    unfinished token before it: a shape is recognised from its token's start), widened to the
    whole text on a side where a value touches the window's edge: linear in the texts. A
    window in which ``gate`` finds nothing is not scanned (prose on both sides). With the
    call's ``state``, the next policy with the same gate and no longer reach reuses that
    verdict (Secrets then PII on one conversation look at its boundaries once)."""
    shared = state.get("split_gate") if state is not None and gate is SPLIT_GATE else None
    if shared is not None and shared[0] is messages and shared[1] >= reach:
        texts, boundaries = shared[2], shared[3]
    else:
        texts = chat_texts(messages)
        boundaries = range(len(texts) - 1)
    passed: list[int] = []
    extra: dict[Where, list[Finding]] = {}
    for i in boundaries:
        (where_a, a), (where_b, b) = texts[i], texts[i + 1]
        if where_a[0] != where_b[0] and messages[where_a[0]].role != messages[where_b[0]].role:
            continue  # another speaker's turn: the model reads them apart
        last = _LAST_TOKEN_END.match(a)
        low, high = max(0, min(len(a) - reach, last.end() if last else 0)), min(len(b), reach)
        window = a[low:] + b[:high]
        if gate is not None and not gate.search(window):
            continue
        passed.append(i)
        while True:
            cut = len(a) - low
            found = [f for f in scan(window) if f[0] < cut < f[1]]
            wider = False
            if low and any(f[0] == 0 for f in found):
                low, wider = 0, True
            if high < len(b) and any(f[1] == len(window) for f in found):
                high, wider = len(b), True
            if not wider:
                break
            window = a[low:] + b[:high]
        for start, end, rule in found:
            extra.setdefault(where_a, []).append((low + start, len(a), rule))
            extra.setdefault(where_b, []).append((0, end - cut, ""))
    if state is not None and gate is SPLIT_GATE:
        state["split_gate"] = (messages, reach, texts, passed)
    return extra


def rewrite_request(request: Any, fn: TextFn, roles: frozenset[str] | None = None,
                    extra: dict[Where, list[Finding]] | None = None) -> Any:
    """Apply ``fn`` to every text the request sends; returns the same object when nothing changed.

    Chat: message text, text content parts, message names, tool results and the arguments of
    earlier tool calls (``roles`` limits the messages); and the request's own texts: the
    tools' declarations (names, descriptions, parameter schemas), ``stop``, the
    ``response_format`` schema and ``user``. Embeddings and moderation: every input. Rerank: the
    query and every document. Images:
    the prompt. Speech: the input. Transcription: the prompt. ``fn`` returns its argument
    unchanged (the same object) when it has nothing to change; ``extra`` (from
    :func:`split_findings`) is passed as ``fn(text, findings)`` for the texts it names.
    Reasoning text and provider data are left alone: they carry provider signatures that would
    no longer verify.
    """
    messages = getattr(request, "messages", None)
    if messages is not None:
        new_messages = messages
        for i, m in enumerate(messages):
            if roles is not None and m.role not in roles:
                continue
            new = _rewrite_message(m, fn, extra, i)
            if new is not m:
                if new_messages is messages:
                    new_messages = list(messages)
                new_messages[i] = new
        fields: dict[str, Any] = {}
        if new_messages is not messages:
            fields["messages"] = new_messages
        if roles is None and isinstance(request, ChatRequest) and (
                request.tools or request.response_format or request.stop or request.user):
            for attr in ("tools", "response_format"):
                value = getattr(request, attr)
                if value:
                    new_value = _rewrite_json(value, fn)
                    if new_value is not value:
                        fields[attr] = new_value
            stop = request.stop
            if stop:
                new_stop = _rewrite_list(stop, fn)
                if new_stop is not stop:
                    fields["stop"] = new_stop
            user = request.user
            if isinstance(user, str) and user:
                new_user = fn(user)
                if new_user is not user:
                    fields["user"] = new_user
        return replace(request, **fields) if fields else request
    documents = getattr(request, "documents", None)
    if documents is not None:  # rerank: the query and every document
        query = fn(request.query)
        new_docs = _rewrite_list(documents, fn)
        if query is request.query and new_docs is documents:
            return request
        return replace(request, query=query, documents=new_docs)
    inp = getattr(request, "input", None)
    if isinstance(inp, list):
        new_list = _rewrite_list(inp, fn)
        return request if new_list is inp else replace(request, input=new_list)
    if isinstance(inp, str):
        new_text = fn(inp)
        return request if new_text is inp else replace(request, input=new_text)
    prompt = getattr(request, "prompt", None)
    if isinstance(prompt, str):
        new_text = fn(prompt)
        return request if new_text is prompt else replace(request, prompt=new_text)
    return request


def rewrite_response(response: Any, fn: TextFn) -> Any:
    """Apply ``fn`` to the texts of a chat response (content, reasoning, tool-call arguments) or a
    transcription; other responses carry no text and come back unchanged."""
    if isinstance(response, ChatResponse):
        fields: dict[str, Any] = {}
        if response.content:
            new = fn(response.content)
            if new is not response.content:
                fields["content"] = new
        if response.reasoning:
            new = fn(response.reasoning)
            if new is not response.reasoning:
                fields["reasoning"] = new
        calls = response.tool_calls
        new_calls = calls
        for i, tc in enumerate(calls):
            new = fn(tc.arguments_raw)
            if new is not tc.arguments_raw:
                if new_calls is calls:
                    new_calls = list(calls)
                new_calls[i] = ToolCall.from_raw(id=tc.id, name=tc.name, arguments_raw=new,
                                                 provider_data=tc.provider_data)
        if new_calls is not calls:
            fields["tool_calls"] = new_calls
        return replace(response, **fields) if fields else response
    if isinstance(response, Transcription) and response.text:
        new = fn(response.text)
        return response if new is response.text else replace(response, text=new)
    return response


# ---------------------------------------------------------------------------- streams

# Characters that end a token: text after the last of them may still grow into a match (a long
# e-mail address, a JWT whose header came first), so it is held back, up to _TOKEN_CAP
# characters (the longest e-mail address, a JWT header): a longer run without a break is
# released but for the last ``hold`` characters, so a stream of one endless token still flows.
_TOKEN_ENDS = (" ", "\n", "\t", '"', "'", "<", ">", "`")
_TOKEN_CAP = 1024
_CONTEXT = 8  # characters of already-emitted text kept for look-behind checks
_SLACK = 24  # release text at least this many characters at a time


class HoldBack:
    """A hold-back buffer for one stream of text (message text, reasoning, or one tool call's
    arguments).

    Text is released only when no match can still start in it: the last ``hold`` characters
    (``hold`` covers the longest bounded pattern and its look-ahead), the trailing unfinished
    token (up to ``_TOKEN_CAP``), and any match that touches the end of the buffer (it may
    still grow) stay behind. ``flush()`` releases the rest at the end of the stream. Released
    findings go to ``on_found(text, findings)``, which returns the text to emit (redacted) or
    raises (block).

    Linear work: each scan covers the text held back plus what came since, and the next scan
    waits until the new text is at least half of what is held (and ``_SLACK``). So what is
    held is scanned a bounded number of times, and a match that keeps growing (a 1 MB key) is
    rescanned at doubling sizes: the total is at most ~3x the stream's length.
    """

    __slots__ = ("scan", "hold", "on_found", "parts", "size", "before", "next_at")

    def __init__(self, scan: Scan, hold: int,
                 on_found: Callable[[str, list[Finding]], str]) -> None:
        self.scan = scan
        self.hold = hold
        self.on_found = on_found
        self.parts: list[str] = []  # joined once per scan: += on a long buffer is quadratic
        self.size = 0
        self.before = ""
        self.next_at = hold + _SLACK

    def feed(self, text: str) -> str:
        if not text:
            return ""
        self.parts.append(text)
        self.size += len(text)
        # Scanning costs the same for 1 or 40 new characters: wait until a release is worth it.
        if self.size < self.next_at:
            return ""
        return self._release(final=False)

    def flush(self) -> str:
        return self._release(final=True) if self.size else ""

    def _release(self, final: bool) -> str:
        parts = self.parts
        buf = parts[0] if len(parts) == 1 else "".join(parts)
        n = len(self.before)
        found = self.scan(self.before + buf)
        size = len(buf)
        if final:
            cut = size
        else:
            low = max(0, size - _TOKEN_CAP)
            tail = max(buf.rfind(c, low) for c in _TOKEN_ENDS) + 1
            cut = min(size - self.hold, tail or low)
        keep: list[Finding] = []
        for start, end, rule in found:
            start -= n
            end -= n
            if start < 0:  # began in text already released: it was judged then
                continue
            if start >= cut:
                break
            if not final and end >= size:  # still growing: hold it whole
                cut = start
                break
            keep.append((start, end, rule))
            cut = max(cut, end)
        cut = max(cut, 0)
        rest = buf[cut:]
        self.parts = [rest] if rest else []
        self.size = len(rest)
        self.next_at = self.size + max(_SLACK, self.size // 2)
        if cut == 0:
            return ""
        out = buf[:cut]
        self.before = (self.before[-_CONTEXT:] + out[-_CONTEXT:])[-_CONTEXT:]
        return self.on_found(out, keep) if keep else out


class StreamFilter:
    """One policy's view of one stream: a :class:`HoldBack` for the text, the reasoning and each
    tool call's arguments; everything held is released on the chunk that carries the finish
    reason and on the router's final chunk."""

    __slots__ = ("make", "text", "reasoning", "tools")

    def __init__(self, make: Callable[[], HoldBack]) -> None:
        self.make = make
        self.text = make()
        self.reasoning = make()
        self.tools: dict[int, HoldBack] = {}

    def __call__(self, chunk: ChatChunk) -> ChatChunk | list[ChatChunk]:
        flush = chunk.final or chunk.finish_reason is not None
        delta = self.text.feed(chunk.delta)
        reasoning = self.reasoning.feed(chunk.reasoning)
        deltas: list[ToolCallDelta] = []
        for d in chunk.tool_calls:
            buf = self.tools.get(d.index)
            if buf is None:
                buf = self.tools[d.index] = self.make()
            args = buf.feed(d.arguments)
            if args != d.arguments:
                d = replace(d, arguments=args)
            if d.arguments or d.id or d.name or d.provider_data:
                deltas.append(d)
        if flush:
            delta += self.text.flush()
            reasoning += self.reasoning.flush()
            for index, buf in self.tools.items():
                rest = buf.flush()
                if rest:
                    deltas.append(ToolCallDelta(index=index, arguments=rest))
        if (delta == chunk.delta and reasoning == chunk.reasoning
                and len(deltas) == len(chunk.tool_calls)
                and all(a is b for a, b in zip(deltas, chunk.tool_calls, strict=True))):
            return chunk
        if not (delta or reasoning or deltas or chunk.finish_reason or chunk.final):
            return []  # all held back; the router already read the chunk's usage and ids
        # Built directly: dataclasses.replace() costs several times more, once per chunk.
        return ChatChunk(delta=delta, tool_calls=deltas, reasoning=reasoning,
                         finish_reason=chunk.finish_reason, usage=chunk.usage, id=chunk.id,
                         model=chunk.model, provider_data=chunk.provider_data, final=chunk.final,
                         raw=chunk.raw)
