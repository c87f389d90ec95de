"""``example_api``: a provider built on cencori's provider toolkit, over a tiny JSON API.

Its "SDK" is httpx (imported here, so only when the provider is first used). The API:
``POST {base_url}/reverse`` with ``{"model", "messages", "tools"?, "stream"?}``; a JSON answer
``{"id", "text", "tool_calls": [{"id", "name", "arguments"}], "finish", "usage": {"input",
"output"}}``, or, streamed, NDJSON events ``{"type": "delta", "text"}``, ``{"type":
"tool_call", ...}`` and the closing ``{"type": "end", "finish", "usage"}``. Errors: the status,
``{"error": {"message", "code"}}``, ``request-id`` and ``Retry-After`` headers.
"""

from __future__ import annotations

from typing import Any

import httpx

from cencori_core import ChatChunk, ChatRequest, ChatResponse, ToolCall, ToolCallDelta, Usage
from cencori_core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    error_for_status,
)
from cencori_core.provider import (
    SDKProvider,
    StreamState,
    parse_retry_after,
    stream_twins,
    twins,
)

# ---------------------------------------------------------------------------- _errors


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """httpx's exceptions as cencori errors (the toolkit scrubs and chains them)."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError("the request timed out", provider=provider, model=model)
    if isinstance(exc, httpx.HTTPStatusError):
        resp = exc.response
        try:
            err = resp.json()["error"]
            message, code = str(err.get("message") or ""), err.get("code")
        except (ValueError, KeyError, TypeError, AttributeError):
            message, code = resp.text[:200], None
        return error_for_status(resp.status_code)(
            message or f"HTTP {resp.status_code}", provider=provider, model=model,
            status_code=resp.status_code, retry_after=parse_retry_after(resp.headers),
            request_id=resp.headers.get("request-id"), code=code)
    if isinstance(exc, httpx.TransportError):
        return ProviderConnectionError(f"connection failed ({type(exc).__name__})",
                                       provider=provider, model=model)
    return None


def _check(resp: httpx.Response) -> None:
    if resp.status_code >= 400:
        resp.read()
        resp.raise_for_status()


async def _acheck(resp: httpx.Response) -> None:
    if resp.status_code >= 400:
        await resp.aread()
        resp.raise_for_status()


# ---------------------------------------------------------------------------- _convert


def chat_request(request: ChatRequest, stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model,
                            "messages": [{"role": m.role, "content": m.text}
                                         for m in request.messages]}
    if request.tools:
        body["tools"] = request.tools
    if stream:
        body["stream"] = True
    return body


def usage_from(u: dict[str, Any]) -> Usage:
    return Usage.of(int(u["input"]), int(u["output"]))


def chat_response(data: Any, *, provider: str, model: str, raw: Any = None) -> ChatResponse:
    calls = [ToolCall.from_raw(id=c["id"], name=c["name"], arguments_raw=c["arguments"])
             for c in data.get("tool_calls") or []]
    text = data["text"]
    if text is not None and not isinstance(text, str):
        raise TypeError("text is not a string")
    return ChatResponse(content=text, tool_calls=calls, finish_reason=data["finish"],
                        usage=usage_from(data["usage"]), model=model, provider=provider,
                        id=data.get("id") or "", raw=raw)


class ExampleStream(StreamState):
    closing_event = "its 'end' event"

    def fold(self, event: Any) -> ChatChunk | None:
        if not event:
            return None  # keep-alive blank line
        ev = self.decode(event)
        kind = ev["type"]
        if kind == "delta":
            return ChatChunk(delta=ev["text"])
        if kind == "tool_call":
            return ChatChunk(tool_calls=[ToolCallDelta(index=ev["index"], id=ev["id"],
                                                       name=ev["name"],
                                                       arguments=ev["arguments"])])
        if kind == "end":
            self.done = True
            return ChatChunk(finish_reason=ev["finish"], usage=usage_from(ev["usage"]))
        return None


# ---------------------------------------------------------------------------- _provider


class ExampleAPIProvider(SDKProvider):
    map_error = staticmethod(map_error)

    def _kw(self) -> dict[str, Any]:
        cfg = self.config
        return {"base_url": cfg.base_url or "http://127.0.0.1:9/v1",
                "headers": {"authorization": f"Bearer {self.secret() or ''}"},
                "timeout": cfg.timeout if cfg.timeout is not None else 60.0}

    def new_client(self) -> httpx.Client:
        return httpx.Client(**self._kw(), event_hooks={"response": [_check]})

    def new_async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(**self._kw(), event_hooks={"response": [_acheck]})

    chat, achat = twins(
        lambda p, c, r: c.post("/reverse", json=chat_request(r)),
        lambda p, r, resp: chat_response(resp.json(), provider=p.name, model=r.model, raw=resp),
        what="chat answer", request=ChatRequest)
    chat_stream, achat_stream = stream_twins(
        lambda p, c, r: c.send(c.build_request("POST", "/reverse",
                                               json=chat_request(r, stream=True)), stream=True),
        lambda p, c, resp: resp.iter_lines(),
        lambda p, r: ExampleStream(provider=p.name, model=r.model),
        aevents=lambda p, c, resp: resp.aiter_lines())
