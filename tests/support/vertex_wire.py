"""A Vertex AI server on 127.0.0.1 for tests, on top of :mod:`google_wire` (same bodies).

What Vertex AI adds to the Gemini API's wire format:

- paths under a project and a location: ``POST /v1beta1/projects/{project}/locations/
  {location}/publishers/google/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``,
  ``:predict`` for Imagen and text embeddings, ``:embedContent``); express mode (an API key,
  ``x-goog-api-key``) has no project in the path;
- OAuth 2 access tokens: ``Authorization: Bearer <token>``; anything else is Google's 401
  ``UNAUTHENTICATED``;
- a token endpoint (``POST /token``, what a service-account file's ``token_uri`` names here): the
  JWT-bearer grant google-auth sends, its RS256 assertion checked against the key of
  :func:`service_account_file`, answered with :attr:`VertexWire.token`.

Text embeddings on Vertex are ``:predict`` with ``{"instances": [{"content": ...}]}``, answered
``{"predictions": [{"embeddings": {"values": [...], "statistics": {"token_count": n}}}]}``::

    with VertexWire() as wire:                       # or the ``vertex_wire`` fixture
        path = service_account_file(wire, tmp_path)  # GOOGLE_APPLICATION_CREDENTIALS=path
        Router(providers={"vertex": {"base_url": wire.base_url, "project": PROJECT,
                                     "location": LOCATION}})
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from google_wire import GeminiWire, error
from loopback import Recorded, Reply

__all__ = ["VertexWire", "vertex_wire", "service_account_file", "PROJECT", "LOCATION", "TOKEN",
           "CLIENT_EMAIL"]

PROJECT = "cencori-test-project"
LOCATION = "us-central1"
TOKEN = "ya29.vertex-test-access-token-0123456789"
CLIENT_EMAIL = "cencori-sa@cencori-test-project.iam.gserviceaccount.com"

_VERTEX = re.compile(r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/"
                     r"(?P<location>[^/]+)/publishers/google/models/[^/:]+:\w+$")
_EXPRESS = re.compile(r"^/(?P<version>v1|v1beta1)/publishers/google/models/[^/:]+:\w+$")
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class VertexWire(GeminiWire):
    """The server; ``base_url`` is its root. Accepts :attr:`token` as a bearer token, and the
    API key (express mode)."""

    def __init__(self, *, token: str = TOKEN, **kw: Any) -> None:
        super().__init__(**kw)
        self.token = token
        self.public_key: Any = None
        """The service account's public key (set by :func:`service_account_file`)."""
        self.grants: list[dict[str, Any]] = []
        """The JWT claims of each token request."""
        self.http.route("POST", "/token", self._on_token)

    def _dispatch(self, rec: Recorded) -> Reply:
        vertex = _VERTEX.match(rec.path)
        if vertex is not None:
            if rec.headers.get("authorization") != f"Bearer {self.token}":
                return error(401, "UNAUTHENTICATED",
                             "Request had invalid authentication credentials. Expected OAuth 2 "
                             "access token, login cookie or other valid authentication "
                             "credential.")
            # authenticated: the Gemini bodies from here (GeminiWire checks a key header)
            rec = Recorded(rec.method, rec.path, rec.query,
                           {**rec.headers, "x-goog-api-key": self.api_key}, rec.body)
        elif _EXPRESS.match(rec.path) is None:
            return error(404, "NOT_FOUND", f"no such Vertex AI path {rec.path}")
        if rec.path.endswith(":predict") and "content" in ((rec.json or {}).get("instances")
                                                          or [{}])[0]:
            return self._predict_embeddings(rec)
        return super()._dispatch(rec)

    def _predict_embeddings(self, rec: Recorded) -> Reply:
        body = rec.json or {}
        dims = (body.get("parameters") or {}).get("outputDimensionality") or 4
        out = [{"embeddings": {"values": self._vector(i["content"], dims),
                               "statistics": {"token_count": len(i["content"].split()),
                                              "truncated": False}}}
               for i in body["instances"]]
        return Reply.json({"predictions": out, "metadata": {
            "billableCharacterCount": sum(len(i["content"]) for i in body["instances"])}})

    def _on_token(self, rec: Recorded) -> Reply:
        form = {k: v[0] for k, v in parse_qs(rec.body.decode()).items()}
        if form.get("grant_type") != _JWT_GRANT or "assertion" not in form:
            return Reply.json({"error": "unsupported_grant_type"}, status=400)
        header, claims, signature = form["assertion"].split(".")
        if self.public_key is not None:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            # raises InvalidSignature (the handler's 599) when the JWT was not signed by the key
            self.public_key.verify(_unb64url(signature), f"{header}.{claims}".encode(),
                                   padding.PKCS1v15(), hashes.SHA256())
        self.grants.append(json.loads(_unb64url(claims)))
        return Reply.json({"access_token": self.token, "expires_in": 3600,
                           "token_type": "Bearer"})


def service_account_file(wire: VertexWire, folder: Path) -> Path:
    """A service-account key file whose ``token_uri`` is ``wire``'s token endpoint, with a fresh
    RSA key (its public half kept by the wire to check the grants)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wire.public_key = key.public_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = folder / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": "key-1",
        "private_key": pem, "client_email": CLIENT_EMAIL, "client_id": "1234567890",
        "token_uri": wire.base_url + "/token", "universe_domain": "googleapis.com"}))
    return path


@pytest.fixture
def vertex_wire() -> Iterator[VertexWire]:
    """A started :class:`VertexWire`, stopped after the test."""
    with VertexWire() as wire:
        yield wire
