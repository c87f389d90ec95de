"""Streams: the hold-back buffer that lets stream chunks be scanned safely (text that may still
grow into a match is held until it cannot), and the per-stream filter built on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..types import (
    ChatChunk,
    ToolCallDelta,
)
from ._base import Finding, Scan

# ---------------------------------------------------------------------------- streams

# Characters that end a token: text after the last of them may still grow into a match (a long
# e-mail address, a JWT whose header came first), so it is held back, up to _TOKEN_CAP
# characters (the longest e-mail address, a JWT header): a longer run without a break is
# released but for the last ``hold`` characters, so a stream of one endless token still flows.
_TOKEN_ENDS = (" ", "\n", "\t", '"', "'", "<", ">", "`")
_TOKEN_CAP = 1024
_CONTEXT = 8  # characters of already-emitted text kept for look-behind checks
_SLACK = 24  # release text at least this many characters at a time

__all__ = ["HoldBack", "StreamFilter"]


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

    __slots__ = ("scan", "hold", "on_found", "parts", "size", "before", "next_at", "released",
                 "acted")

    def __init__(self, scan: Scan, hold: int,
                 on_found: Callable[[str, list[Finding]], str]) -> None:
        self.scan = scan
        self.hold = hold
        self.on_found = on_found
        self.parts: list[str] = []  # joined once per scan: += on a long buffer is quadratic
        self.size = 0
        self.before = ""
        self.next_at = hold + _SLACK
        self.released = 0  # characters of the original text released so far
        self.acted = 0  # releases whose text on_found rewrote

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
        self.released += cut
        if not keep:
            return out
        new = self.on_found(out, keep)
        if new != out:
            self.acted += 1
        return new


class _Buffers:
    """The hold-back buffers of one choice: its text, its reasoning, each tool call's
    arguments."""

    __slots__ = ("text", "reasoning", "tools", "logprobs", "covered")

    def __init__(self, make: Callable[[], HoldBack]) -> None:
        self.text = make()
        self.reasoning = make()
        self.tools: dict[int, HoldBack] = {}
        self.logprobs: list[dict[str, Any]] = []  # of text still held back
        self.covered = 0  # characters of released text the emitted log probabilities cover

    def release_logprobs(self, acted: bool) -> list[dict[str, Any]] | None:
        """The log probabilities of the tokens the text buffer has released (a token goes with
        the release that completes it); none of a release a policy rewrote: their tokens
        would show what was redacted."""
        pending = self.logprobs
        released = self.text.released
        k = 0
        pos = self.covered
        while k < len(pending):
            size = len(pending[k].get("token") or "")
            if pos + size > released:
                break
            pos += size
            k += 1
        if not k:
            return None
        self.covered = pos
        out, self.logprobs = pending[:k], pending[k:]
        return None if acted else out

    def flush(self) -> tuple[str, str, list[ToolCallDelta]]:
        rest = [ToolCallDelta(index=index, arguments=tail)
                for index, buf in self.tools.items() if (tail := buf.flush())]
        return self.text.flush(), self.reasoning.flush(), rest


class StreamFilter:
    """One policy's view of one stream: per choice (``chunk.index``; several with ``n``, their
    chunks interleaved), a :class:`HoldBack` for the text, the reasoning and each tool call's
    arguments; a choice's held text is released on the chunk that carries its finish reason,
    and every choice's on the router's final chunk."""

    __slots__ = ("make", "first", "others")

    def __init__(self, make: Callable[[], HoldBack]) -> None:
        self.make = make
        self.first = _Buffers(make)
        self.others: dict[int, _Buffers] | None = None

    def _buffers(self, index: int) -> _Buffers:
        if not index:
            return self.first
        others = self.others
        if others is None:
            others = self.others = {}
        bufs = others.get(index)
        if bufs is None:
            bufs = others[index] = _Buffers(self.make)
        return bufs

    def __call__(self, chunk: ChatChunk) -> ChatChunk | list[ChatChunk]:
        bufs = self._buffers(chunk.index)
        flush = chunk.final or chunk.finish_reason is not None
        acted = bufs.text.acted
        logprobs = chunk.logprobs
        if logprobs is not None or bufs.logprobs:
            # held with the text they describe, released with it
            bufs.logprobs.extend(logprobs or ())
        delta = bufs.text.feed(chunk.delta)
        reasoning = bufs.reasoning.feed(chunk.reasoning)
        deltas: list[ToolCallDelta] = []
        for d in chunk.tool_calls:
            buf = bufs.tools.get(d.index)
            if buf is None:
                buf = bufs.tools[d.index] = self.make()
            args = buf.feed(d.arguments)
            if args != d.arguments:
                d = replace(d, arguments=args)
            if d.arguments or d.id or d.name or d.provider_data:
                deltas.append(d)
        if flush:
            text, more, rest = bufs.flush()
            delta += text
            reasoning += more
            deltas += rest
        if logprobs is not None or bufs.logprobs:
            logprobs = bufs.release_logprobs(bufs.text.acted != acted)
            if flush and bufs.logprobs:  # tokens longer than the text: all of them now
                logprobs = [*(logprobs or ()), *bufs.logprobs] if bufs.text.acted == acted \
                    else logprobs
                bufs.logprobs = []
        before = self._flush_others() if chunk.final and self.others else []
        if (not before and delta == chunk.delta and reasoning == chunk.reasoning
                and logprobs is chunk.logprobs
                and len(deltas) == len(chunk.tool_calls)
                and all(a is b for a, b in zip(deltas, chunk.tool_calls, strict=True))):
            return chunk
        if not (delta or reasoning or deltas or chunk.finish_reason or chunk.final
                or logprobs):
            return []  # all held back; the router already read the chunk's usage and ids
        # Built directly: dataclasses.replace() costs several times more, once per chunk.
        out = ChatChunk(delta=delta, tool_calls=deltas, reasoning=reasoning,
                        finish_reason=chunk.finish_reason, usage=chunk.usage, id=chunk.id,
                        model=chunk.model, provider_data=chunk.provider_data, final=chunk.final,
                        raw=chunk.raw, index=chunk.index, logprobs=logprobs)
        return [*before, out] if before else out

    def _flush_others(self) -> list[ChatChunk]:
        """The held text of every choice but the first, at the end of the stream (a choice
        whose finish reason never came)."""
        out = []
        for index, bufs in sorted((self.others or {}).items()):
            acted = bufs.text.acted
            text, reasoning, rest = bufs.flush()
            logprobs = None
            if bufs.logprobs:
                logprobs = bufs.logprobs if bufs.text.acted == acted else None
                bufs.logprobs = []
            if text or reasoning or rest or logprobs:
                out.append(ChatChunk(delta=text, reasoning=reasoning, tool_calls=rest,
                                     index=index, logprobs=logprobs))
        return out
