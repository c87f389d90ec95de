"""The shape PII and Secrets share: find spans, then redact, block or flag them, on requests,
responses and streams."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from ..context import CallContext
from ..hookspecs import hookimpl
from ._base import Finding, Policy, Scan, guarded, merge, redact
from ._holdback import HoldBack, StreamFilter
from ._rewrite import SPLIT_GATE, may_split, rewrite_request, rewrite_response, split_findings

__all__ = ["ScanningPolicy"]


class ScanningPolicy(Policy):
    """A policy made of span detectors. Modes: ``redact`` (typed placeholders such as
    ``[REDACTED_EMAIL]``), ``block``, ``flag``. With ``responses=True`` it also scans response
    text, reasoning and tool-call arguments, and streams chunk by chunk behind a hold-back
    buffer."""

    modes: ClassVar[tuple[str, ...]] = ("redact", "block", "flag")
    what: ClassVar[str] = "sensitive data"

    def __init__(self, *, mode: str | None = None, responses: bool = False,
                 fail_open: bool = False) -> None:
        super().__init__(mode=mode, fail_open=fail_open)
        self.responses = bool(responses)

    # --- what subclasses provide
    def scanner(self, context: CallContext) -> tuple[Scan, int]:
        """The scan function for this call and its hold-back length (the longest pattern)."""
        raise NotImplementedError

    def split_gate(self, context: CallContext) -> re.Pattern[str] | None:
        """What a window around the boundary of two texts must contain to be scanned for a
        value split between them (``None``: always scan)."""
        return SPLIT_GATE

    def placeholder(self, rule: str) -> str:
        return f"[REDACTED_{rule.upper()}]"

    # --- shared machinery
    def _text_fn(self, context: CallContext, scan: Scan,
                 where: str) -> tuple[Callable[[str], str], dict[str, int]]:
        counts: dict[str, int] = {}
        mode = self.mode

        def placeholder(rule: str) -> str:
            # "": the second piece of a value split between two texts; the first piece
            # carries the placeholder.
            return self.placeholder(rule) if rule else ""

        def fn(text: str, extra: list[Finding] | None = None) -> str:
            found = scan(text)
            if extra:
                found = merge(found + extra)
            if not found:
                return text
            rules = [rule for _, _, rule in found if rule]
            if mode == "block":
                raise self.block(context, rules[0] if rules else "split_value", len(found),
                                 f"the {where} contains {self.what}")
            for rule in rules:
                counts[rule] = counts.get(rule, 0) + 1
            return redact(text, found, placeholder) if mode == "redact" else text

        return fn, counts

    def _decide(self, context: CallContext, counts: dict[str, int]) -> None:
        for rule, n in counts.items():
            context.decide(self.name, rule, self.mode, n)

    @hookimpl
    @guarded
    def cencori_pre_request(self, context: CallContext) -> None:
        scan, hold = self.scanner(context)
        fn, counts = self._text_fn(context, scan, "request")
        messages = getattr(context.request, "messages", None)
        # Values split between two content parts or two messages of one role: the boundaries,
        # scanned in a bounded window (only such conversations pay for it).
        extra = split_findings(messages, scan, hold, self.split_gate(context),
                               context.state) if messages and may_split(messages) else None
        new = rewrite_request(context.request, fn, extra=extra)
        self._decide(context, counts)
        if new is not context.request:
            context.request = new

    @hookimpl
    @guarded
    def cencori_post_response(self, context: CallContext) -> None:
        # On streams redact and block acted chunk by chunk; flag counts the assembled answer.
        if not self.responses or (context.stream and self.mode != "flag"):
            return
        scan, _ = self.scanner(context)
        fn, counts = self._text_fn(context, scan, "response")
        new = rewrite_response(context.response, fn)
        self._decide(context, counts)
        if new is not context.response:
            context.response = new

    @hookimpl
    @guarded
    def cencori_stream_chunk(self, context: CallContext, chunk: Any) -> Any:
        if not self.responses or self.mode == "flag":
            return None
        filt = context.state.get(self._key)
        if filt is None:
            filt = context.state[self._key] = self._stream_filter(context)
        return filt(chunk)

    def _stream_filter(self, context: CallContext) -> StreamFilter:
        scan, hold = self.scanner(context)
        block = self.mode == "block"

        def on_found(text: str, found: list[Finding]) -> str:
            if block:
                raise self.block(context, found[0][2], len(found),
                                 f"the response contains {self.what}")
            for _, _, rule in found:
                context.decide(self.name, rule, "redact", 1)
            return redact(text, found, self.placeholder)

        return StreamFilter(lambda: HoldBack(scan, hold, on_found))
