"""The built-in ``echo`` provider: every capability, no key, no network, deterministic.

Replies ``echo: <last user text>``; usage by word count; embedding vectors from a hash; a tiny
valid PNG for images; a short valid WAV for speech; moderation flags nothing; rerank scores
each document by the share of the query's words it contains.

Structured output and the common parameters, for trying them offline: with a JSON
``response_format`` and a last user text that is JSON, the reply is that text as it is (send the
JSON you want back; ``{"wrong": "shape"}`` or plain text shows ``OutputValidationError``);
``n`` gives ``n`` identical choices;
``logprobs`` gives each word a log probability of 0 (certainty); the others are accepted and
change nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import struct
import wave
import zlib
from collections.abc import AsyncIterator, Iterator

from .catalog import CAPABILITIES, ModelInfo
from .config import ProviderConfig
from .errors import ProviderBadRequestError
from .provider import Provider
from .types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    EmbeddingResponse,
    GeneratedImage,
    ImageRequest,
    ImageResponse,
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    RerankRequest,
    RerankResponse,
    RerankResult,
    Speech,
    SpeechRequest,
    Transcription,
    TranscriptionRequest,
    Usage,
)

ECHO_MODELS = (ModelInfo(name="echo", capabilities=CAPABILITIES, context_window=1_000_000,
                         max_output_tokens=4096),)


def make_echo(config: ProviderConfig) -> EchoProvider:
    return EchoProvider(config)


def _words(text: str) -> int:
    return len(text.split())


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"\x00\xff\xff\xff"  # one white RGB pixel, filter byte 0
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / rate)))
                          for i in range(int(seconds * rate)))
        w.writeframes(frames)
    return buf.getvalue()


PNG_B64 = base64.b64encode(_png()).decode("ascii")
WAV = _wav()
MAX_DIMENSIONS = 8_192
"""Longest embedding echo makes (OpenAI's largest is 3,072): a real provider refuses more."""
MAX_IMAGES = 10
"""Most images one call may ask for (OpenAI's limit)."""


def _json_reply(request: ChatRequest, last: str) -> bool:
    """A JSON response_format and a last user text that is JSON: echoed as it is."""
    rf = request.response_format
    if rf is None or rf["type"] == "text":
        return False
    try:
        json.loads(last)
    except ValueError:
        return False
    return True


class EchoProvider(Provider):
    """Echoes the last user message; the CLI's first run and users' smoke tests."""

    offline = True
    limits = True
    """Refuse what a real provider refuses (dimensions, image n); FakeProvider's echo serves
    whatever the router accepts, as its scripted answers do."""

    def _reply(self, request: ChatRequest) -> tuple[str, Usage]:
        last = ""
        for m in reversed(request.messages):
            if m.role == "user":
                last = m.text
                break
        text = last if _json_reply(request, last) else f"echo: {last}"
        if request.max_tokens is not None:
            text = " ".join(text.split(" ")[: request.max_tokens])
        prompt = sum(_words(m.text) for m in request.messages)
        completion = _words(text)
        return text, Usage(prompt_tokens=prompt, completion_tokens=completion,
                           total_tokens=prompt + completion)

    def chat(self, request: ChatRequest) -> ChatResponse:
        text, usage = self._reply(request)
        if request.n is None and not request.logprobs:
            return ChatResponse(content=text, finish_reason="stop", usage=usage,
                                model=request.model, provider=self.name)
        logprobs = [{"token": w, "logprob": 0.0, "bytes": None,
                     "top_logprobs": [{"token": w, "logprob": 0.0, "bytes": None}]
                     [:request.top_logprobs or 0]}
                    for w in text.split(" ")] if request.logprobs else None
        n = request.n or 1
        choices = tuple(Choice(index=i, content=text, logprobs=logprobs) for i in range(n))
        return ChatResponse(content=text, finish_reason="stop", usage=usage, choices=choices,
                            logprobs=logprobs, model=request.model, provider=self.name)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return self.chat(request)

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        text, usage = self._reply(request)
        words = text.split(" ")
        n = request.n or 1
        if n == 1 and not request.logprobs:
            for i, w in enumerate(words):
                yield ChatChunk(delta=w if i == 0 else " " + w, model=request.model)
        else:  # n choices, their words interleaved as a provider sends them
            top = request.top_logprobs or 0
            for i, w in enumerate(words):
                lp = [{"token": w, "logprob": 0.0, "bytes": None,
                       "top_logprobs": [{"token": w, "logprob": 0.0, "bytes": None}][:top]}] \
                    if request.logprobs else None
                for c in range(n):
                    yield ChatChunk(delta=w if i == 0 else " " + w, model=request.model,
                                    index=c, logprobs=lp)
            for c in range(1, n):
                yield ChatChunk(finish_reason="stop", index=c)
        yield ChatChunk(finish_reason="stop")
        yield ChatChunk(usage=usage)

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        for c in self.chat_stream(request):
            yield c

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        dims = request.dimensions or 8
        if dims > MAX_DIMENSIONS and self.limits:
            # as a real provider does (400): the router allows up to 2**31 - 1, which would
            # build gigabytes of floats here
            raise ProviderBadRequestError(
                f"dimensions {dims} is more than this model's {MAX_DIMENSIONS}",
                provider=self.name, model=request.model, status_code=400)
        vectors = []
        for text in request.input:
            # the digests joined once: concatenating them one by one was quadratic in dims
            digest = b"".join(hashlib.sha256(f"{counter}:{text}".encode()).digest()
                              for counter in range(-(-dims * 2 // 32)))
            vec = [(int.from_bytes(digest[i * 2:i * 2 + 2], "big") / 32767.5) - 1.0
                   for i in range(dims)]
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            vectors.append([x / norm for x in vec])
        tokens = sum(_words(t) for t in request.input)
        return EmbeddingResponse(vectors=vectors, usage=Usage(prompt_tokens=tokens,
                                                              total_tokens=tokens),
                                 model=request.model, provider=self.name)

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        return self.embed(request)

    def generate_image(self, request: ImageRequest) -> ImageResponse:
        if request.n > MAX_IMAGES and self.limits:
            raise ProviderBadRequestError(
                f"n {request.n} is more than the {MAX_IMAGES} images a call may ask for",
                provider=self.name, model=request.model, status_code=400)
        images = [GeneratedImage(b64_json=PNG_B64, revised_prompt=request.prompt,
                                 mime_type="image/png") for _ in range(request.n)]
        return ImageResponse(images=images, usage=Usage(images=request.n),
                             model=request.model, provider=self.name)

    async def agenerate_image(self, request: ImageRequest) -> ImageResponse:
        return self.generate_image(request)

    def transcribe(self, request: TranscriptionRequest) -> Transcription:
        duration = None
        try:
            with wave.open(io.BytesIO(request.file)) as w:
                duration = w.getnframes() / float(w.getframerate())
        except (wave.Error, EOFError):
            pass
        text = f"echo: {len(request.file)} bytes of audio"
        return Transcription(text=text, language=request.language or "en", duration=duration,
                             usage=Usage(audio_seconds=duration), model=request.model,
                             provider=self.name)

    async def atranscribe(self, request: TranscriptionRequest) -> Transcription:
        return self.transcribe(request)

    def speech(self, request: SpeechRequest) -> Speech:
        return Speech(audio=WAV, format="wav", usage=Usage(characters=len(request.input)),
                      model=request.model, provider=self.name)

    async def aspeech(self, request: SpeechRequest) -> Speech:
        return self.speech(request)

    def moderate(self, request: ModerationRequest) -> ModerationResponse:
        results = [ModerationResult(flagged=False, categories={"echo": False},
                                    scores={"echo": 0.0}) for _ in request.input]
        return ModerationResponse(flagged=False, results=results, model=request.model,
                                  provider=self.name)

    async def amoderate(self, request: ModerationRequest) -> ModerationResponse:
        return self.moderate(request)

    def rerank(self, request: RerankRequest) -> RerankResponse:
        query = set(request.query.lower().split())
        scored = [RerankResult(index=i, document=d, relevance_score=len(
            query & set(d.lower().split())) / (len(query) or 1))
            for i, d in enumerate(request.documents)]
        scored.sort(key=lambda r: (-r.relevance_score, r.index))
        tokens = _words(request.query) + sum(_words(d) for d in request.documents)
        return RerankResponse(results=scored[:request.top_n], model=request.model,
                              provider=self.name,
                              usage=Usage(prompt_tokens=tokens, total_tokens=tokens))

    async def arerank(self, request: RerankRequest) -> RerankResponse:
        return self.rerank(request)
