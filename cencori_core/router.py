"""The Router: the façade every call goes through (construction, resolution, the operations).

::

    call ─▶ validate ─▶ resolve ─▶ pre-request policies ─▶ short circuit ─▶ limits/budget reserve
         ─▶ attempt loop (retry · fallback) ─▶ provider plugin ─▶ official SDK
         ─▶ normalize ─▶ post-request policies ─▶ settle usage & cost ─▶ record ─▶ result

Each public operation spells out its keywords and hands them on: ``_requests.py`` builds the
validated request, ``_pipeline.py`` runs the call (``_flow.py``: the attempt flow, written once,
with a sync and an async driver), ``_chatcall.py`` holds chat's context and output retries,
``_streams.py`` the streams, and ``_assembly.py`` builds a router's parts from its keywords.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Never

import pluggy

from . import _operations as ops
from . import _validate as v
from ._assembly import assemble
from ._chatcall import ChatCalls
from ._hooks import Hooks
from ._pipeline import Pipeline
from ._registry import Registry
from ._requests import (
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
from .cache import ResponseCache, call_option
from .catalog import Catalog
from .config import check_keys, load_toml, toml_errors
from .context import CallContext
from .plugins import collect_providers, register_plugin
from .provider import Provider
from .resilience import Balancer, Cooldown, RetryPolicy
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

# The class annotations' types are imported at run time (typing.get_type_hints(Router) works),
# but for the accounting ones (60 ms, imported when the first router is built) and openai.
if TYPE_CHECKING:
    import openai

    from .accounting.pricing import Pricing
    from .accounting.projects import Projects
    from .accounting.service import UsageView

__all__ = ["Router", "CallContext", "ChatStream", "AsyncChatStream"]


Messages = Sequence[Message | Mapping[str, Any]]
"""Chat messages: our :class:`Message` objects or OpenAI-style dicts, mixed freely."""

Cache = bool | str | dict[str, Any] | None
"""A call's ``cache=``: False bypasses, True forces, ``"refresh"`` overwrites, a dict sets ttl."""


