"""Azure OpenAI (provider ``azure``) on the ``openai`` SDK's ``AzureOpenAI`` clients.

Everything but the clients is the OpenAI provider's: the same converters, the same fast chat path
(the Azure client rewrites ``/chat/completions`` to ``/deployments/{model}/chat/completions`` and
adds ``api-version`` and its own authentication: the ``api-key`` header, or
``Authorization: Bearer`` with a Microsoft Entra ID token), the same error mapping (Azure's
``content_filter`` code is a :class:`~cencori_core.errors.ContentFilterError`).

Model names are deployment names: ``azure/<deployment>``. ``deployments={"<deployment>":
"gpt-4o"}`` in the configuration names each deployment's base model, whose catalog entry
(capabilities, context window) and prices the deployment takes (the registry adds those entries).
A ``deployment`` key pins one deployment for every call: that is how an Azure deployment serves
as one of the ``deployments`` of an OpenAI model name (the model in the body stays ``gpt-4o``).

Azure serves no moderation endpoint: :meth:`moderate` refuses before anything is sent.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

import openai

from cencori_core.config import ProviderConfig
from cencori_core.errors import ConfigurationError, ProviderNotConfiguredError
from cencori_core.provider import Provider, Scrubber, secrets_of

from . import _convert as cv
from ._provider import OpenAIProvider

__all__ = ["AzureOpenAIProvider", "make_azure", "DEFAULT_API_VERSION"]

#: The latest GA data-plane version when neither ``api_version`` nor ``OPENAI_API_VERSION`` says.
DEFAULT_API_VERSION = "2024-10-21"


# Entra tokens the scrubber masks: a token lives an hour, a few cover every one in flight.
_KEPT_TOKENS = 4


def make_azure(config: ProviderConfig) -> AzureOpenAIProvider:
    return AzureOpenAIProvider(config)


def _check(config: ProviderConfig) -> tuple[str | None, str, Callable[[], Any] | None]:
    """(endpoint, api_version, token provider) of a configuration, or a clear error."""
    opts = config.options
    name = config.name
    endpoint = opts.get("endpoint") or (None if config.base_url
                                        else os.environ.get("AZURE_OPENAI_ENDPOINT"))
    if endpoint is not None and not isinstance(endpoint, str):
        raise ConfigurationError(f"providers[{name!r}].endpoint must be a URL string such as "
                                 "'https://my-resource.openai.azure.com'")
    if endpoint and config.base_url:
        raise ConfigurationError(
            f"providers[{name!r}] has both endpoint and base_url: give the resource endpoint "
            "('https://my-resource.openai.azure.com') or a full base_url, not both")
    if not endpoint and not config.base_url:
        raise ConfigurationError(
            f"providers[{name!r}] (Azure OpenAI) needs an endpoint such as "
            "'https://my-resource.openai.azure.com': set 'endpoint' or AZURE_OPENAI_ENDPOINT")
    version = opts.get("api_version") or os.environ.get("OPENAI_API_VERSION") \
        or DEFAULT_API_VERSION
    if not isinstance(version, str):
        raise ConfigurationError(f"providers[{name!r}].api_version must be a string such as "
                                 f"{DEFAULT_API_VERSION!r}")
    token_provider = opts.get("azure_ad_token_provider")
    if token_provider is not None and not callable(token_provider):
        raise ConfigurationError(
            f"providers[{name!r}].azure_ad_token_provider must be a callable returning a "
            "Microsoft Entra ID token, such as azure.identity.get_bearer_token_provider("
            "DefaultAzureCredential(), 'https://cognitiveservices.azure.com/.default')")
    if token_provider is not None and config.api_key:
        raise ConfigurationError(
            f"providers[{name!r}] has both api_key and azure_ad_token_provider: use one")
    if token_provider is None and not config.api_key:
        where = (f"set the environment variable {config.api_key_env}" if config.api_key_env
                 else "set AZURE_OPENAI_API_KEY")
        raise ProviderNotConfiguredError(
            f"provider {name!r} has no API key: {where}, or pass Router(providers={{{name!r}: "
            "{'api_key': ...}}) or an 'azure_ad_token_provider' (Microsoft Entra ID)",
            provider=name, env_vars=("AZURE_OPENAI_API_KEY",))
    deployment = opts.get("deployment")
    if deployment is not None and (not isinstance(deployment, str) or not deployment
                                   or "/" in deployment):
        raise ConfigurationError(f"providers[{name!r}].deployment must be a deployment name "
                                 "such as 'my-gpt-4o'")
    return endpoint, version, token_provider


class AzureOpenAIProvider(OpenAIProvider):
    """Chat, streams, tools, structured output, embeddings, images and audio on Azure OpenAI."""

    def __init__(self, config: ProviderConfig) -> None:
        self._endpoint, self._version, self._user_tokens = _check(config)
        super().__init__(config, cv.DIALECTS["openai"])
        self._tokens: list[str] = []
        self._token_lock = threading.Lock()
        self._token_provider = (self._watch(self._user_tokens)
                                if self._user_tokens is not None else None)

    # ------------------------------------------------------------------ Entra ID tokens

    def _seen(self, token: Any) -> Any:
        """A token the provider returned: the error boundary and stream states mask it from
        now on (it goes out as ``Authorization: Bearer``, and a server may echo it)."""
        if isinstance(token, str) and token and token not in self._tokens:
            with self._token_lock:
                self._tokens = [*self._tokens[-(_KEPT_TOKENS - 1):], token]
                self.scrubber = Scrubber([*secrets_of(self.config), *self._tokens])
                self.boundary.scrubber = self.scrubber
        return token

    def _watch(self, provider: Callable[[], Any]) -> Callable[[], Any]:
        def token() -> Any:
            value = provider()
            if inspect.isawaitable(value):  # azure.identity.aio's provider, on the async client
                async def later() -> Any:
                    return self._seen(await value)
                return later()
            return self._seen(value)
        return token

    # ------------------------------------------------------------------ clients

    def _v1(self) -> bool:
        """Whether ``base_url`` is the GA v1 API (``.../openai/v1``): Azure's own docs reach it
        with the plain ``OpenAI`` client (no deployments in the path, no ``api-version``; the
        key or the Entra token as ``Authorization: Bearer``)."""
        base = self.config.base_url
        return bool(base) and base.rstrip("/").endswith("/openai/v1")  # type: ignore[union-attr]

    def _build_v1(self, cls: type[Any], http_client: Any) -> Any:
        cfg = self.config
        kw: dict[str, Any] = {"api_key": self._token_provider or self.secret(),
                              "base_url": cfg.base_url, "max_retries": 0,
                              "organization": cfg.options.get("organization"),
                              "project": cfg.options.get("project")}
        if cfg.timeout is not None:
            kw["timeout"] = cfg.timeout
        if cfg.options.get("headers"):
            kw["default_headers"] = dict(cfg.options["headers"])
        if http_client is not None:
            kw["http_client"] = http_client
        return self.config.sdk_client(cls, **kw)  # with options={...}

    def _build(self, cls: type[Any], http_client: Any) -> Any:
        if self._v1():
            plain = openai.OpenAI if cls is openai.AzureOpenAI else openai.AsyncOpenAI
            return self._build_v1(plain, http_client)
        cfg = self.config
        opts = cfg.options
        kw: dict[str, Any] = {"api_version": self._version, "max_retries": 0}
        if self._token_provider is not None:
            kw["azure_ad_token_provider"] = self._token_provider
        else:
            kw["api_key"] = self.secret()
        if self._endpoint:
            kw["azure_endpoint"] = self._endpoint
            if opts.get("deployment"):
                kw["azure_deployment"] = opts["deployment"]
        else:
            kw["base_url"] = cfg.base_url
        if cfg.timeout is not None:
            kw["timeout"] = cfg.timeout
        if opts.get("headers"):
            kw["default_headers"] = dict(opts["headers"])
        for key in ("organization", "project"):
            # Never OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment: OpenAI's, not Azure's.
            kw[key] = opts.get(key)
        if http_client is not None:
            kw["http_client"] = http_client
        return cfg.sdk_client(cls, **kw)  # with options={...}, the SDK client's own arguments

    def new_client(self) -> openai.AzureOpenAI:
        return self._build(openai.AzureOpenAI,  # type: ignore[no-any-return]
                           self.config.http_client)

    def new_async_client(self) -> openai.AsyncAzureOpenAI:
        return self._build(openai.AsyncAzureOpenAI,  # type: ignore[no-any-return]
                           self.config.async_http_client)

    # Azure OpenAI has no moderation endpoint (its content filter runs on every call).
    moderate = Provider.moderate
    amoderate = Provider.amoderate
