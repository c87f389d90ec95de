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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _logging
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
    ModerationResponse,
    Route,
    Speech,
    Transcription,
)

__all__ = ["Router", "CallContext", "ChatStream", "AsyncChatStream"]


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
        if getattr(self._accounting.store, "name", None) == "redis":
            # several worker processes agree on cooldowns through the same Redis
            from .stores.redis import RedisDeploymentState

            self._dep_state = self._balancer.state = RedisDeploymentState(self._accounting.store)
        register_plugin(self._pm, self._accounting.sink, self._accounting.sink.name)
        self._refresh_hooks()
        self._pipe = Pipeline(
            self, hooks=self._hooks, registry=reg, balancer=self._balancer,
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
        would pick now."""
        deps = self._registry.deployments.get(name)
        if deps:
            dep, _ = self._balancer.choose(deps, set(), time.monotonic())
            return Route(alias=None, model=dep.model, provider=dep.provider, deployment=dep.name,
                         via="deployment", requested=name)
        return self.catalog.resolve(name)

    def _price_provider(self, name: str) -> str:
        # accounting/limits.py still asks the router (to become a price function it is given)
        return self._registry.price_provider(name)

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

    def _chat_ctx(self, stream: bool, kw: dict[str, Any], unknown: dict[str, Any],
                  op: str) -> CallContext:
        if unknown:
            v.unknown_kwargs(op, unknown, CHAT_ARGS)
        req = chat_request(kw, stream)
        return self._pipe.begin("chat", req.model, req, stream=stream, user=req.user,
                           metadata=req.metadata, retry=kw["retry"], api_key=kw["api_key"],
                           project=kw["project"])

    def chat(self, *, model: str, messages: Any, temperature: float | None = None,
             max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
             tool_choice: str | dict[str, Any] | None = None,
             response_format: dict[str, Any] | None = None, stop: str | list[str] | None = None,
             top_p: float | None = None, seed: int | None = None, user: str | None = None,
             metadata: dict[str, Any] | None = None, timeout: float | None = None,
             retry: RetryPolicy | None = None, api_key: str | None = None,
             project: str | None = None, provider_options: dict[str, Any] | None = None,
             **unknown: Any) -> ChatResponse:
        """Send a chat completion and return the normalized :class:`ChatResponse`."""
        kw = locals()
        ctx = self._chat_ctx(False, kw, unknown, "chat")
        return self._pipe.run(ctx, "chat")  # type: ignore[no-any-return]

    async def achat(self, *, model: str, messages: Any, temperature: float | None = None,
                    max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
                    tool_choice: str | dict[str, Any] | None = None,
                    response_format: dict[str, Any] | None = None,
                    stop: str | list[str] | None = None, top_p: float | None = None,
                    seed: int | None = None, user: str | None = None,
                    metadata: dict[str, Any] | None = None, timeout: float | None = None,
                    retry: RetryPolicy | None = None, api_key: str | None = None,
                    project: str | None = None, provider_options: dict[str, Any] | None = None,
                    **unknown: Any) -> ChatResponse:
        """Async twin of :meth:`chat`."""
        kw = locals()
        ctx = self._chat_ctx(False, kw, unknown, "achat")
        return await self._pipe.arun(ctx, "chat")  # type: ignore[no-any-return]

    def chat_stream(self, *, model: str, messages: Any, temperature: float | None = None,
                    max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
                    tool_choice: str | dict[str, Any] | None = None,
                    response_format: dict[str, Any] | None = None,
                    stop: str | list[str] | None = None, top_p: float | None = None,
                    seed: int | None = None, user: str | None = None,
                    metadata: dict[str, Any] | None = None, timeout: float | None = None,
                    retry: RetryPolicy | None = None, api_key: str | None = None,
                    project: str | None = None, provider_options: dict[str, Any] | None = None,
                    **unknown: Any) -> ChatStream:
        """Stream a chat completion: iterate the returned :class:`ChatStream` for chunks;
        ``stream.response`` is the final :class:`ChatResponse` after the last chunk."""
        kw = locals()
        ctx = self._chat_ctx(True, kw, unknown, "chat_stream")
        return ChatStream(self._pipe, ctx)

    def achat_stream(self, *, model: str, messages: Any, temperature: float | None = None,
                     max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
                     tool_choice: str | dict[str, Any] | None = None,
                     response_format: dict[str, Any] | None = None,
                     stop: str | list[str] | None = None, top_p: float | None = None,
                     seed: int | None = None, user: str | None = None,
                     metadata: dict[str, Any] | None = None, timeout: float | None = None,
                     retry: RetryPolicy | None = None, api_key: str | None = None,
                     project: str | None = None,
                     provider_options: dict[str, Any] | None = None,
                     **unknown: Any) -> AsyncChatStream:
        """Async twin of :meth:`chat_stream`: ``async with router.achat_stream(...) as s``."""
        kw = locals()
        ctx = self._chat_ctx(True, kw, unknown, "achat_stream")
        return AsyncChatStream(self._pipe, ctx)

    # ------------------------------------------------------------------ other operations

    def _embed_ctx(self, model: Any, input: Any, dimensions: Any, input_type: Any,
                   extra: dict[str, Any]) -> CallContext:
        req = embed_request(model, input, dimensions, input_type, extra)
        return self._pipe.begin("embed", req.model, req, **common(extra, req.user))

    def embed(self, model: str, input: str | list[str], *, dimensions: int | None = None,
              input_type: str | None = None, **kw: Any) -> EmbeddingResponse:
        """Embed one text or a list of texts; one vector per input, in order."""
        check_extra("embed", kw)
        return self._pipe.run(self._embed_ctx(model, input, dimensions, input_type, kw), "embed")  # type: ignore[no-any-return]

    async def aembed(self, model: str, input: str | list[str], *, dimensions: int | None = None,
                     input_type: str | None = None, **kw: Any) -> EmbeddingResponse:
        check_extra("aembed", kw)
        return await self._pipe.arun(self._embed_ctx(model, input, dimensions, input_type, kw),  # type: ignore[no-any-return]
                                "embed")

    def _image_ctx(self, model: Any, prompt: Any, size: Any, n: Any, quality: Any,
                   extra: dict[str, Any]) -> CallContext:
        req = image_request(model, prompt, size, n, quality, extra)
        return self._pipe.begin("generate_image", req.model, req, **common(extra, req.user))

    def generate_image(self, model: str, prompt: str, *, size: str | None = None, n: int = 1,
                       quality: str | None = None, **kw: Any) -> ImageResponse:
        """Generate ``n`` images from a prompt."""
        check_extra("generate_image", kw)
        ctx = self._image_ctx(model, prompt, size, n, quality, kw)
        return self._pipe.run(ctx, "generate_image")  # type: ignore[no-any-return]

    async def agenerate_image(self, model: str, prompt: str, *, size: str | None = None,
                              n: int = 1, quality: str | None = None,
                              **kw: Any) -> ImageResponse:
        check_extra("agenerate_image", kw)
        return await self._pipe.arun(self._image_ctx(model, prompt, size, n, quality, kw),  # type: ignore[no-any-return]
                                "generate_image")

    def _transcribe_ctx(self, model: Any, file: Any, language: Any, prompt: Any,
                        extra: dict[str, Any]) -> CallContext:
        req = transcription_request(model, file, language, prompt, extra)
        return self._pipe.begin("transcribe", req.model, req, **common(extra, None))

    def transcribe(self, model: str, file: Any, *, language: str | None = None,
                   prompt: str | None = None, **kw: Any) -> Transcription:
        """Transcribe audio given as a path, bytes or a binary file object."""
        check_extra("transcribe", kw)
        return self._pipe.run(self._transcribe_ctx(model, file, language, prompt, kw), "transcribe")  # type: ignore[no-any-return]

    async def atranscribe(self, model: str, file: Any, *, language: str | None = None,
                          prompt: str | None = None, **kw: Any) -> Transcription:
        check_extra("atranscribe", kw)
        return await self._pipe.arun(self._transcribe_ctx(model, file, language, prompt, kw),  # type: ignore[no-any-return]
                                "transcribe")

    def _speech_ctx(self, model: Any, input: Any, voice: Any, format: Any, speed: Any,
                    extra: dict[str, Any]) -> CallContext:
        req = speech_request(model, input, voice, format, speed, extra)
        return self._pipe.begin("speech", req.model, req, **common(extra, None))

    def speech(self, model: str, input: str, *, voice: str, format: str = "mp3",
               speed: float | None = None, **kw: Any) -> Speech:
        """Text to speech; ``Speech.audio`` holds the bytes."""
        check_extra("speech", kw)
        return self._pipe.run(self._speech_ctx(model, input, voice, format, speed, kw), "speech")  # type: ignore[no-any-return]

    async def aspeech(self, model: str, input: str, *, voice: str, format: str = "mp3",
                      speed: float | None = None, **kw: Any) -> Speech:
        check_extra("aspeech", kw)
        return await self._pipe.arun(self._speech_ctx(model, input, voice, format, speed, kw),  # type: ignore[no-any-return]
                                "speech")

    def _moderate_ctx(self, model: Any, input: Any, extra: dict[str, Any]) -> CallContext:
        req = moderation_request(model, input, extra)
        return self._pipe.begin("moderate", req.model, req, **common(extra, None))

    def moderate(self, model: str, input: str | list[str], **kw: Any) -> ModerationResponse:
        """Classify text with the provider's moderation model (its own category names)."""
        check_extra("moderate", kw)
        return self._pipe.run(self._moderate_ctx(model, input, kw), "moderate")  # type: ignore[no-any-return]

    async def amoderate(self, model: str, input: str | list[str],
                        **kw: Any) -> ModerationResponse:
        check_extra("amoderate", kw)
        return await self._pipe.arun(self._moderate_ctx(model, input, kw), "moderate")  # type: ignore[no-any-return]

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
