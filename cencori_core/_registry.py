"""The provider registry: provider configurations, deployments and the environment, and the
provider instances built from them.

Provider configurations (``configs``: what ``configured_providers()`` lists) and deployments
(``deployments`` by public model name, each with its own configuration in ``dep_configs``) are kept
apart, so a deployment's internal key (``group::name``) is never taken for a provider. Credentials
come from the arguments, the TOML file or the environment; a missing key is reported when the
provider is first used.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ._network import NO_NETWORK
from .catalog import CAPABILITIES, KNOWN_EXTRAS, Catalog, ModelInfo
from .config import DEPLOYMENT_KEYS, ProviderConfig, Secret, closest
from .errors import (
    CencoriError,
    ConfigurationError,
    MissingDependencyError,
    PluginError,
    ProviderConnectionError,
    ProviderNotConfiguredError,
)
from .provider import Provider, ProviderSpec
from .resilience import Deployment
from .types import Route

__all__ = ["Registry"]

_log = logging.getLogger("cencori_core")

# Declared configuration keys that authenticate without an API key: Google credentials (and
# Vertex AI mode, whose default is Application Default Credentials), a Microsoft Entra ID token
# provider. The plugin checks them when it builds the provider.
_KEYLESS_KEYS = ("credentials", "vertexai", "azure_ad_token_provider")


def _authenticated(spec: ProviderSpec, cfg: ProviderConfig) -> bool:
    """Whether ``cfg`` has what ``spec`` needs to authenticate: a key, or a keyless credential
    among the keys the plugin declared."""
    if not spec.requires_key or cfg.api_key:
        return True
    return any(cfg.options.get(k) for k in _KEYLESS_KEYS if k in spec.config_keys)


class Registry:
    """Every provider one router knows: specs from the plugins, configurations, deployments,
    the catalog of model names, and the provider instances (built on first use)."""

    def __init__(self, specs: dict[str, ProviderSpec], timeout: float | None) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self.specs = specs
        self.catalog = Catalog()
        for spec in specs.values():
            if not spec.type_only:
                self.catalog.add_provider(spec.name, prefixes=spec.prefixes,
                                          models=spec.models, aliases=spec.aliases,
                                          source=spec.plugin)
        self.configs: dict[str, ProviderConfig] = {}
        """Provider name → its configuration (what ``configured_providers`` lists)."""
        self.dep_configs: dict[str, ProviderConfig] = {}
        """Deployment key (``group::name``) → that deployment's own configuration."""
        self.instances: dict[str, Provider] = {}
        self.deployments: dict[str, list[Deployment]] = {}
        """Public model name → its deployments."""

    def add_specs(self, specs: Mapping[str, ProviderSpec]) -> None:
        """Providers registered after the router was built (``Router.register``)."""
        for name, spec in specs.items():
            if name in self.specs or spec.type_only:
                continue
            self.specs[name] = spec
            self.catalog.add_provider(name, prefixes=spec.prefixes, models=spec.models,
                                      aliases=spec.aliases, source=spec.plugin)
            cfg = ProviderConfig(name=name, timeout=self.timeout)
            self.fill_from_env(cfg, spec)
            self.configs.setdefault(name, cfg)

    def add_provider_config(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ConfigurationError(f"provider name {name!r} must be a non-empty string "
                                     "without '/'")
        if isinstance(value, Provider):
            value.name = name
            self.instances[name] = value
            self.configs[name] = getattr(value, "config", None) or ProviderConfig(name=name)
            models = getattr(value, "models", ()) or ()
            prefixes = getattr(value, "prefixes", ()) or ()
            self.catalog.add_provider(name, prefixes=prefixes, models=models,
                                      source=f"providers[{name!r}]", override=True)
            return
        if isinstance(value, ProviderConfig):
            cfg, ptype = value, value.type
        elif isinstance(value, Mapping):
            ptype = str(value.get("type") or name)
        else:
            raise ConfigurationError(f"providers[{name!r}] must be a table/dict of settings, "
                                     f"not {type(value).__name__}")
        spec = self.specs.get(ptype)
        if spec is None:
            raise self.not_installed(f"providers[{name!r}]", ptype)
        if not isinstance(value, ProviderConfig):
            cfg = ProviderConfig.from_mapping(name, value, config_keys=spec.config_keys)
        cfg.name = name
        self.fill_from_env(cfg, spec)
        if cfg.timeout is None:
            cfg.timeout = self.timeout
        self.configs[name] = cfg
        if name not in self.catalog.providers:
            self.catalog.providers.add(name)
        for m in cfg.models:
            # models listed for a configured endpoint are the user's word: no capability limits
            spec_info = next((i for i in spec.models if not isinstance(i, str) and i.name == m),
                             None)
            self.catalog.add_model(ModelInfo(name=m, provider=name,
                                             capabilities=spec_info.capabilities
                                             if spec_info is not None else CAPABILITIES))
        if "deployments" in spec.config_keys and cfg.options.get("deployments") is not None:
            self.add_base_models(name, cfg.options["deployments"])

    def add_base_models(self, name: str, deployments: Any) -> None:
        """A cloud provider's deployments, each named with its base model (Azure OpenAI's
        ``{"deployments": {"my-gpt-4o": "gpt-4o"}}``): ``name/my-gpt-4o`` takes the base model's
        capabilities, context window and prices. An unknown base model gives a deployment with
        no capability limits, priced as the base model's name (unpriced, with the reason, when
        the price data lacks it)."""
        if not isinstance(deployments, Mapping) or not all(
                isinstance(k, str) and k and "/" not in k and isinstance(v, str) and v
                for k, v in deployments.items()):
            raise ConfigurationError(
                f"providers[{name!r}].deployments must be a table of deployment name -> base "
                "model, such as {'my-gpt-4o': 'gpt-4o'}")
        for dep, base in deployments.items():
            try:
                info = self.catalog.info(self.catalog.resolve(base))
            except CencoriError:
                info = None
            self.catalog.add_model(ModelInfo(
                name=dep, provider=name,
                capabilities=info.capabilities if info is not None else CAPABILITIES,
                context_window=info.context_window if info is not None else None,
                max_output_tokens=info.max_output_tokens if info is not None else None,
                price_id=(info.price_id or info.name) if info is not None else base))

    def add_deployments(self, group: str, deps: Iterable[Mapping[str, Any]]) -> None:
        if isinstance(deps, Mapping) or not isinstance(deps, Iterable):
            raise ConfigurationError(f"deployments[{group!r}] must be a list of deployments")
        out = []
        names: set[str] = set()
        for i, raw in enumerate(deps):
            if not isinstance(raw, Mapping) or not raw.get("provider"):
                raise ConfigurationError(f"deployments[{group!r}][{i}] needs 'provider' (and "
                                         "api_key, base_url, model, weight, name as needed)")
            where = f"deployments[{group!r}][{i}]"
            d = dict(raw)
            provider = d.pop("provider")
            name = str(d.pop("name", None) or f"{group}#{i}")
            if name in names:
                raise ConfigurationError(f"deployments[{group!r}]: name {name!r} is used twice")
            names.add(name)
            model = str(d.pop("model", None) or group)
            weight = d.pop("weight", 1)
            # finite: NaN passes "<= 0" and an inf weight makes random.choices raise ValueError
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or \
                    not 0 < weight < float("inf"):
                raise ConfigurationError(f"{where}.weight must be a finite number > 0, got "
                                         f"{weight!r}")
            limits = {k: d.pop(k, None) or 0 for k in ("rpm", "tpm")}  # the deployment's own
            for k, n in limits.items():
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise ConfigurationError(f"{where}.{k} must be a positive integer (per "
                                             f"minute), got {n!r}")
            base = self.configs.get(provider)
            if base is not None and base.type != provider:
                # a configured provider name (e.g. an openai_compatible endpoint)
                merged: dict[str, Any] = {"type": base.type, "base_url": base.base_url,
                                          "timeout": base.timeout, "models": base.models,
                                          **base.options}
                if base.client_options:
                    merged["options"] = dict(base.client_options)
                if base.api_key:
                    merged["api_key"] = base.api_key
                merged.update(d)
                d, ptype = merged, base.type
            else:
                ptype = d.pop("type", None) or provider
            spec = self.specs.get(ptype)
            if spec is None:
                raise self.not_installed(where, str(ptype))
            key = f"{group}::{name}"
            cfg = ProviderConfig.from_mapping(provider, {**d, "type": ptype},
                                              config_keys=spec.config_keys, where=where,
                                              extra_keys=DEPLOYMENT_KEYS)
            if cfg.api_key is None and cfg.api_key_env is None:
                self.fill_from_env(cfg, spec)
            if cfg.timeout is None:
                cfg.timeout = self.timeout
            self.dep_configs[key] = cfg
            out.append(Deployment(key=key, name=name, group=group, provider=provider,
                                  model=model, weight=float(weight), config=cfg,
                                  rpm=limits["rpm"], tpm=limits["tpm"]))
        if not out:
            raise ConfigurationError(f"deployments[{group!r}] is empty")
        self.deployments[group] = out

    def not_installed(self, where: str, ptype: str) -> ConfigurationError:
        """No installed provider ``ptype``: name the installed ones, the closest and the extra."""
        installed = sorted(self.specs)
        guess = closest(ptype, installed)
        mean = f" (did you mean {guess!r}?)" if guess else ""
        extra = KNOWN_EXTRAS.get(ptype, ptype)
        return ConfigurationError(
            f"{where}: no installed provider of type {ptype!r}{mean}; installed: "
            f"{', '.join(installed)}. Install its plugin (pip install \"cencori-core[{extra}]\")"
            " or set 'type' to one of them")

    def fill_from_env(self, cfg: ProviderConfig, spec: ProviderSpec) -> None:
        if cfg.api_key is None and cfg.api_key_env is None and cfg.name == spec.name:
            for var in spec.env_keys:
                val = os.environ.get(var)
                if val:
                    cfg.api_key = Secret(val)
                    cfg.api_key_env = var
                    break
        if cfg.base_url is None and spec.env_base_url and cfg.name == spec.name:
            cfg.base_url = os.environ.get(spec.env_base_url) or None
        if cfg.base_url is None and spec.default_base_url:
            cfg.base_url = spec.default_base_url

    def env_configs(self) -> None:
        for spec in self.specs.values():
            if spec.type_only or spec.name in self.configs:
                continue
            cfg = ProviderConfig(name=spec.name, timeout=self.timeout)
            self.fill_from_env(cfg, spec)
            self.configs[spec.name] = cfg

    def route_for(self, name: str) -> Route:
        deps = self.deployments.get(name) if self.deployments else None
        if deps:
            # The deployment is chosen per attempt (AttemptPlan); each is checked then.
            return Route(alias=None, model=deps[0].model, provider=deps[0].provider,
                         via="deployment", requested=name)
        route = self.catalog.resolve(name)
        if route.provider not in self.configs and route.provider not in self.instances:
            spec = self.specs.get(route.provider)
            if spec is None:
                raise ProviderNotConfiguredError(
                    f"model {name!r} belongs to provider {route.provider!r}, which is not "
                    "configured", provider=route.provider)
        return route

    def provider_type(self, route: Route) -> str:
        """The provider type serving a route (``openai`` for a configured ``azure-east``
        endpoint or a deployment on it)."""
        key = route.provider
        if route.deployment is not None:
            for dep in self.deployments.get(route.requested, ()):
                if dep.name == route.deployment:
                    key = dep.key
        cfg = self.config(key)
        return cfg.type if cfg is not None and cfg.type else route.provider

    def config(self, key: str) -> ProviderConfig | None:
        """The configuration of a provider name or a deployment key."""
        return self.configs.get(key) or self.dep_configs.get(key)

    # ------------------------------------------------------------------ providers

    def provider(self, name: str) -> Provider:
        """The provider instance called ``name`` (built on first use)."""
        inst = self.instances.get(name)
        if inst is not None:
            return inst
        return self._provider_slow(name)

    def attempt_provider(self, name: str) -> Provider:
        """The provider for an attempt; refuses real providers inside ``no_network()``."""
        inst = self.instances.get(name) or self._provider_slow(name)
        if NO_NETWORK.get() and not inst.offline:
            raise ProviderConnectionError(
                f"provider {name!r} would use the network, but no_network() is active",
                provider=name, retryable=False)
        return inst

    def _provider_slow(self, name: str) -> Provider:
        with self._lock:
            inst = self.instances.get(name)
            if inst is None:
                inst = self._build_provider(name)
                self.instances[name] = inst
        return inst

    def _build_provider(self, name: str) -> Provider:
        cfg = self.config(name)
        spec = self.specs.get(cfg.type if cfg else name)
        if spec is None:
            raise ProviderNotConfiguredError(
                f"provider {name!r} is not installed; installed: {', '.join(sorted(self.specs))}",
                provider=name)
        if cfg is None:
            cfg = ProviderConfig(name=name, timeout=self.timeout)
            self.fill_from_env(cfg, spec)
            self.configs[name] = cfg
        if not _authenticated(spec, cfg):
            if cfg.api_key_env:
                where = f"set the environment variable {cfg.api_key_env}"
                env: tuple[str, ...] = (cfg.api_key_env,)
            elif cfg.name == spec.name and spec.env_keys:
                where = "set " + " or ".join(spec.env_keys)
                env = spec.env_keys
            else:
                where = "give it an api_key"
                env = ()
            raise ProviderNotConfiguredError(
                f"provider {name!r} has no API key: {where}, or pass "
                f"Router(providers={{{name!r}: {{'api_key': ...}}}})",
                provider=name, env_vars=env)
        try:
            inst = spec.factory(cfg)
        except ImportError as exc:
            if isinstance(exc, MissingDependencyError):
                raise
            extra = spec.extra or spec.name
            raise MissingDependencyError(
                f"provider {name!r} needs a package that is not installed ({exc.name or exc}): "
                f'pip install "cencori-core[{extra}]"', extra=extra) from None
        if not isinstance(inst, Provider):
            raise PluginError(f"the factory of provider {spec.name!r} (plugin {spec.plugin!r}) "
                              f"returned {type(inst).__name__}, not a Provider")
        inst.name = cfg.name
        return inst

    def close(self) -> None:
        """Close every provider instance built or handed in; one failing does not stop the
        others (it is logged)."""
        for inst in list(self.instances.values()):
            try:
                inst.close()
            except Exception:  # noqa: BLE001
                _log.exception("closing %r failed", inst)

    async def aclose(self) -> None:
        """The async twin of :meth:`close`: each instance's ``aclose`` (async and sync clients)."""
        for inst in list(self.instances.values()):
            try:
                await inst.aclose()
            except Exception:  # noqa: BLE001
                _log.exception("closing %r failed", inst)

    def configured_providers(self) -> dict[str, bool]:
        """Each provider name → whether it can be used now (has a key or needs none)."""
        out = {}
        for name, cfg in self.configs.items():
            spec = self.specs.get(cfg.type)
            out[name] = name in self.instances or bool(
                spec and _authenticated(spec, cfg))
        return out

    def known_secrets(self) -> list[str]:
        """Every provider key visible to this router (arguments, config and environment)."""
        # api keys, credential headers and options, passwords in URLs (ProviderConfig.secrets)
        keys = {s for cfg in (*self.configs.values(), *self.dep_configs.values())
                for s in cfg.secrets()}
        for spec in self.specs.values():
            for var in spec.env_keys:
                val = os.environ.get(var)
                if val:
                    keys.add(val)
        return sorted(k for k in keys if len(k) >= 8)

    def price_provider(self, name: str) -> str:
        """Whose prices apply to the provider called ``name``: its type when it was configured
        under that name (``{"azure-east": {"type": "openai"}}`` has openai's prices), else the
        name (a Provider object handed in as ``providers={"openai": obj}``)."""
        cfg = self.configs.get(name)
        return cfg.type if cfg is not None and cfg.name == name else name

