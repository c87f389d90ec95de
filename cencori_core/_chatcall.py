"""Chat calls: a chat call's keywords to its context, and the output-retry loop of chat/achat.

The Router's four chat operations spell out their keywords and hand ``locals()`` here; this
module builds the validated request, opens the call in the pipeline and, for ``output_retries``,
re-asks with the validation errors until the answer validates or the retries run out.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from . import _validate as v
from ._operations import CHAT
from ._pipeline import Pipeline
from ._requests import chat_request
from ._structured import is_type, output_spec
from .cache import ResponseCache, call_option
from .context import CallContext
from .errors import OutputValidationError
from .types import ChatResponse

__all__ = ["CHAT_ARGS", "ChatCalls"]

# Every keyword a chat operation takes: a misspelled one is refused naming the closest of these.
CHAT_ARGS = ["model", "messages", "temperature", "max_tokens", "tools", "tool_choice",
             "response_format", "stop", "top_p", "seed", "user", "metadata", "timeout", "retry",
             "api_key", "project", "provider_options", "cache",
             # issue 17: common parameters (output_retries: chat/achat; stream_options: streams)
             "reasoning_effort", "max_completion_tokens", "n", "logprobs", "top_logprobs",
             "parallel_tool_calls", "presence_penalty", "frequency_penalty", "output_retries",
             "stream_options"]


class ChatCalls:
    """One router's chat calls: its pipeline and its response cache."""

    __slots__ = ("_pipe", "_cache")

    def __init__(self, pipe: Pipeline, cache: ResponseCache | None) -> None:
        self._pipe = pipe
        self._cache = cache

    def context(self, stream: bool, kw: dict[str, Any], unknown: dict[str, Any],
                op: str) -> CallContext:
        """The call's context: keywords checked, request built, pre hooks run."""
        if unknown:
            v.unknown_kwargs(op, unknown, CHAT_ARGS)
        rf = kw["response_format"]
        spec = None
        if rf is not None and not isinstance(rf, Mapping) and is_type(rf):
            spec = output_spec(rf)
            kw = {**kw, "response_format": spec.response_format}
        if kw.get("output_retries") is not None:
            from ._structured import output_retries

            output_retries(kw["output_retries"], spec)
        req = chat_request(kw, stream)
        ctx = self._pipe.begin("chat", req.model, req, stream=stream, user=req.user,
                               metadata=req.metadata, retry=kw["retry"], api_key=kw["api_key"],
                               project=kw["project"], output=spec,
                               cache=call_option(kw["cache"], self._cache))
        return ctx

    # The first attempt runs in the Router's own method (no extra frame on the common call);
    # these take over only when ``output_retries`` is set.

    def retry(self, kw: dict[str, Any], ctx: CallContext) -> ChatResponse:
        """``Router.chat`` with ``output_retries``: the call, then its re-asks."""
        asks = self._re_ask(kw, ctx)
        ctx = next(asks)
        while True:
            try:
                return self._pipe.run(ctx, CHAT)
            except OutputValidationError as exc:
                ctx = asks.send(exc)

    async def aretry(self, kw: dict[str, Any], ctx: CallContext) -> ChatResponse:
        """``Router.achat`` with ``output_retries``: the async twin of :meth:`retry`."""
        asks = self._re_ask(kw, ctx)
        ctx = next(asks)
        while True:
            try:
                return await self._pipe.arun(ctx, CHAT)
            except OutputValidationError as exc:
                ctx = asks.send(exc)

    def _re_ask(self, kw: dict[str, Any],
                ctx: CallContext) -> Generator[CallContext, OutputValidationError, None]:
        """``output_retries``: the first call's context, then each re-ask's (a new logical
        call: recorded and budgeted like any other), as a generator the drivers send errors to."""
        from ._structured import output_retries, retry_messages

        left = output_retries(kw["output_retries"], ctx._call.output)
        while True:
            exc = yield ctx
            if not left:
                raise exc
            left -= 1
            kw = {**kw, "messages": retry_messages(kw["messages"], exc)}
            ctx = self.context(False, kw, {}, "chat")
