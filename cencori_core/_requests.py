"""Request building: a call's keyword arguments to the frozen, validated request object.

Everything here runs before the router resolves a route or calls any hook, so a bad argument
is an :class:`~cencori_core.errors.InvalidRequestError` before anything is sent. The router
only hands the results to ``_begin``; the checks themselves live in :mod:`._validate`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from typing import Any

from . import _validate as v
from ._options import provider_options
from ._params import check_common
from .config import Secret
from .errors import InvalidRequestError
from .resilience import RetryPolicy
from .types import (
    ChatRequest,
    EmbeddingRequest,
    ImageRequest,
    ModerationRequest,
    RerankRequest,
    SpeechRequest,
    TranscriptionRequest,
)

__all__ = [
    "chat_request",
    "caller",
    "check_extra",
    "common",
    "embed_request",
    "image_request",
    "model_name",
    "moderation_request",
    "new_id",
    "read_file",
    "rerank_request",
    "speech_request",
    "transcription_request",
]


def new_id() -> str:
    # 128 random bits, like uuid4, at a tenth of its cost (this runs on every call)
    return "req_" + os.urandom(16).hex()


# The optional chat arguments and their checks, in the order they are checked. Every check maps
# None to None, so arguments left unset (most of them, on most calls) are skipped.
_CHAT_CHECKS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("temperature", v.temperature),
    ("max_tokens", lambda x: v.positive_int(x, "max_tokens")),
    ("response_format", v.response_format),
    ("stop", v.stop),
    ("top_p", v.top_p),
    ("seed", lambda x: v.optional_int(x, "seed")),
    ("user", lambda x: v.optional_str(x, "user")),
    ("metadata", lambda x: v.optional_dict(x, "metadata")),
    ("timeout", v.timeout),
    ("provider_options", lambda x: provider_options(x, "chat")),
)


def chat_request(kw: dict[str, Any], stream: bool) -> ChatRequest:
    """The validated :class:`ChatRequest` of a chat call's keyword arguments."""
    model = v.model_name(kw["model"])
    caller(kw)
    fields: dict[str, Any] = {}
    tools, choice = kw["tools"], kw["tool_choice"]
    if tools is not None or choice is not None:
        fields["tools"] = t = v.tools(tools)
        fields["tool_choice"] = v.tool_choice(choice, bool(t))
    messages = v.messages(kw["messages"])
    for name, check in _CHAT_CHECKS:
        value = kw[name]
        if value is not None:
            fields[name] = check(value)
    get = kw.get
    # the common parameters (issue 17), written out: this runs on every call, most set none
    if get("n") is not None or get("reasoning_effort") is not None \
            or get("max_completion_tokens") is not None or get("logprobs") is not None \
            or get("top_logprobs") is not None or get("parallel_tool_calls") is not None \
            or get("presence_penalty") is not None or get("frequency_penalty") is not None \
            or get("stream_options") is not None:
        fields.update(check_common(kw, stream))
    return ChatRequest(model=model, messages=messages, stream=stream,
                       idempotency_key=new_id(), **fields)


def embed_request(model: Any, input: Any, dimensions: Any, input_type: Any,
                  extra: dict[str, Any]) -> EmbeddingRequest:
    return EmbeddingRequest(
        model=model_name(model), input=v.texts(input),
        dimensions=v.positive_int(dimensions, "dimensions"),
        input_type=v.optional_str(input_type, "input_type"),
        user=v.optional_str(extra.get("user"), "user"),
        timeout=v.timeout(extra.get("timeout")),
        provider_options=provider_options(extra.get("provider_options"), "embed"),
        idempotency_key=new_id())


_SIZE = re.compile(r"[1-9][0-9]{0,4}x[1-9][0-9]{0,4}")


def image_request(model: Any, prompt: Any, size: Any, n: Any, quality: Any,
                  extra: dict[str, Any]) -> ImageRequest:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("prompt must be a non-empty string", param="prompt")
    v.text(prompt, "prompt")
    if size is not None and (not isinstance(size, str) or _SIZE.fullmatch(size) is None):
        raise InvalidRequestError(f"size must look like '1024x1024', got {v.short(size)}",
                                  param="size")
    return ImageRequest(
        model=model_name(model), prompt=prompt, size=size,
        n=v.positive_int(n, "n") or 1, quality=v.optional_str(quality, "quality"),
        user=v.optional_str(extra.get("user"), "user"),
        timeout=v.timeout(extra.get("timeout")),
        provider_options=provider_options(extra.get("provider_options"), "generate_image"),
        idempotency_key=new_id())


def transcription_request(model: Any, file: Any, language: Any, prompt: Any,
                          extra: dict[str, Any]) -> TranscriptionRequest:
    data, filename = read_file(file)
    return TranscriptionRequest(
        model=model_name(model), file=data, filename=filename,
        language=v.optional_str(language, "language"),
        prompt=v.optional_str(prompt, "prompt"),
        timeout=v.timeout(extra.get("timeout")),
        provider_options=provider_options(extra.get("provider_options"), "transcribe"),
        idempotency_key=new_id())


