"""Azure OpenAI errors through the router and the real SDK against :mod:`azure_wire`: a wrong
key (401), throttling (429 with Retry-After), the content filter (400 ``content_filter``), an
unknown deployment (404 ``DeploymentNotFound``); and the key or the
Entra token, echoed back by the server, kept out of every error, cause, log record and span."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
from azure_wire import AZURE_KEY, AzureWire, azure_wire
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cencori_core import (
    ContentFilterError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderRateLimitError,
    RetryPolicy,
    Router,
)

__all__ = ["azure_wire"]  # the fixture, imported for pytest

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def router(azure_wire: AzureWire):
    r = Router(providers={"azure": {"endpoint": azure_wire.endpoint, "api_key": AZURE_KEY,
                                    "api_version": "2024-10-21"}},
               plugins=["openai"], retry=RetryPolicy(max_attempts=1))
    yield r
    await r.aclose()


async def failing(router: Router, mode: str, cls: type[BaseException], *, stream: bool = False,
                  model: str = "azure/dep") -> Any:
    with pytest.raises(cls) as info:
        if stream and mode == "sync":
            with router.chat_stream(model=model, messages=USER) as s:
                list(s)
        elif stream:
            async with router.achat_stream(model=model, messages=USER) as s:
                [c async for c in s]
        elif mode == "sync":
            router.chat(model=model, messages=USER)
        else:
            await router.achat(model=model, messages=USER)
    return info.value


def shown(err: BaseException) -> str:
    """Everything a log line or a traceback could show of ``err`` and its chain."""
    parts = ["".join(traceback.format_exception(err))]
    e: BaseException | None = err
    while e is not None:
        parts += [repr(e), repr(getattr(e, "body", None)), repr(vars(e))]
        e = e.__cause__ or e.__context__
    return "\n".join(parts)


async def test_wrong_key_is_an_auth_error(router, azure_wire, mode):
    azure_wire.api_key = "another-key-0123456789abcdef"
    err = await failing(router, mode, ProviderAuthError)
    assert err.status_code == 401 and err.retryable is False
    assert "Access denied" in str(err)


async def test_throttling_with_retry_after(router, azure_wire, mode):
    azure_wire.fail(429, "Requests to the ChatCompletions_Create Operation under Azure OpenAI "
                         "API have exceeded call rate limit.", code="429", retry_after=7)
    err = await failing(router, mode, ProviderRateLimitError)
    assert err.retry_after == 7 and err.retryable is True


async def test_content_filter_400_is_a_content_filter_error(router, azure_wire, mode):
    azure_wire.content_filter(violence="high")
    err = await failing(router, mode, ContentFilterError)
    assert err.status_code == 400 and err.code == "content_filter"
    assert "content management policy" in str(err)
    azure_wire.content_filter(hate="medium")
    await failing(router, mode, ContentFilterError, stream=True)


async def test_unknown_deployment_is_a_404_naming_it(router, azure_wire, mode):
    azure_wire.deployments = {"real-dep"}
    err = await failing(router, mode, ProviderBadRequestError, model="azure/typo-dep")
    assert err.status_code == 404 and err.code == "DeploymentNotFound" and not err.retryable
    assert "deployment for this resource does not exist" in str(err)
    assert azure_wire.last().path == "/openai/deployments/typo-dep/chat/completions"


async def test_echoed_key_never_leaks(router, azure_wire, mode, caplog):
    caplog.set_level(logging.DEBUG)
    azure_wire.fail(401, f"Invalid key {AZURE_KEY}", request_id=AZURE_KEY,
                    headers={"api-key": AZURE_KEY, "x-echo": f"key={AZURE_KEY}"})
    err = await failing(router, mode, ProviderAuthError)
    azure_wire.fail(401, f"Invalid key {AZURE_KEY}", request_id=AZURE_KEY)
    err2 = await failing(router, mode, ProviderAuthError, stream=True)
    for e in (err, err2):
        assert AZURE_KEY not in shown(e)
    assert AZURE_KEY not in caplog.text
    assert AZURE_KEY not in repr(router) and AZURE_KEY not in repr(router.provider("azure"))


async def test_echoed_entra_token_never_leaks_in_errors_or_spans(azure_wire, mode):
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-token-0123456789"
    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    router = Router(providers={"azure": {"endpoint": azure_wire.endpoint,
                                         "azure_ad_token_provider": lambda: token}},
                    plugins=["openai"], retry=RetryPolicy(max_attempts=1),
                    tracer_provider=tracer)
    try:
        azure_wire.fail(401, f"Token {token} expired", request_id=token,
                        headers={"x-echo": f"Bearer {token}"})
        err = await failing(router, mode, ProviderAuthError)
        assert token not in shown(err)
        spans = exporter.get_finished_spans()
        assert spans and all(token not in repr(dict(s.attributes or {}))
                             and all(token not in repr(ev.attributes) for ev in s.events)
                             for s in spans)
        assert {s.attributes.get("gen_ai.provider.name") for s in spans
                if s.name.startswith("chat")} == {"azure.ai.openai"}
    finally:
        await router.aclose()
        tracer.shutdown()
