"""Access: which models, providers and tools a call may use, and how big it may be."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any, ClassVar

from ..context import CallContext
from ..errors import ConfigurationError
from ..hookspecs import hookimpl
from ..types import Route
from ._base import Policy, guarded

__all__ = ["Access"]


def _globs(value: Iterable[str] | str | None, what: str,
           fold: bool = True) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    out = tuple(value)
    if not all(isinstance(v, str) and v.strip() for v in out):
        raise ConfigurationError(f"Access: {what} must be a list of glob patterns")
    if not fold:
        return out
    # Model and provider names are matched casefolded: "GPT-4o" and "gpt-4o" are one model.
    return tuple(v.strip().casefold() for v in out)


def _cap(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"Access: {what} must be a positive integer, got {value!r}")
    return value


def _any(names: Iterable[str], patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(n, p) for n in names for p in patterns)


def _request_text_size(request: Any) -> int:
    messages = getattr(request, "messages", None)
    if messages is not None:
        size = 0
        for m in messages:
            size += len(m.text)
            for tc in m.tool_calls:
                size += len(tc.arguments_raw)
        return size
    documents = getattr(request, "documents", None)
    if documents is not None:
        return len(request.query) + sum(len(d) for d in documents)
    inp = getattr(request, "input", None)
    if isinstance(inp, list):
        return sum(len(t) for t in inp)
    if isinstance(inp, str):
        return len(inp)
    prompt = getattr(request, "prompt", None)
    return len(prompt) if isinstance(prompt, str) else 0


class Access(Policy):
    """Model, provider and tool allow/deny lists and size caps, checked before anything is sent.

    Glob patterns (``fnmatch``, without regard to case) match every name of a model: its
    resolved id (``gpt-4o``), ``provider/model``, every alias of it and the name the caller asked
    for; a deny match wins over an allow list. Models and providers are checked for every route
    the call reaches (each fallback, context-window fallback and deployment) before anything is
    sent to it. ``max_input_chars`` and ``max_input_tokens`` (estimated, about four characters a
    token) cap the text a request sends. ``max_tokens`` caps the completion: a larger request is
    clamped (decision action ``clamp``) or, with ``clamp=False``, a violation;
    ``default_max_tokens`` fills it when the caller gave none. ``tools`` is an allow-list of tool
    names (globs) a chat request may declare.

    Mode ``block`` (default) refuses a violating call; ``flag`` records it and lets it through.
    """

    name: ClassVar[str] = "access"

    def __init__(self, *, mode: str | None = None, allow_models: Iterable[str] | None = None,
                 deny_models: Iterable[str] | None = None,
                 allow_providers: Iterable[str] | None = None,
                 deny_providers: Iterable[str] | None = None,
                 max_input_chars: int | None = None, max_input_tokens: int | None = None,
                 max_tokens: int | None = None, default_max_tokens: int | None = None,
                 clamp: bool = True, tools: Iterable[str] | None = None,
                 fail_open: bool = False) -> None:
        super().__init__(mode=mode, fail_open=fail_open)
        self.allow_models = _globs(allow_models, "allow_models")
        self.deny_models = _globs(deny_models, "deny_models") or ()
        self.allow_providers = _globs(allow_providers, "allow_providers")
        self.deny_providers = _globs(deny_providers, "deny_providers") or ()
        self.max_input_chars = _cap(max_input_chars, "max_input_chars")
        self.max_input_tokens = _cap(max_input_tokens, "max_input_tokens")
        self.max_tokens = _cap(max_tokens, "max_tokens")
        self.default_max_tokens = _cap(default_max_tokens, "default_max_tokens")
        if self.max_tokens and self.default_max_tokens and self.default_max_tokens > \
                self.max_tokens:
            raise ConfigurationError("Access: default_max_tokens is larger than max_tokens")
        self.clamp = bool(clamp)
        self.tools = _globs(tools, "tools", fold=False)

    def _violation(self, context: CallContext, rule: str, what: str, count: int = 1) -> None:
        if self.mode == "block":
            raise self.block(context, rule, count, what)
        context.decide(self.name, rule, "flag", count)

    @hookimpl
    @guarded
    def cencori_check_route(self, context: CallContext, route: Route,
                            names: frozenset[str]) -> None:
        if _any(names, self.deny_models) or (self.allow_models is not None
                                             and not _any(names, self.allow_models)):
            self._violation(context, "model", f"model {route.model!r} is not allowed")
        provider = (route.provider.casefold(),)
        if _any(provider, self.deny_providers) or (
                self.allow_providers is not None and not _any(provider, self.allow_providers)):
            self._violation(context, "provider", f"provider {route.provider!r} is not allowed")

    @hookimpl
    @guarded
    def cencori_pre_request(self, context: CallContext) -> None:
        request = context.request
        if self.max_input_chars or self.max_input_tokens:
            size = _request_text_size(request)
            if self.max_input_chars and size > self.max_input_chars:
                self._violation(context, "max_input_chars",
                                f"the request sends {size} characters, more than the "
                                f"{self.max_input_chars} allowed")
            if self.max_input_tokens:
                tokens = (size + 3) // 4  # the router's estimate: about four characters a token
                if tokens > self.max_input_tokens:
                    self._violation(context, "max_input_tokens",
                                    f"the request sends about {tokens} tokens, more than the "
                                    f"{self.max_input_tokens} allowed")
        if context.operation == "chat":
            self._check_chat(context, request)

    def _check_chat(self, context: CallContext, request: Any) -> None:
        if self.tools is not None and request.tools:
            denied = [t["function"]["name"] for t in request.tools
                      if not _any((t["function"]["name"],), self.tools)]
            if denied:
                self._violation(context, "tool", f"tool(s) {', '.join(denied)} are not allowed",
                                len(denied))
        asked = request.max_tokens
        if asked is None and self.default_max_tokens:
            context.request = replace(request, max_tokens=self.default_max_tokens)
            context.decide(self.name, "default_max_tokens", "default", 1)
        elif self.max_tokens and asked is not None and asked > self.max_tokens:
            if self.clamp:
                context.request = replace(request, max_tokens=self.max_tokens)
                context.decide(self.name, "max_tokens", "clamp", 1)
            else:
                self._violation(context, "max_tokens",
                                f"max_tokens {asked} is more than the {self.max_tokens} allowed")
