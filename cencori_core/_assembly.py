"""Router assembly: the keywords of ``Router(...)`` to the parts the router holds.

::

    plugins (built-in echo, entry points, objects, policies, callbacks) ─▶ plugin manager
    providers, deployments, environment ─▶ Registry (catalog, provider instances)
    prices, ledger, redis, budgets, rate limits ─▶ Accounting (projects, usage, limiter, sink)
    cache ─▶ ResponseCache        everything ─▶ Pipeline ─▶ ChatCalls

Runs once per router; the order matters where a part needs another (telemetry reads the
registry's configurations, the limiter the registry's price providers, the deployment state
moves to Redis when the accounting store is Redis, the ledger sink is the last plugin).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import _logging
from . import _validate as v
from ._callbacks import callback_plugins
from ._chatcall import ChatCalls
from ._hooks import Hooks
from ._pipeline import Pipeline
from ._registry import Registry
from .cache import coerce_cache
from .config import check_context_fallbacks, check_fallbacks
from .errors import ConfigurationError
from .hookspecs import hookimpl
from .plugins import (
    allow_list,
    collect_providers,
    discover,
    make_plugin_manager,
    register_plugin,
    split_plugins,
)
from .resilience import Balancer, Cooldown, MemoryDeploymentState, RetryPolicy
from .telemetry import make_telemetry

if TYPE_CHECKING:
    from .router import Router

__all__ = ["assemble"]


class _Builtin:
    """The providers that ship inside cencori-core: ``echo``."""

    name = "cencori-builtin"

    @hookimpl
    def cencori_register_providers(self, register: Callable[..., None]) -> None:
        from ._echo import ECHO_MODELS, make_echo

        register("echo", make_echo, models=ECHO_MODELS, requires_key=False)


def assemble(router: Router, kw: dict[str, Any]) -> None:
    """Build every part of ``router`` from its constructor's keywords (``kw``: its locals)."""
    timeout = kw["timeout"]
    router.timeout = v.timeout(timeout) if timeout is not None else None
    router.retry = RetryPolicy.coerce(kw["retry"]) or RetryPolicy()
    retry_per_model = {k: RetryPolicy.coerce(p) for k, p in
                       (kw["retry_per_model"] or {}).items()}
    router._fallbacks = check_fallbacks(kw["fallbacks"])
    router._context_window_fallbacks = check_context_fallbacks(kw["context_window_fallbacks"])

    # --- plugins: names allow-list entry points, objects are added to the discovered ones
    router._pm = pm = make_plugin_manager()
    register_plugin(pm, _Builtin(), _Builtin.name)
    names, objects = split_plugins(kw["plugins"])
    allowed = allow_list(names)
    router.loaded_plugins = []
    if kw["load_entrypoints"]:
        router.loaded_plugins = discover(pm, allowed)
    for obj in objects:
        router.loaded_plugins.append(register_plugin(pm, obj))
    router.policies = list(kw["policies"] or [])
    # pluggy calls the last registered first: register in reverse so list order holds.
    for pol in reversed(router.policies):
        register_plugin(pm, pol, getattr(pol, "name", None) or type(pol).__name__)
    # --- observability: callbacks as hooks, spans/metrics (telemetry.py), logging
    for cb in callback_plugins(kw["on_success"], kw["on_error"]):
        register_plugin(pm, cb)
    telemetry = make_telemetry(
        kw["telemetry"], capture_content=kw["telemetry_capture_content"],
        tracer_provider=kw["tracer_provider"], meter_provider=kw["meter_provider"])
    _logging.configure_from_env()

    # --- providers, deployments and the catalog (_registry.py)
    providers, deployments = kw["providers"], kw["deployments"]
    router._registry = reg = Registry(collect_providers(pm), router.timeout)
    router.catalog = reg.catalog
    for what, table in (("providers", providers), ("deployments", deployments)):
        if table is not None and not isinstance(table, Mapping):
            raise ConfigurationError(f"{what} must map names to tables/dicts, e.g. "
                                     f"{what}={{'openai': {{...}}}}, not "
                                     f"{type(table).__name__}")
    for name, value in (providers or {}).items():
        reg.add_provider_config(name, value)
    reg.env_configs()
    if telemetry is not None:
        telemetry.config = reg.config
    router._balancer = balancer = Balancer(kw["routing_strategy"],
                                           Cooldown.coerce(kw["cooldown"]), MemoryDeploymentState())
    for group, deps in (deployments or {}).items():
        reg.add_deployments(group, deps)

    from .accounting.pricing import Pricing

    pricing = Pricing(kw["prices"])
    # --- accounting (cencori_core/accounting): see accounting/service.py
    from .accounting.service import Accounting

    redis_url = kw["redis_url"]
    router._accounting = acct = Accounting(
        pricing, ledger_path=kw["ledger_path"], ledger_url=kw["ledger_url"], redis_url=redis_url,
        budgets=kw["budgets"], rate_limits=kw["rate_limits"],
        budget_fail_mode=kw["budget_fail_mode"], rate_limit_fail_mode=kw["rate_limit_fail_mode"],
        rate_limit_wait=kw["rate_limit_wait"])
    router._limiter = acct.limiter
    router._limiter.price_provider = reg.price_provider
    router._limiter.model_info = router.catalog.info
    if getattr(acct.store, "name", None) == "redis":
        # several worker processes agree on cooldowns through the same Redis
        from .stores.redis import RedisDeploymentState

        balancer.state = RedisDeploymentState(acct.store)
    register_plugin(pm, acct.sink, acct.sink.name)
    router._hooks = Hooks(pm)
    # --- response cache: in memory, or in Redis (a cache url, else redis_url)
    router.cache = cache = coerce_cache(kw["cache"])
    if cache is not None:
        cache.bind(redis_url, acct.store)
    router._pipe = Pipeline(
        hooks=router._hooks, registry=reg, balancer=balancer,
        fallbacks=router._fallbacks, context_window_fallbacks=router._context_window_fallbacks,
        telemetry=telemetry, accounting=acct, pricing=pricing,
        retry=router.retry, retry_per_model=retry_per_model, cache=cache)
    router._chats = ChatCalls(router._pipe, cache)
    _logging.watch(router)  # the log filter masks this router's keys
