"""Stream assembly: chunks in, one final ChatResponse out (shared by every provider)."""

from __future__ import annotations

from typing import Any

from .types import ChatChunk, ChatResponse, Choice, ToolCall, Usage


class StreamAccumulator:
    """Collects what the caller has been sent: text, reasoning, tool calls by index, usage.

    Choice 0 (every stream without ``n``) is folded here; the other choices of a stream asked
    with ``n`` each into one more accumulator in ``others``, by ``chunk.index``, so choices
    whose chunks interleave never mix. Id, model, usage and provider data are the stream's."""

    __slots__ = ("text", "reasoning", "refusal", "calls", "finish_reason", "usage", "id", "model",
                 "provider_data", "chunks", "logprobs", "others")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.id: str | None = None
        self.model: str | None = None
        self.provider_data: dict[str, Any] | None = None
        self.chunks = 0
        self.logprobs: list[dict[str, Any]] | None = None
        self.others: dict[int, StreamAccumulator] | None = None

    def _choice(self, index: int) -> StreamAccumulator:
        """The accumulator of choice ``index`` (> 0)."""
        others = self.others
        if others is None:
            others = self.others = {}
        acc = others.get(index)
        if acc is None:
            acc = others[index] = StreamAccumulator()
        return acc

    def meta(self, chunk: ChatChunk) -> None:
        """Fold the chunk's metadata (id, model, usage, finish reason, provider data)."""
        if chunk.id and not self.id:
            self.id = chunk.id
        if chunk.model and not self.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage if self.usage is None else _merge_usage(self.usage,
                                                                             chunk.usage)
        if chunk.finish_reason:
            if chunk.index:
                self._choice(chunk.index).finish_reason = chunk.finish_reason
            else:
                self.finish_reason = chunk.finish_reason
        if chunk.provider_data:
            self.provider_data = {**(self.provider_data or {}), **chunk.provider_data}

    def add(self, chunk: ChatChunk) -> bool:
        """:meth:`meta` and :meth:`content` at once, for a chunk that goes to the caller as it
        is (no stream hooks); False when it carries nothing for the caller."""
        delta = chunk.delta
        if (delta and chunk.usage is None and chunk.finish_reason is None
                and not chunk.tool_calls and not chunk.reasoning and not chunk.provider_data
                and not chunk.refusal and not chunk.index and chunk.logprobs is None):
            # The bulk of every stream: a text delta of the first choice and nothing else.
            if chunk.id and not self.id:
                self.id = chunk.id
            if chunk.model and not self.model:
                self.model = chunk.model
            self.chunks += 1
            self.text.append(delta)
            return True
        self.meta(chunk)
        if chunk.is_empty:
            return False
        self.content(chunk)
        return True

    def content(self, chunk: ChatChunk) -> None:
        """Fold what the caller is shown (text, reasoning, tool-call deltas, log
        probabilities) into the chunk's choice."""
        self.chunks += 1
        acc = self._choice(chunk.index) if chunk.index else self
        if chunk.delta:
            acc.text.append(chunk.delta)
        if chunk.reasoning:
            acc.reasoning.append(chunk.reasoning)
        if chunk.refusal:
            acc.refusal.append(chunk.refusal)
        if chunk.logprobs is not None:
            if acc.logprobs is None:
                acc.logprobs = []
            acc.logprobs.extend(chunk.logprobs)
        for d in chunk.tool_calls:
            slot = acc.calls.get(d.index)
            if slot is None:
                slot = acc.calls[d.index] = {"id": None, "name": None, "args": [],
                                             "provider_data": None}
            if d.id:
                slot["id"] = d.id
            if d.name:
                slot["name"] = d.name
            if d.arguments:
                slot["args"].append(d.arguments)
            if d.provider_data:
                slot["provider_data"] = {**(slot["provider_data"] or {}), **d.provider_data}

    def tool_calls(self) -> list[ToolCall]:
        out = []
        for index in sorted(self.calls):
            slot = self.calls[index]
            out.append(ToolCall.from_raw(
                id=slot["id"] or f"call_{index}", name=slot["name"] or "",
                arguments_raw="".join(slot["args"]), provider_data=slot["provider_data"]))
        return out

    def choice(self, index: int) -> Choice:
        """What this accumulator holds as choice ``index`` of the final response."""
        calls = self.tool_calls()
        return Choice(
            index=index,
            content="".join(self.text) if (self.text or not (calls or self.refusal)) else None,
            tool_calls=calls, finish_reason=self.finish_reason or (
                "tool_calls" if calls else "stop"),
            logprobs=self.logprobs, refusal="".join(self.refusal) or None)

    def response(self, *, provider: str, model: str) -> ChatResponse:
        first = self.choice(0)
        others = self.others
        # one choice: left to the router, which fills it after the post-response hooks
        choices = (first, *(others[i].choice(i) for i in sorted(others))) if others else ()
        return ChatResponse(
            content=first.content,
            tool_calls=first.tool_calls,
            finish_reason=first.finish_reason,
            usage=self.usage if self.usage is not None else Usage(source="estimated"),
            model=self.model or model,
            provider=provider,
            id=self.id or "",
            reasoning="".join(self.reasoning) or None,
            provider_data=self.provider_data,
            refusal=first.refusal,
            choices=choices,
            logprobs=first.logprobs,
        )


def _merge_usage(a: Usage, b: Usage) -> Usage:
    """Providers that split usage across events (Anthropic: input on start, output on delta)
    report cumulative counts per field; keep the larger of each."""
    def mx(x: Any, y: Any) -> Any:
        if x is None:
            return y
        if y is None:
            return x
        return max(x, y)

    prompt = max(a.prompt_tokens, b.prompt_tokens)
    completion = max(a.completion_tokens, b.completion_tokens)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=max(a.total_tokens, b.total_tokens, prompt + completion),
        cached_tokens=max(a.cached_tokens, b.cached_tokens),
        cache_write_tokens=max(a.cache_write_tokens, b.cache_write_tokens),
        reasoning_tokens=max(a.reasoning_tokens, b.reasoning_tokens),
        audio_seconds=mx(a.audio_seconds, b.audio_seconds),
        characters=mx(a.characters, b.characters),
        images=mx(a.images, b.images),
        source="provider" if "provider" in (a.source, b.source) else "estimated",
    )
