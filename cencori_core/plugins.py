"""The plugin manager: one per router, entry-point discovery, allow-list, provider registry."""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pluggy

from . import hookspecs
from .catalog import ModelInfo
from .errors import ConfigurationError, PluginError
from .provider import ProviderSpec

__all__ = ["ENTRY_POINT_GROUP", "make_plugin_manager", "discover", "collect_providers",
           "split_plugins"]

log = logging.getLogger("cencori_core")

ENTRY_POINT_GROUP = "cencori"
ALLOW_ENV = "CENCORI_PLUGINS"

_ep_cache: list[Any] | None = None


def _entry_points() -> list[Any]:
    """Entry points of group ``cencori`` (scanned once per process: the scan is the slow part)."""
    global _ep_cache
    if _ep_cache is None:
        from importlib.metadata import entry_points

        _ep_cache = list(entry_points(group=ENTRY_POINT_GROUP))
    return _ep_cache


def split_plugins(plugins: Iterable[Any] | None) -> tuple[list[str] | None, list[Any]]:
    """``Router(plugins=[...])`` → (the entry-point names to allow, the hook objects to add).

    Names are an allow-list of entry-point plugins (``["openai", "anthropic"]`` loads those
    two); objects are hook plugins registered beside the discovered ones, so handing in an
    object never switches an installed provider off. With no names the allow-list is
    ``CENCORI_PLUGINS`` or, without it, every installed plugin."""
    if plugins is None:
        return None, []
    if isinstance(plugins, (str, bytes)) or not isinstance(plugins, Iterable):
        raise ConfigurationError(
            f"plugins must be a list of plugin names and/or hook objects, e.g. "
            f"plugins=[{plugins!r}], not {type(plugins).__name__}")
    names: list[str] = []
    objects: list[Any] = []
    for p in plugins:
        (names if isinstance(p, str) else objects).append(p)
    return (names or None), objects


BUILTIN_PLUGINS = ("echo",)
"""Names an allow-list may hold besides the installed entry points (built into the core)."""


def _unknown_plugins(names: Iterable[str]) -> str | None:
    """A message naming the allow-listed names that are not installed, or None."""
    installed = sorted({ep.name for ep in _entry_points()} | set(BUILTIN_PLUGINS))
    unknown = [n for n in names if n not in installed]
    if not unknown:
        return None
    from .config import closest

    hints = [f"{n!r} (did you mean {c!r}?)" if (c := closest(n, installed)) else repr(n)
             for n in unknown]
    return (f"no installed cencori plugin named {', '.join(hints)}; installed: "
            f"{', '.join(installed)} (plugin names, not provider names: 'openai' serves "
            "openai, xai, deepseek, meta, azure and openai_compatible)")


def allow_list(explicit: Iterable[str] | None) -> set[str] | None:
    """The allowed plugin names: the explicit list, else ``CENCORI_PLUGINS``, else all (None).

    An explicit name that is not installed is a :class:`PluginError`: a typo (``"opena"``)
    would otherwise switch the provider off without a word. In ``CENCORI_PLUGINS`` it is a
    warning (the environment may be shared by programs with other plugins)."""
    if explicit is not None:
        names = set(explicit)
        problem = _unknown_plugins(sorted(names))
        if problem:
            raise PluginError(f"plugins=[...]: {problem}")
        return names
    env = os.environ.get(ALLOW_ENV)
    if env is None:
        return None
    names = {p.strip() for p in env.split(",") if p.strip()}
    problem = _unknown_plugins(sorted(names))
    if problem:
        log.warning("%s: %s", ALLOW_ENV, problem)
    return names


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def check_plugin(plugin: object, name: str) -> None:
    """Refuse hook implementations that are coroutine functions (hooks are synchronous)."""
    for attr in dir(plugin):
        if not attr.startswith("cencori_"):
            continue
        fn = getattr(plugin, attr, None)
        if fn is not None and (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
            raise PluginError(
                f"plugin {name!r}: hook {attr} is async; cencori hooks are synchronous and do no "
                "I/O (use a router component for I/O-bound work)"
            )


def register_plugin(pm: pluggy.PluginManager, plugin: object, name: str | None = None) -> str:
    name = name or getattr(plugin, "name", None) or type(plugin).__name__
    if not isinstance(name, str):
        name = type(plugin).__name__
    base, n = name, 1
    while pm.has_plugin(name):
        n += 1
        name = f"{base}#{n}"
    check_plugin(plugin, name)
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name!r} does not fit the hook contract: {exc}") from exc
    return name


def discover(pm: pluggy.PluginManager, allowed: set[str] | None) -> list[str]:
    """Load ``cencori`` entry points (filtered by the allow-list) and register them.

    A plugin that fails to import is reported with a warning naming its distribution and skipped.
    Returns the names registered.
    """
    loaded = []
    for ep in _entry_points():
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.has_plugin(ep.name):
            continue
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is reported and skipped
            msg = (f"cencori plugin {ep.name!r} from distribution {dist!r} failed to load and is "
                   f"skipped: {type(exc).__name__}: {exc}")
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
            log.warning(msg)
            continue
        register_plugin(pm, obj, ep.name)
        loaded.append(ep.name)
    return loaded


def collect_providers(pm: pluggy.PluginManager) -> dict[str, ProviderSpec]:
    """Run ``cencori_register_providers`` on every plugin and collect the specs."""
    specs: dict[str, ProviderSpec] = {}

    def registration(impl: pluggy.HookImpl) -> dict[str, Any]:
        plugin_name = impl.plugin_name

        def register(
            name: str,
            factory: Callable[..., Any],
            *,
            prefixes: Iterable[str] = (),
            models: Iterable[ModelInfo | str] = (),
            aliases: Mapping[str, str] | None = None,
            _plugin: str = plugin_name,
            **kw: Any,
        ) -> None:
            if not isinstance(name, str) or not name or "/" in name:
                raise PluginError(f"plugin {_plugin!r} registered an invalid provider name "
                                  f"{name!r} (non-empty, no '/')")
            if not callable(factory):
                raise PluginError(f"plugin {_plugin!r}: factory for {name!r} is not callable")
            prev = specs.get(name)
            if prev is not None and prev.plugin != _plugin:
                raise PluginError(f"provider {name!r} is registered by both {prev.plugin!r} and "
                                  f"{_plugin!r}; disable one of them")
            if "config_keys" in kw:
                kw["config_keys"] = tuple(kw["config_keys"])
            try:
                specs[name] = ProviderSpec(
                    name=name, factory=factory, prefixes=tuple(prefixes), models=tuple(models),
                    aliases=dict(aliases or {}), plugin=_plugin, **kw,
                )
            except TypeError as exc:
                raise PluginError(
                    f"plugin {_plugin!r}: bad registration of {name!r}: {exc}") from exc

        current[0] = plugin_name
        return {"register": register}

    # each plugin's implementation is its own hook call (pluggy's executor: argument subsets,
    # wrappers, tracing), with a register callback that knows which plugin registers
    from ._hooks import call_each

    current = [""]
    try:
        results = call_each(pm, "cencori_register_providers", registration)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin {current[0]!r} failed in cencori_register_providers: {exc}") from exc
    for impl, result in results:
        for r in result:
            if inspect.isawaitable(r):
                if hasattr(r, "close"):
                    r.close()
                raise PluginError(f"plugin {impl.plugin_name!r}: cencori_register_providers "
                                  "returned an awaitable; hooks are synchronous")
    return specs
