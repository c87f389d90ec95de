"""An Azure OpenAI wire-format server on 127.0.0.1 for tests, on top of :mod:`openai_wire`.

Azure OpenAI serves the OpenAI API per deployment: ``POST /openai/deployments/{deployment}/
chat/completions?api-version=2024-10-21`` (and ``/embeddings``, ``/images/generations``,
``/audio/transcriptions``, ``/audio/speech``), authenticated by the ``api-key`` header or by
``Authorization: Bearer <Microsoft Entra ID token>``. What this server adds to OpenAI's shapes:

- a request without ``api-version`` is a 404 ``Resource not found``, a wrong key a 401
  ``Access denied due to invalid subscription key or wrong API endpoint`` (Azure's texts), an
  unknown deployment (when :attr:`AzureWire.deployments` is set) a 404 ``DeploymentNotFound``;
- answers carry ``prompt_filter_results`` and per-choice ``content_filter_results``; streams
  open with Azure's empty-``choices`` chunk holding ``prompt_filter_results``;
- :meth:`AzureWire.content_filter` queues Azure's 400 ``content_filter`` error, with its
  ``innererror`` (``ResponsibleAIPolicyViolation``).

The GA v1 path (``/openai/v1/chat/completions``, no ``api-version``) is served too, for clients
configured with such a ``base_url``::

    with AzureWire(api_key=KEY) as wire:             # or the ``azure_wire`` fixture
        wire.chat_reply("Hello!")
        Router(providers={"azure": {"endpoint": wire.endpoint, "api_key": KEY,
                                    "api_version": "2024-10-21"}})
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from loopback import Recorded, Reply
from openai_wire import OpenAIWire

from cencori_core import RetryPolicy, Router

__all__ = ["AzureWire", "azure_wire", "azure_router", "FILTER_SAFE", "filter_results",
           "AZURE_KEY", "VERSION"]

AZURE_KEY = "azure-key-0123456789abcdef0123456789"
VERSION = "2024-10-21"

_CATEGORIES = ("hate", "self_harm", "sexual", "violence")

#: Azure's per-category verdict when nothing was filtered.
FILTER_SAFE = {c: {"filtered": False, "severity": "safe"} for c in _CATEGORIES}


def filter_results(**filtered: str) -> dict[str, Any]:
    """``content_filter_results`` with the named categories filtered at that severity
    (``filter_results(violence="high")``)."""
    out: dict[str, Any] = {c: dict(v) for c, v in FILTER_SAFE.items()}
    for cat, severity in filtered.items():
        out[cat] = {"filtered": True, "severity": severity}
    return out


def _prompt_filter() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": dict(FILTER_SAFE)}]


class AzureWire(OpenAIWire):
    """The server. ``endpoint`` is the resource endpoint (``http://127.0.0.1:<port>``)."""

    def __init__(self, *, api_key: str = AZURE_KEY, token: str | None = None) -> None:
        super().__init__()
        self.endpoint = self.server.base_url
        self.api_key = api_key
        self.token = token
        """The Entra ID token accepted as ``Authorization: Bearer`` (None: none is)."""
        self.deployments: set[str] | None = None
        """Known deployments; None serves any."""
        self.base_model = "gpt-4o-2024-08-06"
        """The ``model`` Azure answers with (the deployment's base model); None: the body's."""
        self.filter_finish: dict[str, Any] | None = None
        route = self.server.route
        route("POST", "/openai/deployments/", self._on_deployment)
        route("POST", "/openai/v1/", self._on_v1)

    # ------------------------------------------------------------------ scripting

    def content_filter(self, *, where: str = "prompt", times: int = 1,
                       **categories: str) -> None:
        """Azure's 400 ``content_filter`` error for the next ``times`` requests."""
        body = {"error": {
            "message": ("The response was filtered due to the prompt triggering Azure OpenAI's "
                        "content management policy. Please modify your prompt and retry."),
            "type": None, "param": where, "code": "content_filter", "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation",
                           "content_filter_result": filter_results(**(categories or
                                                                      {"violence": "high"}))}}}
        self.fail(400, body=body, times=times)

    # ------------------------------------------------------------------ handlers

    def _auth_error(self, rec: Recorded) -> Reply | None:
        if rec.headers.get("api-key") == self.api_key:
            return None
        if self.token is not None and rec.headers.get("authorization") == f"Bearer {self.token}":
            return None
        return Reply.json({"error": {
            "code": "401", "message": "Access denied due to invalid subscription key or wrong "
                                      "API endpoint. Make sure to provide a valid key for an "
                                      "active subscription and use a correct regional API "
                                      "endpoint for your resource."}}, status=401)

    def _on_deployment(self, rec: Recorded) -> Reply:
        if not rec.query.get("api-version"):
            return Reply.json({"error": {"code": "404", "message": "Resource not found"}},
                              status=404)
        denied = self._auth_error(rec)
        if denied is not None:
            return denied
        deployment, _, op = rec.path[len("/openai/deployments/"):].partition("/")
        if self.deployments is not None and deployment not in self.deployments:
            return Reply.json({"error": {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist. If you created "
                           "the deployment within the last 5 minutes, please wait a moment and "
                           "try again."}}, status=404)
        return self._serve(rec, "/" + op)

    def _on_v1(self, rec: Recorded) -> Reply:
        # the v1 API also takes the key as a bearer token (the plain OpenAI client's way)
        bearer = rec.headers.get("authorization") == f"Bearer {self.api_key}"
        denied = None if bearer else self._auth_error(rec)
        return denied or self._serve(rec, rec.path[len("/openai/v1"):])

    def _serve(self, rec: Recorded, op: str) -> Reply:
        inner = Recorded(rec.method, "/v1" + op, rec.query, rec.headers, rec.body)
        if op == "/chat/completions":
            return self._on_chat(inner)
        handler = {"/embeddings": self._on_embeddings, "/images/generations": self._on_images,
                   "/audio/transcriptions": self._on_transcription,
                   "/audio/speech": self._on_speech}.get(op)
        if handler is None:
            return Reply.json({"error": {"code": "404", "message": "Resource not found"}},
                              status=404)
        return handler(inner)

    def _on_chat(self, rec: Recorded) -> Reply:
        reply = super()._on_chat(rec)
        if reply.status != 200:
            return reply
        if reply.lines is not None:
            body = rec.json or {}
            return self._azure_stream(reply, body)
        out = dict(reply.body) if isinstance(reply.body, dict) else reply.body
        if isinstance(out, dict) and "choices" in out:
            out["prompt_filter_results"] = _prompt_filter()
            for choice in out["choices"]:
                choice["content_filter_results"] = (
                    {} if choice.get("finish_reason") == "content_filter" else dict(FILTER_SAFE))
            if self.base_model:
                out["model"] = self.base_model
        return Reply.json(out, headers=reply.headers, delay=reply.delay)

    def _azure_stream(self, reply: Reply, body: dict[str, Any]) -> Reply:
        """Re-serve OpenAI's chunks in Azure's shape: the empty-``choices`` prompt filter chunk
        first, ``content_filter_results`` on every choice, the base model's name."""
        first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                 "prompt_filter_results": _prompt_filter()}

        def gen() -> Iterator[bytes]:
            yield f"data: {json.dumps(first)}\n\n".encode()
            for piece in reply.lines or ():
                if not piece.startswith(b"data: {"):
                    yield piece
                    continue
                ev = json.loads(piece[len(b"data: "):])
                for choice in ev.get("choices") or ():
                    choice["content_filter_results"] = (
                        dict(FILTER_SAFE) if choice.get("delta") else {})
                if self.base_model and ev.get("model"):
                    ev["model"] = self.base_model
                yield f"data: {json.dumps(ev)}\n\n".encode()

        # The cut of a scripted cut stream counts OpenAI's pieces; one more for the first chunk.
        cut = reply.cut_after + 1 if reply.cut_after is not None else None
        return Reply(lines=gen(), headers=reply.headers, delay=reply.delay, cut_after=cut,
                     content_type="text/event-stream")


def azure_router(wire: AzureWire, *, plugins: list[Any] | None = None,
                 router: dict[str, Any] | None = None, **cfg: Any) -> Router:
    """A router whose ``azure`` provider talks to ``wire`` (endpoint, key, ``api-version``; a
    ``None`` value drops that key), one attempt per call; ``router`` holds Router keywords."""
    conf = {"endpoint": wire.endpoint, "api_key": wire.api_key, "api_version": VERSION, **cfg}
    return Router(providers={"azure": {k: v for k, v in conf.items() if v is not None}},
                  plugins=plugins or ["openai"], retry=RetryPolicy(max_attempts=1),
                  **(router or {}))


@pytest.fixture
def azure_wire() -> Iterator[AzureWire]:
    """A started :class:`AzureWire`, stopped after the test."""
    with AzureWire() as wire:
        yield wire
