"""Every CencoriError class answers with the right status and OpenAI error body, so the SDK
raises its matching exception, and our error is that exception's ``__cause__``; secrets never
appear in the bodies. Sync and async."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import openai
import pytest
from openai_wire import OpenAIWire

from cencori_core import (
    AllAttemptsFailedError,
    AuthenticationError,
    BudgetExceededError,
    CencoriError,
    ConfigurationError,
    ContentFilterError,
    ContextWindowExceededError,
    InvalidRequestError,
    MissingDependencyError,
    OutputValidationError,
    PluginError,
    PolicyViolationError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderNotConfiguredError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitExceededError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
    UnknownModelError,
    hookimpl,
)
from cencori_core.dropin import cencori_error
from cencori_core.testing import FakeProvider

MSGS = [{"role": "user", "content": "hi"}]


class Raise:
    """A pre-request hook raising a given error (how policies, budgets and limits fail)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    @hookimpl
    def cencori_pre_request(self, context: Any) -> None:
        if self.error is not None:
            raise self.error


# (error, SDK exception class, status, OpenAI error type, code)
HOOK_ERRORS = [
    (InvalidRequestError("bad value", param="x"), openai.BadRequestError, 400,
     "invalid_request_error", None),
    (AuthenticationError("unknown project key"), openai.AuthenticationError, 401,
     "authentication_error", "invalid_api_key"),
    (PolicyViolationError("blocked", policy="pii", rule="email"), openai.BadRequestError, 400,
     "invalid_request_error", "content_policy_violation"),
    (BudgetExceededError("budget spent"), openai.RateLimitError, 429, "insufficient_quota",
     "budget_exceeded"),
    (RateLimitExceededError("slow down", retry_after=2.0), openai.RateLimitError, 429,
     "rate_limit_error", "rate_limit_exceeded"),
    (ConfigurationError("bad config"), openai.InternalServerError, 500, "server_error",
     "configuration_error"),
    (PluginError("bad plugin"), openai.InternalServerError, 500, "server_error",
     "configuration_error"),
    (MissingDependencyError("pip install x", extra="x"), openai.InternalServerError, 500,
     "server_error", "missing_dependency"),
    (ProviderNotConfiguredError("no key", provider="p"), openai.AuthenticationError, 401,
     "authentication_error", "provider_not_configured"),
    (UnknownModelError("no such model", model="m"), openai.NotFoundError, 404,
     "invalid_request_error", "model_not_found"),
    (OutputValidationError("not a City", raw="{}", errors=[]), openai.InternalServerError, 502,
     "server_error", "output_validation_failed"),
]

# provider-side errors, raised by the provider on every attempt
PROVIDER_ERRORS = [
    (ProviderAuthError("key rejected", status_code=401), openai.AuthenticationError, 401,
     "provider_auth_error"),
    (ProviderBadRequestError("bad", status_code=400), openai.BadRequestError, 400,
     "provider_error"),
    (ProviderBadRequestError("no model", status_code=404), openai.NotFoundError, 404,
     "provider_error"),
    (ProviderBadRequestError("unprocessable", status_code=422),
     openai.UnprocessableEntityError, 422, "provider_error"),
    (ContextWindowExceededError("too long", status_code=400), openai.BadRequestError, 400,
     "context_length_exceeded"),
    (ContentFilterError("filtered", status_code=400), openai.BadRequestError, 400,
     "content_filter"),
    (ProviderRateLimitError("429", status_code=429, retry_after=1.5), openai.RateLimitError,
     429, "rate_limit_exceeded"),
    (ProviderServerError("down", status_code=503), openai.InternalServerError, 503,
     "provider_server_error"),
    (ProviderServerError("odd", status_code=None), openai.InternalServerError, 502,
     "provider_server_error"),
    (ProviderResponseError("garbage"), openai.InternalServerError, 502,
     "provider_response_error"),
]


def _router(*plugins: Any, attempts: int = 1) -> tuple[Router, FakeProvider]:
    fake = FakeProvider(models=["m"])
    r = Router(providers={"fake": fake}, plugins=list(plugins), load_entrypoints=False,
               retry=RetryPolicy(max_attempts=attempts, initial_delay=0, jitter=0))
    return r, fake


def _call(router: Router, mode: str, **kw: Any) -> Any:
    kw.setdefault("model", "m")
    kw.setdefault("messages", MSGS)
    if mode == "sync":
        return router.openai_client().chat.completions.create(**kw)

    async def run() -> Any:
        async with router.async_openai_client() as c:
            return await c.chat.completions.create(**kw)

    return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _check(info: pytest.ExceptionInfo[Any], cls: type, status: int, code: str | None,
           cause: BaseException) -> Any:
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.code == code
    assert exc.__cause__ is cause
    assert cencori_error(exc) is cause
    assert exc.body["message"] and str(exc).startswith(f"Error code: {status} - ")
    return exc


