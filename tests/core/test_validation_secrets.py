"""Core-side secrets (issue 13, item 6): a key given through provider ``headers`` (Azure's
``api-key``, ``Authorization``) or inside a URL is a known secret, masked in
``repr(ProviderConfig)`` and by the log filter; the filter also covers the SDKs' own loggers,
which print request options and response headers at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from anthropic_wire import AnthropicServer
from openai_wire import OpenAIWire

from cencori_core import ProviderError, RetryPolicy, Router
from cencori_core._logging import SDK_LOGGERS, protect_sdk_loggers
from cencori_core.config import ProviderConfig, mask_url, url_secrets

KEY = "sk-secrets-test-0123456789abcdef"
HEADER_KEY = "azure-header-key-0123456789abcdef"
BEARER = "tok-bearer-0123456789abcdef"
URL_PASSWORD = "url-password-0123456789"
USER = [{"role": "user", "content": "Hello"}]


def test_repr_of_provider_config_masks_headers_urls_and_key() -> None:
    cfg = ProviderConfig.from_mapping("azure", {
        "api_key": KEY, "base_url": f"https://me:{URL_PASSWORD}@example.test/v1?key=qk-98765432",
        "headers": {"api-key": HEADER_KEY, "Authorization": f"Bearer {BEARER}",
                    "X-Team": "search"},
        "organization": "org-1", "options": {"default_query": {"token": "opt-token-0123456789"}}},
        config_keys=("organization",))
    text = repr(cfg)
    for secret in (KEY, HEADER_KEY, BEARER, URL_PASSWORD, "qk-98765432", "opt-token-0123456789"):
        assert secret not in text
    assert "X-Team" in text and "search" in text and "org-1" in text  # the rest stays readable
    assert {KEY, HEADER_KEY, BEARER, URL_PASSWORD, "qk-98765432",
            "opt-token-0123456789"} <= set(cfg.secrets())


def test_url_helpers() -> None:
    url = "redis://:pw-0123456789@localhost:6379/0?password=qp-0123456789&db=1"
    assert set(url_secrets(url)) == {"pw-0123456789", "qp-0123456789"}
    assert mask_url(url) == "redis://:*****@localhost:6379/0?password=*****&db=1"
    assert url_secrets("http://[::1") == []  # malformed: no crash


@pytest.fixture
def captured() -> Iterator[list[logging.LogRecord]]:
    """Every record of every logger at DEBUG, formatted as a handler would."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.format(record)
            records.append(record)

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(level)


def _text(records: list[logging.LogRecord]) -> str:
    return "\n".join(r.getMessage() + (r.exc_text or "") for r in records)


def test_header_key_is_masked_by_the_cencori_log_filter(captured) -> None:
    router = Router(providers={"openai": {"api_key": KEY, "headers": {"api-key": HEADER_KEY}}},
                    plugins=["openai"])
    logging.getLogger("cencori_core").warning("config is %s / %s", HEADER_KEY, KEY)
    assert HEADER_KEY not in _text(captured) and KEY not in _text(captured)
    assert "*****" in _text(captured)
    router.close()


def test_sdk_debug_loggers_mask_a_key_echoed_in_response_headers(captured) -> None:
    # The OpenAI SDK logs every response's headers at DEBUG; a server (or proxy) echoing the key
    # in x-request-id put it in the log.
    with OpenAIWire() as wire:
        router = Router(providers={"openai": {"api_key": KEY, "base_url": wire.base_url}},
                        plugins=["openai"], retry=RetryPolicy(max_attempts=1))
        wire.fail(400, "bad", request_id=f"echo {KEY}")
        with pytest.raises(ProviderError):
            router.chat(model="gpt-4o", messages=USER)
        router.close()
    sdk = [r for r in captured if r.name.split(".")[0] in SDK_LOGGERS]
    assert any("HTTP Response" in r.getMessage() for r in sdk)  # the SDK did log the headers
    assert KEY not in _text(captured)


async def test_sdk_debug_loggers_mask_header_keys_in_request_options(captured) -> None:
    # Anthropic's SDK logs each request's options, headers included, at DEBUG.
    with AnthropicServer() as server:
        router = Router(providers={"anthropic": {
            "api_key": KEY, "base_url": server.base_url,
            "headers": {"x-api-key": HEADER_KEY}}},
            plugins=["anthropic"], retry=RetryPolicy(max_attempts=1))
        router.chat(model="claude-opus-4", messages=USER,
                    provider_options={"extra_headers": {"x-api-key": HEADER_KEY}})
        await router.achat(model="claude-opus-4", messages=USER,
                           provider_options={"extra_headers": {"x-api-key": HEADER_KEY}})
        await router.aclose()
    sdk = [r for r in captured if r.name.startswith("anthropic")]
    assert any("Request options" in r.getMessage() for r in sdk)
    assert HEADER_KEY not in _text(captured) and KEY not in _text(captured)


def test_sdk_loggers_created_later_are_covered() -> None:
    protect_sdk_loggers()
    for name in ("openai._base_client", "anthropic._base_client", "httpx", "httpcore.http11",
                 "google_genai._api_client"):
        assert any(type(f).__name__ == "SecretFilter" for f in logging.getLogger(name).filters)
