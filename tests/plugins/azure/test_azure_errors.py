"""Azure OpenAI errors through the router and the real SDK against :mod:`azure_wire`: a wrong
key (401), throttling (429 with Retry-After), the content filter (400 ``content_filter``), an
unknown deployment (404 ``DeploymentNotFound``); and the key or the
Entra token, echoed back by the server, kept out of every error, cause, log record and span."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from azure_wire import AZURE_KEY, AzureWire, azure_router, azure_wire
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from parity import MODES, raises

from cencori_core import (
    ContentFilterError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderRateLimitError,
    Router,
)

__all__ = ["azure_wire"]  # the fixture, imported for pytest

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def router(azure_wire: AzureWire) -> Iterator[Router]:
    with azure_router(azure_wire) as r:
        yield r


def failing(router: Router, mode: str, cls: type[BaseException], *, stream: bool = False,
            model: str = "azure/dep") -> Any:
    return raises(router, mode, "chat_stream" if stream else "chat", cls, model=model,
                  messages=USER)


def shown(err: BaseException) -> str:
    """Everything a log line or a traceback could show of ``err`` and its chain."""
    parts = ["".join(traceback.format_exception(err))]
    e: BaseException | None = err
    while e is not None:
        parts += [repr(e), repr(getattr(e, "body", None)), repr(vars(e))]
        e = e.__cause__ or e.__context__
    return "\n".join(parts)


def test_wrong_key_is_an_auth_error(router, azure_wire, mode):
    azure_wire.api_key = "another-key-0123456789abcdef"
    err = failing(router, mode, ProviderAuthError)
    assert err.status_code == 401 and err.retryable is False
    assert "Access denied" in str(err)


def test_throttling_with_retry_after(router, azure_wire, mode):
    azure_wire.fail(429, "Requests to the ChatCompletions_Create Operation under Azure OpenAI "
                         "API have exceeded call rate limit.", code="429", retry_after=7)
    err = failing(router, mode, ProviderRateLimitError)
    assert err.retry_after == 7 and err.retryable is True


def test_content_filter_400_is_a_content_filter_error(router, azure_wire, mode):
    azure_wire.content_filter(violence="high")
    err = failing(router, mode, ContentFilterError)
    assert err.status_code == 400 and err.code == "content_filter"
    assert "content management policy" in str(err)
    azure_wire.content_filter(hate="medium")
    failing(router, mode, ContentFilterError, stream=True)


def test_unknown_deployment_is_a_404_naming_it(router, azure_wire, mode):
    azure_wire.deployments = {"real-dep"}
    err = failing(router, mode, ProviderBadRequestError, model="azure/typo-dep")
    assert err.status_code == 404 and err.code == "DeploymentNotFound" and not err.retryable
    assert "deployment for this resource does not exist" in str(err)
    assert azure_wire.last().path == "/openai/deployments/typo-dep/chat/completions"


def test_echoed_key_never_leaks(router, azure_wire, mode, caplog):
    caplog.set_level(logging.DEBUG)
    azure_wire.fail(401, f"Invalid key {AZURE_KEY}", request_id=AZURE_KEY,
                    headers={"api-key": AZURE_KEY, "x-echo": f"key={AZURE_KEY}"})
    err = failing(router, mode, ProviderAuthError)
    azure_wire.fail(401, f"Invalid key {AZURE_KEY}", request_id=AZURE_KEY)
    err2 = failing(router, mode, ProviderAuthError, stream=True)
    for e in (err, err2):
        assert AZURE_KEY not in shown(e)
    assert AZURE_KEY not in caplog.text
    assert AZURE_KEY not in repr(router) and AZURE_KEY not in repr(router.provider("azure"))


def test_echoed_entra_token_never_leaks_in_errors_or_spans(azure_wire, mode):
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-token-0123456789"
    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    router = azure_router(azure_wire, api_key=None, azure_ad_token_provider=lambda: token,
                          router={"tracer_provider": tracer})
    try:
        azure_wire.fail(401, f"Token {token} expired", request_id=token,
                        headers={"x-echo": f"Bearer {token}"})
        err = failing(router, mode, ProviderAuthError)
        assert token not in shown(err)
        spans = exporter.get_finished_spans()
        assert spans and all(token not in repr(dict(s.attributes or {}))
                             and all(token not in repr(ev.attributes) for ev in s.events)
                             for s in spans)
        assert {s.attributes.get("gen_ai.provider.name") for s in spans
                if s.name.startswith("chat")} == {"azure.ai.openai"}
    finally:
        router.close()
        tracer.shutdown()
