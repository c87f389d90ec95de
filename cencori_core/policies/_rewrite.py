"""Walking the texts of a request or a response: each text of a chat request (messages,
content parts, tool arguments) or response, rewritten through a policy's function, and the
findings of values split across messages."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ..types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    ToolCall,
    Transcription,
)
from ._base import Finding, Scan, TextFn

# ---------------------------------------------------------------------------- request texts

# Where a text sits in a chat request: (message index, content part index or -1 for a string).
Where = tuple[int, int]

__all__ = ["may_split", "chat_texts", "SPLIT_GATE", "split_findings", "rewrite_request",
           "rewrite_response"]


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
    new_calls = _rewrite_calls(calls, fn)
    name = m.name
    new_name = fn(name) if name else name
    if new_content is content and new_calls is calls and new_name is name:
        return m
    return replace(m, content=new_content, tool_calls=new_calls, name=new_name)


def _rewrite_calls(calls: Any, fn: TextFn) -> Any:
    """``calls`` with each tool call's arguments rewritten (the same object when none changed).
    The raw JSON text: normalization decodes its \\uXXXX escapes for the scanners and the
    redaction replaces whole escapes, so the arguments stay valid JSON."""
    new_calls = calls
    for i, tc in enumerate(calls):
        new = fn(tc.arguments_raw)
        if new is not tc.arguments_raw:
            if new_calls is calls:
                new_calls = list(calls)
            new_calls[i] = ToolCall.from_raw(id=tc.id, name=tc.name, arguments_raw=new,
                                             provider_data=tc.provider_data)
    return new_calls


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


def _rewrite_choice(choice: Choice, fn: TextFn) -> Choice:
    content = choice.content
    new = fn(content) if content else content
    calls = _rewrite_calls(choice.tool_calls, fn)
    if new is content and calls is choice.tool_calls:
        return choice
    return replace(choice, content=new, tool_calls=calls, logprobs=None)


def rewrite_response(response: Any, fn: TextFn) -> Any:
    """Apply ``fn`` to the texts of a chat response (content, reasoning, tool-call arguments,
    of every choice) or a transcription; other responses carry no text and come back
    unchanged. A choice whose text changed loses its log probabilities: their tokens would
    show what was redacted."""
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
        new_calls = _rewrite_calls(calls, fn)
        if new_calls is not calls:
            fields["tool_calls"] = new_calls
        choices = response.choices
        if choices:  # n: every choice; the first is the response's own text, done above
            changed = "content" in fields or "tool_calls" in fields
            first = choices[0]
            if changed:
                first = replace(first, content=fields.get("content", response.content),
                                tool_calls=fields.get("tool_calls", calls), logprobs=None)
            new_choices = (first, *(_rewrite_choice(c, fn) for c in choices[1:]))
            if any(a is not b for a, b in zip(new_choices, choices, strict=True)):
                fields["choices"] = new_choices
            if changed:
                fields["logprobs"] = None
        elif "content" in fields and response.logprobs is not None:
            fields["logprobs"] = None
        return replace(response, **fields) if fields else response
    if isinstance(response, Transcription) and response.text:
        new = fn(response.text)
        return response if new is response.text else replace(response, text=new)
    return response
