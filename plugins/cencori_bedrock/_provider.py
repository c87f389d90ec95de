"""The Bedrock provider: chat (Converse), streams (ConverseStream) and embeddings (InvokeModel)
through boto3's ``bedrock-runtime`` client, built on the provider toolkit
(:mod:`cencori_core.provider`).

Credentials come from boto3's own chain (environment, shared config and profile, SSO, container
and instance roles), or from the provider's ``aws_access_key_id`` / ``aws_secret_access_key`` /
``aws_session_token`` / ``profile``; the region from ``region`` or ``AWS_REGION`` /
``AWS_DEFAULT_REGION``. Both are looked up when the provider is built, so a missing region or
missing credentials are a :class:`ProviderNotConfiguredError` before any request. botocore's
own retries are off (``total_max_attempts=1``): the router retries.

The async path
    boto3 is synchronous. aiobotocore would give a native async client, but it pins botocore to
    a narrow range (each aiobotocore release allows one or two botocore minors, and boto3 moves
    with botocore), so installing it next to a current boto3 downgrades one or the other. Async
    calls therefore run the sync client in a bounded thread pool (``max_concurrency`` threads,
    default 16, and as many pooled connections): the event loop only awaits a future, never a
    socket. A ConverseStream's EventStream is read in the pool one event per hop and each event
    is handed to the loop. A cancelled call stops waiting at once; the thread finishes its
    request in the background (a boto3 call cannot be interrupted).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ParamValidationError, ProfileNotFound

from cencori_core._logging import add_secrets, protect_sdk_loggers
from cencori_core.config import ProviderConfig
from cencori_core.errors import ConfigurationError, InvalidRequestError, ProviderNotConfiguredError
from cencori_core.provider import (
    ClientHolder,
    ErrorBoundary,
    MapError,
    Scrubber,
    SDKProvider,
    secrets_of,
    stream_twins,
    twins,
)

from . import _convert as cv
from ._errors import map_error

__all__ = ["BedrockProvider", "DEFAULT_CONCURRENCY"]

DEFAULT_CONCURRENCY = 16
"""Threads (and pooled connections) serving the async path when ``max_concurrency`` is unset."""

BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
"""Where botocore reads a Bedrock API key (sent as ``Authorization: Bearer``)."""

DEFAULT_TIMEOUT = 60.0
"""botocore's own connect/read timeout, used when the provider has no ``timeout``."""

_END = object()


class _Pooled:
    """The "async client" of the toolkit's twins: calls made with it run in the thread pool."""

    __slots__ = ()


_POOLED = _Pooled()


def _clear(value: Any) -> str | None:
    get = getattr(value, "get_secret_value", None)
    if get is not None:
        value = get()
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"AWS credentials must be strings, not {type(value).__name__}")
    return value or None


def _checked(fn: Callable[..., Any], kw: dict[str, Any]) -> Any:
    """``fn(**kw)``: boto3 validates the arguments against the service model before sending;
    what it refuses (a misspelt ``provider_options`` field, a wrong type) is a bad request."""
    try:
        return fn(**kw)
    except ParamValidationError as exc:
        raise InvalidRequestError(f"Bedrock's API refuses the request (nothing was sent): "
                                  f"{exc}", param="provider_options") from None