@pytest.mark.parametrize("error,cls,status,kind,code", HOOK_ERRORS,
                         ids=[type(e[0]).__name__ for e in HOOK_ERRORS])
def test_router_errors(mode: str, error: CencoriError, cls: type, status: int, kind: str,
                       code: str | None) -> None:
    hook = Raise()
    router, _ = _router(hook)
    hook.error = error
    with pytest.raises(cls) as info:
        _call(router, mode)
    exc = _check(info, cls, status, code, error)
    assert exc.type == kind
    if isinstance(error, InvalidRequestError):
        assert exc.param == "x"
    if isinstance(error, RateLimitExceededError):
        assert exc.response.headers["retry-after"] == "2"
        assert exc.response.headers["retry-after-ms"] == "2000"


@pytest.mark.parametrize("error,cls,status,code", PROVIDER_ERRORS,
                         ids=[f"{type(e[0]).__name__}-{e[2]}" for e in PROVIDER_ERRORS])
def test_provider_errors(mode: str, error: CencoriError, cls: type, status: int,
                         code: str) -> None:
    router, fake = _router()
    fake.script(error)
    with pytest.raises(cls) as info:
        _call(router, mode)
    _check(info, cls, status, code, error)


def test_every_error_class_is_mapped() -> None:
    import cencori_core.errors as errors

    covered = {type(e[0]) for e in HOOK_ERRORS + PROVIDER_ERRORS} | {
        ProviderTimeoutError, ProviderConnectionError, StreamInterruptedError,
        AllAttemptsFailedError}
    every = {c for c in vars(errors).values() if isinstance(c, type)
             and issubclass(c, CencoriError) and c is not CencoriError}
    every -= {errors.ProviderError}  # abstract: always one of its subclasses
    assert every <= covered, every - covered


def test_timeouts_and_connection_errors_are_the_sdks(mode: str) -> None:
    router, fake = _router()
    err = ProviderTimeoutError("slow")
    fake.script(err)
    with pytest.raises(openai.APITimeoutError) as t:
        _call(router, mode)
    assert t.value.__cause__ is err
    err2 = ProviderConnectionError("refused")
    fake.script(err2)
    with pytest.raises(openai.APIConnectionError) as c:
        _call(router, mode)
    assert type(c.value) is openai.APIConnectionError and c.value.__cause__ is err2


def test_all_attempts_failed_answers_as_its_last_error(mode: str) -> None:
    router, fake = _router(attempts=2)
    fake.script(ProviderServerError("down", status_code=500),
                ProviderRateLimitError("busy", status_code=429))
    with pytest.raises(openai.RateLimitError) as info:
        _call(router, mode)
    cause = info.value.__cause__
    assert isinstance(cause, (AllAttemptsFailedError, ProviderRateLimitError))
    assert cencori_error(info.value) is cause


def test_error_mid_stream_is_an_api_error_with_our_cause(mode: str) -> None:
    # the first chunk arrives, then the provider connection drops
    router, fake = _router()
    fake.script(["Hel", ProviderConnectionError("dropped")])
    got: list[str] = []

    async def arun() -> None:
        async with router.async_openai_client() as c:
            s = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
            async for ch in s:
                got.append(ch.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as info:
        if mode == "sync":
            for ch in router.openai_client().chat.completions.create(model="m", messages=MSGS,
                                                                     stream=True):
                got.append(ch.choices[0].delta.content or "")
        else:
            asyncio.run(arun())
    assert "".join(got) == "Hel"
    assert isinstance(cencori_error(info.value), ProviderConnectionError | StreamInterruptedError)


def test_an_error_before_the_first_chunk_is_a_status_error(mode: str) -> None:
    router, fake = _router()
    err = ProviderRateLimitError("busy", status_code=429, retry_after=0.5)
    fake.script(err)
    with pytest.raises(openai.RateLimitError) as info:
        _call(router, mode, stream=True)
    assert info.value.__cause__ is err


KEY = "sk-dropin-secret-0123456789abcdefABCD"


def test_secrets_never_reach_the_error_bodies(mode: str) -> None:
    with OpenAIWire() as wire:
        router = Router(providers={"openai": {"api_key": KEY, "base_url": wire.base_url}},
                        plugins=["openai"], retry=RetryPolicy(max_attempts=1))
        wire.fail(401, f"Incorrect API key provided: {KEY}", type="invalid_request_error",
                  code="invalid_api_key")
        with pytest.raises(openai.AuthenticationError) as info:
            _call(router, mode, model="gpt-4o")
        router.close()
    exc = info.value
    shown = (str(exc) + repr(exc.body) + exc.response.text
             + "".join(traceback.format_exception(exc)))
    assert KEY not in shown and KEY[:20] not in shown
    assert isinstance(exc.__cause__, ProviderAuthError)