class Router:
    """Routes calls to providers through policies, retries, fallbacks and accounting.

    Credentials come from the arguments, the TOML file (``Router.from_config``) or the
    environment (``OPENAI_API_KEY``, ...). A missing key is reported when that provider is first
    used, not when the router is built.
    """

    timeout: float | None
    """Default seconds per provider call (None: the SDKs' own)."""
    retry: RetryPolicy
    """The retry policy of calls that name none."""
    loaded_plugins: list[str]
    """The names of the plugins registered at construction (entry points, then objects)."""
    policies: list[Any]
    """The policy objects, in the order they run."""
    catalog: Catalog
    """Every model name this router knows, with its provider and capabilities."""
    cache: ResponseCache | None
    """The response cache (``stats()``, ``clear()``), or None without one."""
    # the parts (_assembly.py builds them)
    _pm: pluggy.PluginManager
    _hooks: Hooks
    _registry: Registry
    _balancer: Balancer
    _fallbacks: dict[str, list[str]]
    _context_window_fallbacks: dict[str, str]
    # typed Any, not Accounting/Limiter: those modules are imported when the first router is
    # built (60 ms), and typing.get_type_hints(Router) must resolve every class annotation
    _accounting: Any
    _limiter: Any
    _pipe: Pipeline
    _chats: ChatCalls

    def __init__(
        self, *, providers: Mapping[str, Any] | None = None,
        fallbacks: Mapping[str, Iterable[str]] | None = None,
        policies: Iterable[Any] | None = None,
        retry: RetryPolicy | Mapping[str, Any] | int | None = None,
        timeout: float | None = 60.0, plugins: Iterable[Any] | None = None,
        load_entrypoints: bool = True,
        context_window_fallbacks: Mapping[str, str] | None = None,
        retry_per_model: Mapping[str, RetryPolicy | Mapping[str, Any] | int] | None = None,
        deployments: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
        routing_strategy: str = "weighted", cooldown: Mapping[str, Any] | Cooldown | None = None,
        prices: Mapping[str, Any] | None = None, telemetry: bool | None = None,
        telemetry_capture_content: bool | None = None, tracer_provider: Any = None,
        meter_provider: Any = None,
        on_success: Callable[..., Any] | Iterable[Callable[..., Any]] | None = None,
        on_error: Callable[..., Any] | Iterable[Callable[..., Any]] | None = None,
        # --- accounting: where usage, projects and shared counters live; budgets and limits
        ledger_path: str | os.PathLike[str] | None = None, ledger_url: str | None = None,
        redis_url: str | None = None, budgets: Any = None, rate_limits: Any = None,
        budget_fail_mode: str = "closed", rate_limit_fail_mode: str = "open",
        rate_limit_wait: float = 0.0,
        # --- response cache (cencori_core/cache, docs/cache.md)
        cache: bool | Mapping[str, Any] | ResponseCache | None = None,
    ) -> None:
        """Build a router. Every keyword is optional; ``Router()`` reaches every installed
        provider with keys from the environment. Mistakes are a :class:`ConfigurationError`
        here, before anything is sent; a missing key only when that provider is first used.

        Providers and plugins:

        - ``providers``: provider name → its settings (a dict / TOML table), or a
          :class:`Provider` object. Keys: ``api_key``, ``api_key_env``, ``base_url``,
          ``timeout``, ``type`` (the implementation, e.g. ``"openai_compatible"`` for a local
          server), ``models``, ``headers``, ``http_client``, ``async_http_client``,
          ``options`` (keyword arguments for the SDK client's constructor), plus the keys the
          provider declares (``organization``/``project`` for OpenAI, ``api_version`` for
          Anthropic, ``vertexai``/``project``/``location``/``api_version`` for Google,
          ``server`` for Mistral). Any other key is an error naming the closest.
        - ``plugins``: entry-point plugin *names* are an allow-list (``["openai"]`` loads only
          that one; default: every installed plugin, or ``CENCORI_PLUGINS``); plugin *objects*
          (hook implementations) are added to the discovered ones and never switch them off.
        - ``load_entrypoints``: False loads no installed plugin (tests; only ``echo``, the
          ``providers`` objects and the plugin objects given).
        - ``timeout``: default seconds per provider call (60; None for the SDKs' own).

        Reliability:

        - ``retry``: a :class:`RetryPolicy`, its fields as a dict, or a number of attempts.
        - ``retry_per_model``: model name → its own retry policy.
        - ``fallbacks``: model name (or ``"*"``) → a *list* of model names tried in order when
          it fails with a retryable error: ``{"gpt-4o": ["claude-sonnet-4"]}``.
        - ``context_window_fallbacks``: model name → *one* model with a larger context window,
          tried when the prompt does not fit: ``{"gpt-4o": "gpt-4.1"}``.
        - ``deployments``: public model name → a list of deployments, each a provider table
          plus ``provider``, ``name``, ``model``, ``weight``, ``rpm``, ``tpm``.
        - ``routing_strategy``: how a deployment is chosen: ``"weighted"`` (default),
          ``"least_busy"``, ``"lowest_latency"`` or ``"usage_based"`` (the lowest tokens this
          minute under each deployment's ``rpm``/``tpm``); shared through Redis when
          ``redis_url`` is set.
        - ``cooldown``: when a failing deployment rests: ``{"allowed_fails": 3, "window_s": 60,
          "cooldown_s": 30}`` or a :class:`Cooldown`.

        Policies, observability:

        - ``policies``: policy objects (``cencori_core.policies``), run in list order.
        - ``on_success``: callables (one or a list) run as ``f(context, record)`` after each
          call that succeeded, with its :class:`UsageRecord`.
        - ``on_error``: callables run as ``f(context, error)`` after each call that failed.
        - ``telemetry``: True requires OpenTelemetry, False switches it off; None (default)
          uses it when installed and the application configured a provider.
        - ``telemetry_capture_content``: record prompt and response text on spans (default
          ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``).
        - ``tracer_provider`` / ``meter_provider``: OpenTelemetry providers to use instead of
          the global ones.

        Usage, cost, budgets:

        - ``prices``: model name (or ``provider/model``) → USD prices overriding the price
          data, per million tokens: ``{"my-model": {"input": 0.5, "output": 1.5}}``
          (also ``cache_read``, ``cache_write``, ``per_image``, ``per_million_characters``).
        - ``ledger_path``: the SQLite file usage records are written to (default: in memory).
        - ``ledger_url``: a ``postgresql://`` URL: one ledger shared by a fleet of processes
          (``pip install "cencori-core[postgres]"``; docs/ledger-postgres.md).
        - ``redis_url``: a Redis server shared by several processes (budgets, rate limits,
          project keys, cooldowns).
        - ``budgets``: spending limits, e.g. ``[{"project": "acme", "limit": "25",
          "window": "day"}]``.
        - ``rate_limits``: request and token limits, e.g. ``[{"user": "*", "rpm": 10}]``.
        - ``budget_fail_mode``: when Redis cannot be reached, ``"closed"`` (default) refuses
          calls with a budget, ``"open"`` lets them through.
        - ``rate_limit_fail_mode``: the same for rate limits (default ``"open"``).
        - ``rate_limit_wait``: seconds a call may wait for a rate-limit window instead of
          failing at once (default 0).

        Response cache:

        - ``cache``: True (an in-memory LRU; Redis when ``redis_url`` is set), a dict
          (``ttl``, ``max_entries``, ``max_bytes``, ``max_entry_bytes``, ``temperature``,
          ``url``, ...) or a :class:`ResponseCache`; per call ``cache=False`` bypasses it and
          ``cache="refresh"`` overwrites (docs/cache.md).

        A misspelled keyword is a ``TypeError``; ``Router.from_config(path)`` reads the same
        settings from a TOML file.
        """
        assemble(self, locals())

    # ------------------------------------------------------------------ construction helpers

    @property
    def pricing(self) -> Pricing:
        """Prices per model (the price data, overridden by ``prices=``)."""
        return self._accounting.pricing  # type: ignore[no-any-return]

    @property
    def projects(self) -> Projects:
        """Projects and their keys: ``create``, ``update``, ``add_key``, ``revoke``, ``list``."""
        return self._accounting.projects  # type: ignore[no-any-return]

    @property
    def usage(self) -> UsageView:
        """Usage totals (``summary(by=...)``) and budget states."""
        return self._accounting.usage  # type: ignore[no-any-return]

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], **overrides: Any) -> Router:
        """Build a router from a TOML file; keyword arguments override the file."""
        kwargs = load_toml(path)
        with toml_errors(path):
            allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
            check_keys("[router]", (k for k in kwargs if k not in overrides), allowed)
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

    def chat(
        self, *, model: str, messages: Messages, temperature: float | None = None,
        max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | type[Any] | None = None,
        stop: str | list[str] | None = None, top_p: float | None = None,
        seed: int | None = None, user: str | None = None, metadata: dict[str, Any] | None = None,
        timeout: float | None = None, retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, cache: Cache = None,
        reasoning_effort: str | None = None, max_completion_tokens: int | None = None,
        n: int | None = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        parallel_tool_calls: bool | None = None, presence_penalty: float | None = None,
        frequency_penalty: float | None = None, stream_options: dict[str, Any] | None = None,
        output_retries: int | None = None, **unknown: Never,
    ) -> ChatResponse:
        """Send a chat completion and return the normalized :class:`ChatResponse`.

        ``response_format`` may be a type (a pydantic model, a dataclass, ``list[X]``, ...):
        ``response.parsed`` is then the validated object, ``output_retries`` re-asks that many
        times when it does not validate (docs/structured-output.md). The common parameters
        (``reasoning_effort``, ``n``, ``logprobs``, ...) are mapped per provider or refused
        before sending (docs/parameters.md)."""
        kw = locals()
        ctx = self._chats.context(False, kw, unknown, "chat")
        if output_retries is None:
            return self._pipe.run(ctx, ops.CHAT)
        return self._chats.retry(kw, ctx)

    async def achat(
        self, *, model: str, messages: Messages, temperature: float | None = None,
        max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | type[Any] | None = None,
        stop: str | list[str] | None = None, top_p: float | None = None,
        seed: int | None = None, user: str | None = None, metadata: dict[str, Any] | None = None,
        timeout: float | None = None, retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, cache: Cache = None,
        reasoning_effort: str | None = None, max_completion_tokens: int | None = None,
        n: int | None = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        parallel_tool_calls: bool | None = None, presence_penalty: float | None = None,
        frequency_penalty: float | None = None, stream_options: dict[str, Any] | None = None,
        output_retries: int | None = None, **unknown: Never,
    ) -> ChatResponse:
        """Async twin of :meth:`chat`."""
        kw = locals()
        ctx = self._chats.context(False, kw, unknown, "achat")
        if output_retries is None:
            return await self._pipe.arun(ctx, ops.CHAT)
        return await self._chats.aretry(kw, ctx)

    def chat_stream(
        self, *, model: str, messages: Messages, temperature: float | None = None,
        max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | type[Any] | None = None,
        stop: str | list[str] | None = None, top_p: float | None = None,
        seed: int | None = None, user: str | None = None, metadata: dict[str, Any] | None = None,
        timeout: float | None = None, retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, cache: Cache = None,
        reasoning_effort: str | None = None, max_completion_tokens: int | None = None,
        n: int | None = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        parallel_tool_calls: bool | None = None, presence_penalty: float | None = None,
        frequency_penalty: float | None = None, stream_options: dict[str, Any] | None = None,
        **unknown: Never,
    ) -> ChatStream:
        """Stream a chat completion: iterate the returned :class:`ChatStream` for chunks;
        ``stream.final_response()`` (or ``stream.response``) is the final
        :class:`ChatResponse` after the last chunk."""
        return ChatStream(self._pipe, self._chats.context(True, locals(), unknown, "chat_stream"))

    def achat_stream(
        self, *, model: str, messages: Messages, temperature: float | None = None,
        max_tokens: int | None = None, tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | type[Any] | None = None,
        stop: str | list[str] | None = None, top_p: float | None = None,
        seed: int | None = None, user: str | None = None, metadata: dict[str, Any] | None = None,
        timeout: float | None = None, retry: RetryPolicy | None = None,
        api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, cache: Cache = None,
        reasoning_effort: str | None = None, max_completion_tokens: int | None = None,
        n: int | None = None, logprobs: bool | None = None, top_logprobs: int | None = None,
        parallel_tool_calls: bool | None = None, presence_penalty: float | None = None,
        frequency_penalty: float | None = None, stream_options: dict[str, Any] | None = None,
        **unknown: Never,
    ) -> AsyncChatStream:
        """Async twin of :meth:`chat_stream`: ``async with router.achat_stream(...) as s``."""
        return AsyncChatStream(self._pipe,
                               self._chats.context(True, locals(), unknown, "achat_stream"))

    # ------------------------------------------------------------------ other operations
    # Each gathers the keywords every operation shares (_shared) for its request builder and
    # _ctx, then runs the call.

    def _ctx(self, op: str, req: Any, kw: dict[str, Any], unknown: dict[str, Any],
             user: str | None = None, cache: Any = None) -> CallContext:
        check_extra(op, unknown)
        option = call_option(cache, self.cache)
        return self._pipe.begin(op.removeprefix("a"), req.model, req, **common(kw, user),
                                cache=option)

    def embed(
        self, model: str, input: str | list[str], *, dimensions: int | None = None,
        input_type: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, cache: Cache = None, **unknown: Never,
    ) -> EmbeddingResponse:
        """Embed one text or a list of texts; one vector per input, in order."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = embed_request(model, input, dimensions, input_type, kw)
        return self._pipe.run(self._ctx("embed", req, kw, unknown, req.user, cache), ops.EMBED)

    async def aembed(
        self, model: str, input: str | list[str], *, dimensions: int | None = None,
        input_type: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, cache: Cache = None, **unknown: Never,
    ) -> EmbeddingResponse:
        """Async twin of :meth:`embed`."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = embed_request(model, input, dimensions, input_type, kw)
        ctx = self._ctx("aembed", req, kw, unknown, req.user, cache)
        return await self._pipe.arun(ctx, ops.EMBED)

    def generate_image(
        self, model: str, prompt: str, *, size: str | None = None, n: int = 1,
        quality: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ImageResponse:
        """Generate ``n`` images from a prompt."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = image_request(model, prompt, size, n, quality, kw)
        ctx = self._ctx("generate_image", req, kw, unknown, req.user)
        return self._pipe.run(ctx, ops.GENERATE_IMAGE)

    async def agenerate_image(
        self, model: str, prompt: str, *, size: str | None = None, n: int = 1,
        quality: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> ImageResponse:
        """Async twin of :meth:`generate_image`."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = image_request(model, prompt, size, n, quality, kw)
        ctx = self._ctx("agenerate_image", req, kw, unknown, req.user)
        return await self._pipe.arun(ctx, ops.GENERATE_IMAGE)

    def transcribe(
        self, model: str, file: Any, *, language: str | None = None,
        prompt: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> Transcription:
        """Transcribe audio given as a path, bytes or a binary file object."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = transcription_request(model, file, language, prompt, kw)
        return self._pipe.run(self._ctx("transcribe", req, kw, unknown), ops.TRANSCRIBE)

    async def atranscribe(
        self, model: str, file: Any, *, language: str | None = None,
        prompt: str | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> Transcription:
        """Async twin of :meth:`transcribe`."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = transcription_request(model, file, language, prompt, kw)
        return await self._pipe.arun(self._ctx("atranscribe", req, kw, unknown), ops.TRANSCRIBE)

    def speech(
        self, model: str, input: str, *, voice: str, format: str = "mp3",
        speed: float | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> Speech:
        """Text to speech; ``Speech.audio`` holds the bytes."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = speech_request(model, input, voice, format, speed, kw)
        return self._pipe.run(self._ctx("speech", req, kw, unknown), ops.SPEECH)

    async def aspeech(
        self, model: str, input: str, *, voice: str, format: str = "mp3",
        speed: float | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> Speech:
        """Async twin of :meth:`speech`."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = speech_request(model, input, voice, format, speed, kw)
        return await self._pipe.arun(self._ctx("aspeech", req, kw, unknown), ops.SPEECH)

    def moderate(
        self, model: str, input: str | list[str], *, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, cache: Cache = None, **unknown: Never,
    ) -> ModerationResponse:
        """Classify text with the provider's moderation model (its own category names)."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = moderation_request(model, input, kw)
        return self._pipe.run(self._ctx("moderate", req, kw, unknown, cache=cache), ops.MODERATE)

    async def amoderate(
        self, model: str, input: str | list[str], *, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, cache: Cache = None, **unknown: Never,
    ) -> ModerationResponse:
        """Async twin of :meth:`moderate`."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = moderation_request(model, input, kw)
        ctx = self._ctx("amoderate", req, kw, unknown, cache=cache)
        return await self._pipe.arun(ctx, ops.MODERATE)

    def rerank(
        self, model: str, query: str, documents: Sequence[str | Mapping[str, Any]], *,
        top_n: int | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> RerankResponse:
        """Order ``documents`` (strings, or dicts with a ``"text"``) by relevance to ``query``;
        ``results`` best first, each with the document's ``index`` in ``documents``."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = rerank_request(model, query, documents, top_n, kw)
        ctx = self._ctx("rerank", req, kw, unknown, v.optional_str(user, "user"))
        return self._pipe.run(ctx, ops.RERANK)

    async def arerank(
        self, model: str, query: str, documents: Sequence[str | Mapping[str, Any]], *,
        top_n: int | None = None, user: str | None = None,
        metadata: dict[str, Any] | None = None, timeout: float | None = None,
        retry: RetryPolicy | None = None, api_key: str | None = None, project: str | None = None,
        provider_options: dict[str, Any] | None = None, **unknown: Never,
    ) -> RerankResponse:
        """Async twin of :meth:`rerank`."""
        kw = _shared(user, metadata, timeout, retry, api_key, project, provider_options)
        req = rerank_request(model, query, documents, top_n, kw)
        ctx = self._ctx("arerank", req, kw, unknown, v.optional_str(user, "user"))
        return await self._pipe.arun(ctx, ops.RERANK)

    # ------------------------------------------------------------------ the OpenAI drop-in

    def openai_client(self, **kw: Any) -> openai.OpenAI:
        """A real ``openai.OpenAI`` whose every call goes through this router (any model of any
        provider, the whole pipeline); ``kw`` are ``openai.OpenAI`` options (``api_key="csk_..."``
        or ``project=`` pick a project). See docs/openai-dropin.md."""
        from .dropin import openai_client

        return openai_client(self, **kw)

    def async_openai_client(self, **kw: Any) -> openai.AsyncOpenAI:
        """The async twin of :meth:`openai_client`: a real ``openai.AsyncOpenAI``."""
        from .dropin import async_openai_client

        return async_openai_client(self, **kw)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close every provider client this router created; write the ledger's queued
        records and close its stores."""
        self._pipe.close()
        self._registry.close()
        if self.cache is not None:
            self.cache.close()
        self._accounting.close()

    async def aclose(self) -> None:
        """Close every provider client (async and sync) this router created, and the
        accounting stores."""
        self._pipe.close()
        await self._registry.aclose()
        if self.cache is not None:
            await self.cache.aclose()
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


def _shared(user: str | None, metadata: dict[str, Any] | None, timeout: float | None,
            retry: RetryPolicy | None, api_key: str | None, project: str | None,
            provider_options: dict[str, Any] | None) -> dict[str, Any]:
    """The keywords every operation shares, as the request builders and ``_ctx`` read them."""
    return {"user": user, "metadata": metadata, "timeout": timeout, "retry": retry,
            "api_key": api_key, "project": project, "provider_options": provider_options}