def _header_tokens(answer: dict[str, Any]) -> int | None:
    headers = (answer.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    value = headers.get("x-amzn-bedrock-input-token-count")
    return int(value) if value is not None and str(value).isdigit() else None


# ---------------------------------------------------------------------------- operations


def _chat(p: BedrockProvider, c: Any, r: Any) -> Any:
    kw = cv.chat_request(r)
    client = p.boto(r.timeout)
    return p.run(c, lambda: _checked(client.converse, kw))


def _read_chat(p: BedrockProvider, r: Any, resp: Any) -> Any:
    request_id = (resp.get("ResponseMetadata") or {}).get("RequestId") or ""
    return cv.chat_response(resp, provider=p.name, model=r.model, request_id=request_id)


def _embed(p: BedrockProvider, c: Any, r: Any) -> Any:
    bodies = cv.embed_requests(r)
    client = p.boto(r.timeout)

    def invoke_all() -> list[tuple[bytes, int | None]]:
        out = []
        for body in bodies:
            answer = _checked(client.invoke_model, {
                "modelId": r.model, "body": json.dumps(body),
                "contentType": "application/json", "accept": "application/json"})
            out.append((answer["body"].read(), _header_tokens(answer)))
        return out

    return p.run(c, invoke_all)


def _read_embed(p: BedrockProvider, r: Any, answers: list[tuple[bytes, int | None]]) -> Any:
    parsed = [(json.loads(body), tokens) for body, tokens in answers]
    return cv.embed_response(parsed, provider=p.name, model=r.model, count=len(r.input))


def _open(p: BedrockProvider, c: Any, r: Any) -> Any:
    kw = cv.chat_request(r)
    client = p.boto(r.timeout)
    return p.run(c, lambda: _checked(client.converse_stream, kw)["stream"])


def _events(p: BedrockProvider, c: Any, opened: Any) -> Any:
    return opened


async def _aevents(p: BedrockProvider, c: Any, opened: Any) -> AsyncIterator[Any]:
    import asyncio

    loop = asyncio.get_running_loop()
    pool = p.pool()
    events = iter(opened)
    while True:
        # One hop per event: the read (and boto3's frame parsing) happens in the pool.
        event = await loop.run_in_executor(pool, next, events, _END)
        if event is _END:
            return
        yield event


# ---------------------------------------------------------------------------- the provider


class BedrockProvider(SDKProvider):
    """AWS Bedrock's runtime API through boto3: Converse, ConverseStream, InvokeModel."""

    map_error: ClassVar[MapError] = staticmethod(map_error)

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        opts = config.options
        key_id = _clear(opts.get("aws_access_key_id"))
        secret = _clear(opts.get("aws_secret_access_key"))
        if bool(key_id) != bool(secret):
            raise ConfigurationError(
                f"provider {config.name!r}: aws_access_key_id and aws_secret_access_key go "
                "together; give both, or neither to use boto3's credential chain")
        try:
            self.session = boto3.Session(
                aws_access_key_id=key_id, aws_secret_access_key=secret,
                aws_session_token=_clear(opts.get("aws_session_token")),
                profile_name=opts.get("profile") or None,
                # botocore itself reads only AWS_DEFAULT_REGION (and the profile's region);
                # AWS_REGION is what the other AWS SDKs and Lambda set, so it counts too.
                region_name=opts.get("region") or os.environ.get("AWS_REGION") or None)
        except ProfileNotFound:
            raise ConfigurationError(
                f"provider {config.name!r}: AWS profile {opts.get('profile')!r} is not in the "
                "shared config (~/.aws/config, ~/.aws/credentials); fix the name or set "
                "AWS_CONFIG_FILE") from None
        self.region = self.session.region_name
        if not self.region:
            raise ProviderNotConfiguredError(
                f"provider {config.name!r} has no AWS region: set AWS_REGION (or "
                f"AWS_DEFAULT_REGION), or pass Router(providers={{{config.name!r}: "
                "{'region': 'us-east-1'}})", provider=config.name,
                env_vars=("AWS_REGION", "AWS_DEFAULT_REGION"))
        if config.api_key is not None:
            raise ConfigurationError(
                f"provider {config.name!r} takes no api_key: boto3 signs with AWS credentials "
                "(aws_access_key_id/aws_secret_access_key, a profile or a role), or sends a "
                "Bedrock API key it reads from the environment variable AWS_BEARER_TOKEN_BEDROCK")
        # A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) replaces SigV4: botocore sends it as a
        # bearer token itself, and no AWS credentials are needed then.
        bearer = os.environ.get(BEARER_ENV) or None
        try:
            credentials = self.session.get_credentials()
        except BotoCoreError as exc:  # a broken profile, an SSO session that expired, ...
            raise ProviderNotConfiguredError(
                f"provider {config.name!r}: AWS credentials could not be loaded "
                f"({type(exc).__name__})", provider=config.name) from None
        if credentials is None and bearer is None:
            raise ProviderNotConfiguredError(
                f"provider {config.name!r} found no AWS credentials: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE, "
                f"or {BEARER_ENV} (a Bedrock API key), or run where a role is attached, or pass "
                "aws_access_key_id/aws_secret_access_key in the provider's configuration",
                provider=config.name,
                env_vars=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                          BEARER_ENV))
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        # The secret key, session token and API key found in the environment, a profile or a
        # role are scrubbed like configured ones: botocore errors may quote request headers.
        found = [s for s in (frozen.secret_key if frozen else None,
                             frozen.token if frozen else None, bearer) if s]
        self.scrubber = Scrubber([*secrets_of(config), *config.secrets(), *found])
        # ... and masked in log records, botocore's DEBUG logs included (they print request
        # headers, the session token among them, and whole answers).
        add_secrets(found)
        protect_sdk_loggers()
        self.boundary = ErrorBoundary(provider=self.name, map_error=type(self).map_error,
                                      scrubber=self.scrubber)
        self.endpoint_url = opts.get("endpoint_url") or config.base_url or None
        self.concurrency = int(opts.get("max_concurrency") or DEFAULT_CONCURRENCY)
        if self.concurrency < 1:
            raise ConfigurationError(f"provider {config.name!r}: max_concurrency must be at "
                                     f"least 1, not {self.concurrency}")
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._by_timeout: dict[float, Any] = {}
        self.clients = ClientHolder(self.new_client, self.new_async_client,
                                    close_sync=lambda client: client.close(),
                                    close_async=_forget)

    def __repr__(self) -> str:
        return f"<BedrockProvider {self.name!r} region={self.region!r}>"

    # ------------------------------------------------------------------ clients

    def _client(self, timeout: float | None) -> Any:
        t = timeout if timeout is not None else (self.config.timeout or DEFAULT_TIMEOUT)
        # botocore's "max_attempts" counts retries after the first try (1 would retry once);
        # total_max_attempts=1 is one try in all.
        cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=t,
                     read_timeout=t, max_pool_connections=self.concurrency,
                     user_agent_extra="cencori-core")
        with self._lock:  # a boto3 Session is not thread-safe; its clients are
            # with options={...}, boto3's own client arguments (verify, use_ssl, ...)
            return self.config.sdk_client(functools.partial(self.session.client,
                                                            "bedrock-runtime"),
                                          region_name=self.region,
                                          endpoint_url=self.endpoint_url, config=cfg)

    def new_client(self) -> Any:
        return self._client(None)

    def new_async_client(self) -> _Pooled:
        return _POOLED

    def boto(self, timeout: float | None) -> Any:
        """The boto3 client for a call's timeout (the provider's, or one per other value)."""
        if timeout is None or timeout == self.config.timeout:
            return self.clients.sync_client()
        client = self._by_timeout.get(timeout)
        if client is None:
            client = self._client(timeout)
            with self._lock:
                client = self._by_timeout.setdefault(timeout, client)
        return client

    def pool(self) -> ThreadPoolExecutor:
        """The bounded pool of the async path (started on first async use)."""
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.concurrency,
                                                    thread_name_prefix="cencori-bedrock")
                pool = self._pool
        return pool

    def run(self, client: Any, work: Callable[[], Any]) -> Any:
        """``work()`` now (sync client), or an awaitable running it in the pool (async)."""
        if client is not _POOLED:
            return work()
        return self._in_pool(work)

    async def _in_pool(self, work: Callable[[], Any]) -> Any:
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(self.pool(), work)

    def close(self) -> None:
        super().close()
        with self._lock:
            extra, self._by_timeout = list(self._by_timeout.values()), {}
            pool, self._pool = self._pool, None
        for client in extra:
            client.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        await self.clients.aclose()
        self.close()

    # ------------------------------------------------------------------ operations

    chat, achat = twins(_chat, _read_chat, what="Converse response")
    chat_stream, achat_stream = stream_twins(
        _open, _events, lambda p, r: cv.BedrockStream(provider=p.name, model=r.model),
        aevents=_aevents)
    embed, aembed = twins(_embed, _read_embed, what="embedding answer")


async def _forget(client: Any) -> None:
    """Nothing to close for a loop: the pool and the boto3 clients outlive event loops."""

