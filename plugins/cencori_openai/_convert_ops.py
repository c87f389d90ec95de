"""Pure translation for the operations other than chat: embeddings, images, audio (transcription
and speech) and moderation. Requests become the keyword arguments of the SDK's calls; answers are
read from the SDK's response objects. Chat, the dialects and the shared helpers are in
:mod:`._convert`.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Collection
from typing import Any

from cencori_core.types import (
    EmbeddingRequest,
    EmbeddingResponse,
    GeneratedImage,
    ImageRequest,
    ImageResponse,
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    SpeechRequest,
    Transcription,
    TranscriptionRequest,
    Usage,
)

from ._convert import _int, _with_options

__all__ = ["embed_request", "decode_vector", "embed_response", "image_request", "image_response",
           "transcribe_request", "transcribe_response", "speech_request", "moderate_request",
           "moderate_response"]


# ---------------------------------------------------------------------------- embeddings


def embed_request(request: EmbeddingRequest, known: Collection[str]) -> dict[str, Any]:
    kw: dict[str, Any] = {"model": request.model, "input": request.input}
    if request.dimensions is not None:
        kw["dimensions"] = request.dimensions
    if request.user is not None:
        kw["user"] = request.user
    return _with_options(request, known, kw)


def decode_vector(value: Any) -> list[float]:
    """A vector as floats: the API's base64 form is little-endian float32."""
    if isinstance(value, str):
        arr = array("f", base64.b64decode(value))
        if sys.byteorder != "little":
            arr.byteswap()
        return arr.tolist()
    return list(value)


def embed_response(resp: Any, *, provider: str, model: str) -> EmbeddingResponse:
    data = sorted(resp.data, key=lambda d: d.index)
    u = resp.usage
    usage = (Usage(prompt_tokens=_int(u.prompt_tokens),
                   total_tokens=_int(u.total_tokens) or _int(u.prompt_tokens))
             if u is not None else Usage(source="estimated"))
    return EmbeddingResponse(vectors=[decode_vector(d.embedding) for d in data], usage=usage,
                             model=resp.model or model, provider=provider, raw=resp)


# ---------------------------------------------------------------------------- images


def image_request(request: ImageRequest, known: Collection[str]) -> dict[str, Any]:
    kw: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": request.n}
    if request.size is not None:
        kw["size"] = request.size
    if request.quality is not None:
        kw["quality"] = request.quality
    if request.user is not None:
        kw["user"] = request.user
    return _with_options(request, known, kw)


_MIME = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


def image_response(resp: Any, *, provider: str, model: str) -> ImageResponse:
    mime = _MIME.get(getattr(resp, "output_format", None) or "")
    images = []
    for d in resp.data or ():
        b64 = d.b64_json
        images.append(GeneratedImage(b64_json=b64, url=d.url, revised_prompt=d.revised_prompt,
                                     mime_type=mime or ("image/png" if b64 else None)))
    u = getattr(resp, "usage", None)
    if u is not None:  # gpt-image-1 reports tokens
        prompt, completion = _int(u.input_tokens), _int(u.output_tokens)
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion,
                      total_tokens=_int(u.total_tokens) or prompt + completion,
                      images=len(images))
    else:
        usage = Usage(images=len(images))
    return ImageResponse(images=images, usage=usage, model=model, provider=provider, raw=resp)


# ---------------------------------------------------------------------------- audio


def transcribe_request(request: TranscriptionRequest, known: Collection[str]) -> dict[str, Any]:
    """whisper-1 is asked for ``verbose_json`` (it carries language and duration); the
    gpt-4o transcribe models only answer ``json``, which carries token usage."""
    kw: dict[str, Any] = {"model": request.model, "file": (request.filename, request.file)}
    kw["response_format"] = "verbose_json" if request.model.startswith("whisper") else "json"
    if request.language is not None:
        kw["language"] = request.language
    if request.prompt is not None:
        kw["prompt"] = request.prompt
    return _with_options(request, known, kw)


def transcribe_response(resp: Any, *, provider: str, model: str,
                        language: str | None = None) -> Transcription:
    if isinstance(resp, str):  # response_format text/srt/vtt
        return Transcription(text=resp, language=language, model=model, provider=provider,
                             usage=Usage(source="estimated"), raw=resp)
    duration = getattr(resp, "duration", None)
    lang = getattr(resp, "language", None) or language
    u = getattr(resp, "usage", None)
    if u is not None and getattr(u, "type", None) == "tokens":
        prompt, completion = _int(u.input_tokens), _int(u.output_tokens)
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion,
                      total_tokens=_int(u.total_tokens) or prompt + completion,
                      audio_seconds=float(duration) if duration is not None else None)
    elif u is not None and getattr(u, "type", None) == "duration":
        usage = Usage(audio_seconds=float(u.seconds))
        duration = duration if duration is not None else float(u.seconds)
    else:
        usage = Usage(audio_seconds=float(duration) if duration is not None else None)
    return Transcription(text=resp.text, language=lang,
                         duration=float(duration) if duration is not None else None,
                         usage=usage, model=model, provider=provider, raw=resp)


def speech_request(request: SpeechRequest, known: Collection[str]) -> dict[str, Any]:
    kw: dict[str, Any] = {"model": request.model, "input": request.input,
                          "voice": request.voice, "response_format": request.format}
    if request.speed is not None:
        kw["speed"] = request.speed
    return _with_options(request, known, kw)


# ---------------------------------------------------------------------------- moderation


def moderate_request(request: ModerationRequest, known: Collection[str]) -> dict[str, Any]:
    kw: dict[str, Any] = {"model": request.model, "input": request.input}
    return _with_options(request, known, kw)


def _plain(obj: Any) -> dict[str, Any]:
    """A pydantic model or mapping as a plain dict under the API's own names
    (``harassment/threatening``, not ``harassment_threatening``)."""
    if isinstance(obj, dict):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dict(dump(by_alias=True))
    return dict(vars(obj))


def moderate_response(resp: Any, *, provider: str, model: str) -> ModerationResponse:
    results = []
    for r in resp.results:
        cats = {k: bool(v) for k, v in _plain(r.categories).items() if v is not None}
        scores = {k: float(v) for k, v in _plain(r.category_scores).items() if v is not None}
        results.append(ModerationResult(flagged=bool(r.flagged), categories=cats, scores=scores))
    return ModerationResponse(flagged=any(r.flagged for r in results), results=results,
                              model=resp.model or model, provider=provider,
                              id=resp.id or "", raw=resp)
