"""The common chat parameters (issue 17): their checks, and what plugins share to map them.

The router checks each value here before anything runs; each provider plugin then maps what its
API serves and refuses the rest with :func:`refuse`, an
:class:`~cencori_core.errors.InvalidRequestError` raised while building the request, before
anything is sent. The table of who serves what is ``docs/parameters.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._validate import MAX_COUNT, short
from .errors import InvalidRequestError
from .types import ChatRequest

__all__ = [
    "COMMON",
    "EFFORTS",
    "check_common",
    "refuse",
    "given",
    "STREAM_SENSITIVE",
    "thinking_budget",
]

EFFORTS = ("minimal", "low", "medium", "high")

COMMON = ("reasoning_effort", "n", "logprobs", "top_logprobs", "parallel_tool_calls",
          "presence_penalty", "frequency_penalty")
"""The common parameters that are :class:`ChatRequest` fields, in the order plugins check them."""

MAX_N = 128
"""OpenAI's limit on ``n``; no provider serves more."""


def _bad(msg: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(msg, param=param)


def _penalty(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -2 <= value <= 2:
        raise _bad(f"{param} must be a number from -2 to 2, got {short(value)}", param)
    return float(value)


def _flag(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"{param} must be True or False, got {short(value)}", param)
    return value


def check_common(kw: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    """The checked common parameters of a chat call's keywords (those given only), plus
    ``max_tokens`` when only ``max_completion_tokens`` was given (``stream`` changes
    nothing: each plugin says what it serves on streams, see :func:`refuse`).
    ``stream_options`` is checked and dropped: usage is always reported (accepted on every
    call, like the rest, so code that passes it with or without a stream runs unchanged)."""
    out: dict[str, Any] = {}
    effort = kw.get("reasoning_effort")
    if effort is not None:
        # a str subclass (a StrEnum member) as its plain str, before `in` runs its own __eq__
        # (a foreign object's may raise anything)
        if isinstance(effort, str) and type(effort) is not str:
            effort = str.__str__(effort)
        if type(effort) is not str or effort not in EFFORTS:
            raise _bad(f"reasoning_effort must be one of {', '.join(map(repr, EFFORTS))}, got "
                       f"{short(effort)}", "reasoning_effort")
        out["reasoning_effort"] = effort
    n = kw.get("n")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= MAX_N:
            raise _bad(f"n must be an integer from 1 to {MAX_N}, got {short(n)}", "n")
        if n > 1:
            out["n"] = n
    if kw.get("logprobs") is not None:
        out["logprobs"] = _flag(kw.get("logprobs"), "logprobs")
    top = kw.get("top_logprobs")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
            raise _bad(f"top_logprobs must be an integer from 0 to 20, got {short(top)}",
                       "top_logprobs")
        if not out.get("logprobs"):
            raise _bad("top_logprobs needs logprobs=True", "top_logprobs")
        out["top_logprobs"] = top
    ptc = kw.get("parallel_tool_calls")
    if ptc is not None:
        _flag(ptc, "parallel_tool_calls")
        if not kw.get("tools"):
            raise _bad("parallel_tool_calls is only meaningful with tools: give tools=[...] "
                       "or leave it out", "parallel_tool_calls")
        out["parallel_tool_calls"] = ptc
    for name in ("presence_penalty", "frequency_penalty"):
        if kw.get(name) is not None:
            out[name] = _penalty(kw.get(name), name)
    mct = kw.get("max_completion_tokens")
    if mct is not None:
        if isinstance(mct, bool) or not isinstance(mct, int) or not 0 < mct <= MAX_COUNT:
            raise _bad(f"max_completion_tokens must be a positive integer up to {MAX_COUNT}, "
                       f"got {short(mct)}", "max_completion_tokens")
        mt = kw.get("max_tokens")
        if mt is not None and mt != mct:
            raise _bad(f"max_tokens={short(mt)} and max_completion_tokens={mct} disagree: they "
                       "are the same limit, give one of them", "max_completion_tokens")
        out["max_tokens"] = mct
    opts = kw.get("stream_options")
    if opts is not None:
        if not isinstance(opts, Mapping) or any(
                k not in ("include_usage", "include_obfuscation") or not isinstance(val, bool)
                for k, val in opts.items()):
            raise _bad("stream_options must be {'include_usage': bool} (usage is always "
                       "reported, so include_usage changes nothing)", "stream_options")
    return out


# ---------------------------------------------------------------------------- for plugins


def given(request: ChatRequest) -> Iterable[str]:
    """The names of the common parameters ``request`` sets (``n=1`` and None are unset)."""
    for name in COMMON:
        if getattr(request, name) is not None:
            yield name


STREAM_SENSITIVE = frozenset({"n", "logprobs", "top_logprobs"})
"""The common parameters a stream serves only when the plugin folds its events per choice
(``ChatChunk.index``) and with their log probabilities (``ChatChunk.logprobs``)."""


def refuse(request: ChatRequest, served: Iterable[str], provider: str,
           why: Mapping[str, str] | None = None,
           streamed: Iterable[str] | None = None) -> None:
    """An :class:`InvalidRequestError` for the first common parameter ``request`` sets that is
    not in ``served``; ``why`` may add a provider-specific hint per parameter.

    On a stream, ``n``, ``logprobs`` and ``top_logprobs`` must also be in ``streamed``: the
    ones the plugin's stream carries per choice and with log probabilities. Left out, none
    is: a plugin that has not said so must not merge several choices into one text."""
    ok = set(served)
    on_stream = frozenset(streamed or ()) if request.stream else None
    for name in given(request):
        if name not in ok:
            hint = (why or {}).get(name) or "leave it out, or pick a model of a provider that " \
                "serves it (see docs/parameters.md)"
            raise InvalidRequestError(
                f"{provider} does not support {name} for model {request.model!r}: {hint}",
                param=name)
        if on_stream is not None and name in STREAM_SENSITIVE and name not in on_stream:
            raise InvalidRequestError(
                f"{provider} does not support {name} on streams for model {request.model!r}: "
                f"call chat()/achat() with {name} (it is served there), or stream without it",
                param=name)


# Thinking budgets (tokens) for APIs that take a budget rather than an effort level: near what
# OpenAI's levels spend on typical prompts. Anthropic's minimum is 1,024.
_BUDGETS = {"minimal": 1024, "low": 4096, "medium": 12_288, "high": 32_768}


def thinking_budget(effort: str, cap: int | None = None) -> int:
    """The thinking budget for ``effort``, kept below ``cap`` (the output limit) when given."""
    budget = _BUDGETS[effort]
    if cap is not None and budget >= cap:
        budget = cap - 1
    return budget


def openai_logprobs(value: Any) -> list[dict[str, Any]] | None:
    """Normalized token log probabilities from an OpenAI-style ``choice.logprobs`` (OpenAI, xAI,
    DeepSeek, Mistral, compatible servers): its ``content`` list, each entry
    ``{"token", "logprob", "bytes", "top_logprobs": [...]}``."""
    if not value:
        return None
    content = value.get("content") if isinstance(value, Mapping) else None
    if content is None:
        return None
    return [{"token": t.get("token", ""), "logprob": t.get("logprob", 0.0),
             "bytes": t.get("bytes"),
             "top_logprobs": [{"token": a.get("token", ""), "logprob": a.get("logprob", 0.0),
                               "bytes": a.get("bytes")} for a in t.get("top_logprobs") or ()]}
            for t in content]
