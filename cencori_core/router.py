"""The Router: one pipeline for every operation, with a sync and an async driver.

::

    call ─▶ validate ─▶ resolve ─▶ pre-request policies ─▶ short circuit ─▶ limits/budget reserve
         ─▶ attempt loop (retry · fallback) ─▶ provider plugin ─▶ official SDK
         ─▶ normalize ─▶ post-request policies ─▶ settle usage & cost ─▶ record ─▶ result

Everything except the provider call, the retry sleep and the state store is plain synchronous
code shared by both drivers (``_begin``, ``_target_request``, ``_complete``, ``_fail``); ``chat``
and ``achat`` differ only where they wait.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Never

from . import _logging
from . import _operations as ops
from . import _validate as v
from ._callbacks import callback_plugins
from ._hooks import Hooks
from ._pipeline import Pipeline
from ._registry import Registry
from ._requests import (
    chat_request,
    check_extra,
    common,
    embed_request,
    image_request,
    moderation_request,
    rerank_request,
    speech_request,
    transcription_request,
)
from ._streams import AsyncChatStream, ChatStream
from .config import load_toml
from .context import CallContext
from .errors import (
    ConfigurationError,
)
from .hookspecs import hookimpl
from .plugins import (
    allow_list,
    collect_providers,
    discover,
    make_plugin_manager,
    register_plugin,
)
from .provider import Provider
from .resilience import (
    Balancer,
    Cooldown,
    MemoryDeploymentState,
    RetryPolicy,
)
from .telemetry import make_telemetry
from .types import (
    ChatResponse,
    EmbeddingResponse,
    ImageResponse,
    Message,
    ModerationResponse,
    RerankResponse,
    Route,
    Speech,
    Transcription,
)

__all__ = ["Router", "CallContext", "ChatStream", "AsyncChatStream"]


Messages = Sequence[Message | Mapping[str, Any]]
"""Chat messages: our :class:`Message` objects or OpenAI-style dicts, mixed freely."""

CHAT_ARGS = ["model", "messages", "temperature", "max_tokens", "tools", "tool_choice",
             "response_format", "stop", "top_p", "seed", "user", "metadata", "timeout", "retry",
             "api_key", "project", "provider_options"]


class _Builtin:
    """The providers that ship inside cencori-core: ``echo``."""

    name = "cencori-builtin"

    @hookimpl
    def cencori_register_providers(self, register: Callable[..., None]) -> None:
        from ._echo import ECHO_MODELS, make_echo

        register("echo", make_echo, models=ECHO_MODELS, requires_key=False)


class Router:
    """Routes calls to providers through policies, retries, fallbacks and accounting.

    Credentials come from the arguments, the TOML file (``Router.from_config``) or the
    environment (``OPENAI_API_KEY``, ...). A missing key is reported when that provider is first
    used, not when the router is built.
    """

    def __init__(
        self,
        *,
        providers: Mapping[str, Any] | None = None,
        fallbacks: Mapping[str, Iterable[str]] | None = None,
        policies: Iterable[Any] | None = None,
        retry: RetryPolicy | Mapping[str, Any] | int | None = None,
        timeout: float | None = 60.0,
        plugins: Iterable[Any] | None = None,
        load_entrypoints: bool = True,
        context_window_fallbacks: Mapping[str, str] | None = None,
        retry_per_model: Mapping[str, RetryPolicy | Mapping[str, Any] | int] | None = None,
        deployments: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
        routing_strategy: str = "weighted",
        cooldown: Mapping[str, Any] | Cooldown | None = None,
        prices: Mapping[str, Any] | None = None,
        telemetry: bool | None = None,
        telemetry_capture_content: bool | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        on_success: Callable[..., Any] | Iterable[Callable[..., Any]] | None = None,
        on_error: Callable[..., Any] | Iterable[Callable[..., Any]] | None = None,
        # --- accounting: where usage, projects and shared counters live; budgets and limits
        ledger_path: str | os.PathLike[str] | None = None,
        redis_url: str | None = None,
        budgets: Any = None,
        rate_limits: Any = None,
        budget_fail_mode: str = "closed",
        rate_limit_fail_mode: str = "open",
        rate_limit_wait: float = 0.0,
    ) -> None:
        self._closed = False
        self._lock = threading.Lock()
        self.timeout = v.timeout(timeout) if timeout is not None else None
        self.retry = RetryPolicy.coerce(retry) or RetryPolicy()
        self._retry_per_model = {k: RetryPolicy.coerce(p) for k, p in
                                 (retry_per_model or {}).items()}
        self._fallbacks = {k: list(vs) for k, vs in (fallbacks or {}).items()}
        for k, vs in self._fallbacks.items():
            if not all(isinstance(x, str) for x in vs):
                raise ConfigurationError(f"fallbacks[{k!r}] must be a list of model names")
        self._context_window_fallbacks = dict(context_window_fallbacks or {})

        # --- plugins
        self._pm = make_plugin_manager()
        register_plugin(self._pm, _Builtin(), _Builtin.name)
        names: list[str] | None = None
        objects: list[Any] = []
        if plugins is not None:
            names = []
            for p in plugins:
                (names if isinstance(p, str) else objects).append(p)
        allowed = allow_list(names)
        self.loaded_plugins: list[str] = []
        if load_entrypoints:
            self.loaded_plugins = discover(self._pm, allowed)
        for obj in objects:
            self.loaded_plugins.append(register_plugin(self._pm, obj))
        self.policies = list(policies or [])
        # pluggy calls the last registered first: register in reverse so list order holds.
        for pol in reversed(self.policies):
            register_plugin(self._pm, pol, getattr(pol, "name", None) or type(pol).__name__)
        # --- observability: callbacks as hooks, spans/metrics (telemetry.py), logging
        for cb in callback_plugins(on_success, on_error):
            register_plugin(self._pm, cb)
        self._telemetry = make_telemetry(telemetry, capture_content=telemetry_capture_content,
                                         tracer_provider=tracer_provider,
                                         meter_provider=meter_provider)
        _logging.configure_from_env()

        # --- providers, deployments and the catalog (_registry.py)
        self._registry = reg = Registry(collect_providers(self._pm), self.timeout)
        self.catalog = reg.catalog
        for name, value in (providers or {}).items():
            reg.add_provider_config(name, value)
        reg.env_configs()
        if self._telemetry is not None:
            self._telemetry.config = reg.config
        self._dep_state: Any = MemoryDeploymentState()
        self._balancer = Balancer(routing_strategy, Cooldown.coerce(cooldown), self._dep_state)
        for group, deps in (deployments or {}).items():
            reg.add_deployments(group, deps)

        from .accounting.pricing import Pricing

        self.pricing = Pricing(prices)
        # --- accounting (cencori_core/accounting): see accounting/service.py
        from .accounting.service import Accounting

        self._accounting = Accounting(
            self.pricing, ledger_path=ledger_path, redis_url=redis_url, budgets=budgets,
            rate_limits=rate_limits, budget_fail_mode=budget_fail_mode,
            rate_limit_fail_mode=rate_limit_fail_mode, rate_limit_wait=rate_limit_wait)
        self.projects = self._accounting.projects
        """Projects and their keys: ``create``, ``update``, ``add_key``, ``revoke``, ``list``."""
        self.usage = self._accounting.usage
        """Usage totals (``summary(by=...)``) and budget states."""
        self._limiter = self._accounting.limiter
        self._limiter.price_provider = reg.price_provider
        self._limiter.model_info = self.catalog.info
        if getattr(self._accounting.store, "name", None) == "redis":
            # several worker processes agree on cooldowns through the same Redis
            from .stores.redis import RedisDeploymentState

            self._dep_state = self._balancer.state = RedisDeploymentState(self._accounting.store)
        register_plugin(self._pm, self._accounting.sink, self._accounting.sink.name)
        self._refresh_hooks()
        self._pipe = Pipeline(
            hooks=self._hooks, registry=reg, balancer=self._balancer,
            fallbacks=self._fallbacks, context_window_fallbacks=self._context_window_fallbacks,
            telemetry=self._telemetry, accounting=self._accounting, pricing=self.pricing,
            retry=self.retry, retry_per_model=self._retry_per_model)
        _logging.watch(self)  # the log filter masks this router's keys

    # ------------------------------------------------------------------ construction helpers

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], **overrides: Any) -> Router:
        """Build a router from a TOML file; keyword arguments override the file."""
        kwargs = load_toml(path)
        kwargs.update(overrides)
        return cls(**kwargs)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object (hooks and/or providers) on this router."""
        pname = register_plugin(self._pm, plugin, name)
        impls = [i for i in self._pm.hook.cencori_register_providers.get_hookimpls()
                 if i.plugin_name == pname]
        if impls:
            self._registry.add_specs(collect_providers(self._pm))
        self._refresh_hooks()
        return pname

    def _refresh_hooks(self) -> None:
        if not hasattr(self, "_hooks"):
            self._hooks = Hooks(self._pm)
        else:
            self._hooks.refresh()

    @property
    def plugin_manager(self) -> Any:
        """This router's pluggy ``PluginManager`` (for inspection: add plugins with
        :meth:`register`, which also refreshes the router's per-call view of the hooks)."""
        return self._pm

    # ------------------------------------------------------------------ resolution

    def resolve(self, name: str) -> Route:
        """Explain how ``name`` is routed: alias → canonical model → provider → deployment.

        For a model with several deployments, the deployment is the one the routing strategy
        would pick now. A name that is not a string, or could not be routed safely, is an
        InvalidRequestError (as it would be for a call)."""
        name = v.model_name(name)
        deps = self._registry.deployments.get(name)
        if deps:
            dep, _ = self._balancer.choose(deps, set(), time.monotonic())
            return Route(alias=None, model=dep.model, provider=dep.provider, deployment=dep.name,
                         via="deployment", requested=name)
        return self.catalog.resolve(name)

    def provider(self, name: str) -> Provider:
        """The provider instance called ``name`` (built on first use)."""
        return self._registry.provider(name)

    def configured_providers(self) -> dict[str, bool]:
        """Each provider name → whether it can be used now (has a key or needs none);
        deployments are not providers and are not listed."""
        return self._registry.configured_providers()

    def known_secrets(self) -> list[str]:
        """Every provider key visible to this router (arguments, config and environment)."""
        return self._registry.known_secrets()

    # ------------------------------------------------------------------ chat
    # Every operation spells out its keywords: a type checker rejects a misspelled one
    # (``**unknown: Never``) and the run time refuses it with an InvalidRequestError.

    def _chat_ctx(self, stream: bool, kw: dict[str, Any], unknown: dict[str, Any],
                  op: str) -> CallContext:
        if unknown:
            v.unknown_kwargs(op, unknown, CHAT_ARGS)
        req = chat_request(kw, stream)
        return self._pipe.begin("chat", req.model, req, stream=stream, user=req.user,
                                metadata=req.metadata, retry=kw["retry"], api_key=kw["api_key"],
                                project=kw["project"])

    def chat(
        self, *, model: str, messages: Messages, temperature: float | None = None,
        max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None, stop: str | list[str] | None = None,
        top_p: float | None = None, seed: int | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ChatResponse:
        """Send a chat completion and return the normalized :class:`ChatResponse`."""
        ctx = self._chat_ctx(False, locals(), unknown, "chat")
        return self._pipe.run(ctx, ops.CHAT)

    async def achat(
        self, *, model: str, messages: Messages, temperature: float | None = None,
        max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None, stop: str | list[str] | None = None,
        top_p: float | None = None, seed: int | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ChatResponse:
        """Async twin of :meth:`chat`."""
        ctx = self._chat_ctx(False, locals(), unknown, "achat")
        return await self._pipe.arun(ctx, ops.CHAT)

    def chat_stream(
        self, *, model: str, messages: Messages, temperature: float | None = None,
        max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None, stop: str | list[str] | None = None,
        top_p: float | None = None, seed: int | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ChatStream:
        """Stream a chat completion: iterate the returned :class:`ChatStream` for chunks;
        ``stream.final_response()`` (or ``stream.response``) is the final
        :class:`ChatResponse` after the last chunk."""
        return ChatStream(self._pipe, self._chat_ctx(True, locals(), unknown, "chat_stream"))

    def achat_stream(
        self, *, model: str, messages: Messages, temperature: float | None = None,
        max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None, stop: str | list[str] | None = None,
        top_p: float | None = None, seed: int | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> AsyncChatStream:
        """Async twin of :meth:`chat_stream`: ``async with router.achat_stream(...) as s``."""
        return AsyncChatStream(self._pipe,
                               self._chat_ctx(True, locals(), unknown, "achat_stream"))

    # ------------------------------------------------------------------ other operations

    def _ctx(self, op: str, req: Any, extra: dict[str, Any], unknown: dict[str, Any],
             user: str | None = None) -> CallContext:
        check_extra(op, unknown)
        return self._pipe.begin(op.removeprefix("a"), req.model, req, **common(extra, user))

    def embed(
        self, model: str, input: str | list[str], *, dimensions: int | None = None,
        input_type: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> EmbeddingResponse:
        """Embed one text or a list of texts; one vector per input, in order."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = embed_request(model, input, dimensions, input_type, extra)
        ctx = self._ctx("embed", req, extra, unknown, req.user)
        return self._pipe.run(ctx, ops.EMBED)

    async def aembed(
        self, model: str, input: str | list[str], *, dimensions: int | None = None,
        input_type: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> EmbeddingResponse:
        """Async twin of :meth:`embed`."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = embed_request(model, input, dimensions, input_type, extra)
        ctx = self._ctx("aembed", req, extra, unknown, req.user)
        return await self._pipe.arun(ctx, ops.EMBED)

    def generate_image(
        self, model: str, prompt: str, *, size: str | None = None, n: int = 1,
        quality: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ImageResponse:
        """Generate ``n`` images from a prompt."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = image_request(model, prompt, size, n, quality, extra)
        ctx = self._ctx("generate_image", req, extra, unknown, req.user)
        return self._pipe.run(ctx, ops.GENERATE_IMAGE)

    async def agenerate_image(
        self, model: str, prompt: str, *, size: str | None = None, n: int = 1,
        quality: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ImageResponse:
        """Async twin of :meth:`generate_image`."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = image_request(model, prompt, size, n, quality, extra)
        ctx = self._ctx("agenerate_image", req, extra, unknown, req.user)
        return await self._pipe.arun(ctx, ops.GENERATE_IMAGE)

    def transcribe(
        self, model: str, file: Any, *, language: str | None = None,
        prompt: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> Transcription:
        """Transcribe audio given as a path, bytes or a binary file object."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = transcription_request(model, file, language, prompt, extra)
        ctx = self._ctx("transcribe", req, extra, unknown)
        return self._pipe.run(ctx, ops.TRANSCRIBE)

    async def atranscribe(
        self, model: str, file: Any, *, language: str | None = None,
        prompt: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> Transcription:
        """Async twin of :meth:`transcribe`."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = transcription_request(model, file, language, prompt, extra)
        ctx = self._ctx("atranscribe", req, extra, unknown)
        return await self._pipe.arun(ctx, ops.TRANSCRIBE)

    def speech(
        self, model: str, input: str, *, voice: str, format: str = "mp3",
        speed: float | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> Speech:
        """Text to speech; ``Speech.audio`` holds the bytes."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = speech_request(model, input, voice, format, speed, extra)
        ctx = self._ctx("speech", req, extra, unknown)
        return self._pipe.run(ctx, ops.SPEECH)

    async def aspeech(
        self, model: str, input: str, *, voice: str, format: str = "mp3",
        speed: float | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> Speech:
        """Async twin of :meth:`speech`."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = speech_request(model, input, voice, format, speed, extra)
        ctx = self._ctx("aspeech", req, extra, unknown)
        return await self._pipe.arun(ctx, ops.SPEECH)

    def moderate(
        self, model: str, input: str | list[str], *, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ModerationResponse:
        """Classify text with the provider's moderation model (its own category names)."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = moderation_request(model, input, extra)
        ctx = self._ctx("moderate", req, extra, unknown)
        return self._pipe.run(ctx, ops.MODERATE)

    async def amoderate(
        self, model: str, input: str | list[str], *, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ModerationResponse:
        """Async twin of :meth:`moderate`."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = moderation_request(model, input, extra)
        ctx = self._ctx("amoderate", req, extra, unknown)
        return await self._pipe.arun(ctx, ops.MODERATE)

    def rerank(
        self, model: str, query: str, documents: Sequence[str | Mapping[str, Any]], *,
        top_n: int | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None, retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> RerankResponse:
        """Order ``documents`` (strings, or dicts with a ``"text"``) by relevance to ``query``;
        ``results`` best first, each with the document's ``index`` in ``documents``."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = rerank_request(model, query, documents, top_n, extra)
        ctx = self._ctx("rerank", req, extra, unknown, v.optional_str(user, "user"))
        return self._pipe.run(ctx, ops.RERANK)

    async def arerank(
        self, model: str, query: str, documents: Sequence[str | Mapping[str, Any]], *,
        top_n: int | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None, retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> RerankResponse:
        """Async twin of :meth:`rerank`."""
        extra = {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
                 "api_key": api_key, "project": project, "provider_options": provider_options}
        req = rerank_request(model, query, documents, top_n, extra)
        ctx = self._ctx("arerank", req, extra, unknown, v.optional_str(user, "user"))
        return await self._pipe.arun(ctx, ops.RERANK)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close every provider client this router created; write the ledger's queued
        records and close its stores."""
        self._closed = True
        self._pipe.close()
        for inst in list(self._registry.instances.values()):
            try:
                inst.close()
            except Exception:  # noqa: BLE001
                import logging

                logging.getLogger("cencori_core").exception("closing %r failed", inst)
        self._accounting.close()

    async def aclose(self) -> None:
        """Close every provider client (async and sync) this router created, and the
        accounting stores."""
        self._closed = True
        self._pipe.close()
        for inst in list(self._registry.instances.values()):
            try:
                await inst.aclose()
            except Exception:  # noqa: BLE001
                import logging

                logging.getLogger("cencori_core").exception("closing %r failed", inst)
        await self._accounting.aclose()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Router providers={sorted(self._registry.configs)}>"


# ---------------------------------------------------------------------------- helpers