def speech_request(model: Any, input: Any, voice: Any, format: Any, speed: Any,
                   extra: dict[str, Any]) -> SpeechRequest:
    if not isinstance(input, str) or not input:
        raise InvalidRequestError("input must be a non-empty string", param="input")
    v.text(input, "input")
    if not isinstance(voice, str) or not voice:
        raise InvalidRequestError("voice must be a non-empty string such as 'alloy'",
                                  param="voice")
    v.text(voice, "voice")
    fmt = v.optional_str(format, "format") or "mp3"
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                              or not 0.25 <= speed <= 4.0):
        raise InvalidRequestError(f"speed must be a number from 0.25 to 4.0, got {v.short(speed)}",
                                  param="speed")
    return SpeechRequest(
        model=model_name(model), input=input, voice=voice, format=fmt,
        speed=float(speed) if speed is not None else None,
        timeout=v.timeout(extra.get("timeout")),
        provider_options=provider_options(extra.get("provider_options"), "speech"),
        idempotency_key=new_id())


def moderation_request(model: Any, input: Any, extra: dict[str, Any]) -> ModerationRequest:
    return ModerationRequest(
        model=model_name(model), input=v.texts(input), timeout=v.timeout(extra.get("timeout")),
        provider_options=provider_options(extra.get("provider_options"), "moderate"),
        idempotency_key=new_id())


def rerank_request(model: Any, query: Any, documents: Any, top_n: Any,
                   extra: dict[str, Any]) -> RerankRequest:
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequestError(f"query must be a non-empty string, got {v.short(query)}",
                                  param="query")
    v.text(query, "query")
    docs = v.documents(documents)
    n = v.positive_int(top_n, "top_n")
    if n is not None and n > len(docs):
        # more than there are ranks them all, as Cohere, Jina and Voyage answer it (recorded:
        # Cohere ranked both documents of a top_n=3 request); every provider is sent a count
        # it accepts
        n = len(docs)
    return RerankRequest(
        model=model_name(model), query=query, documents=docs, top_n=n,
        timeout=v.timeout(extra.get("timeout")),
        provider_options=provider_options(extra.get("provider_options"), "rerank"),
        idempotency_key=new_id())


_EXTRA = ("user", "metadata", "timeout", "retry", "api_key", "project", "provider_options")


_OWN = {
    "embed": ("model", "input", "dimensions", "input_type"),
    "generate_image": ("model", "prompt", "size", "n", "quality"),
    "transcribe": ("model", "file", "language", "prompt"),
    "speech": ("model", "input", "voice", "format", "speed"),
    "moderate": ("model", "input"),
    "rerank": ("model", "query", "documents", "top_n"),
}


def check_extra(op: str, kw: dict[str, Any]) -> None:
    unknown = {k: val for k, val in kw.items() if k not in _EXTRA}
    if unknown:
        v.unknown_kwargs(op, unknown, [*_OWN[op.removeprefix("a")], *_EXTRA])


def common(extra: dict[str, Any], user: str | None) -> dict[str, Any]:
    caller(extra)
    return {"user": user, "metadata": v.optional_dict(extra.get("metadata"), "metadata"),
            "retry": extra.get("retry"), "api_key": extra.get("api_key"),
            "project": extra.get("project")}


def model_name(model: Any) -> str:
    return v.model_name(model)


def caller(extra: Mapping[str, Any]) -> None:
    """Check the arguments every operation shares that the router reads later (api_key,
    project, retry), so a bad one fails here, before anything else runs."""
    get = extra.get
    key = get("api_key")
    if key is not None and not isinstance(key, Secret):  # our own Secret wraps a key as well
        v.text(key, "api_key")
    if get("project") is not None:
        v.text(extra["project"], "project")
    if get("retry") is not None:
        RetryPolicy.coerce(extra["retry"])


def read_file(file: Any) -> tuple[bytes, str]:
    if isinstance(file, (bytes, bytearray)):
        if not file:
            raise InvalidRequestError("file is empty", param="file")
        return bytes(file), "audio.wav"
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        try:
            # a FIFO or a device (/dev/zero, a pipe) would block open() or never end a read
            regular = stat.S_ISREG(os.stat(path).st_mode) or os.path.isdir(path)
            if regular:
                with open(path, "rb") as fh:
                    data = fh.read()
        except OSError as exc:
            raise InvalidRequestError(f"cannot read audio file {path!r}: {exc.strerror}",
                                      param="file") from None
        except ValueError:  # NUL bytes, lone surrogates (UnicodeEncodeError)
            raise InvalidRequestError(f"{path!r} is not a usable file path", param="file") \
                from None
        if not regular:
            raise InvalidRequestError(f"{path!r} is not a regular file", param="file")
        if not data:
            raise InvalidRequestError(f"audio file {path!r} is empty", param="file")
        return data, v.text(os.path.basename(path), "file name")
    read = getattr(file, "read", None)
    if callable(read):
        data = read()
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidRequestError("file must be opened in binary mode ('rb')", param="file")
        if not data:
            raise InvalidRequestError("file is empty", param="file")
        name = os.path.basename(str(getattr(file, "name", "") or "audio.wav"))
        return bytes(data), v.text(name, "file name")
    raise InvalidRequestError("file must be a path, bytes or a binary file object", param="file")
