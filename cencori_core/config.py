"""Configuration: ``Secret``, ``ProviderConfig``, TOML and environment loading."""

from __future__ import annotations

import hmac
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigurationError

__all__ = ["Secret", "ProviderConfig", "load_toml", "is_secret_name", "url_secrets", "mask_url"]


class Secret:
    """A secret string (an API key). Its repr and str are masked; it refuses to be pickled.

    ``get_secret_value()`` returns the clear text, for the one place that needs it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"Secret takes a str, not {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled: it would write the key in clear text")

    def __getstate__(self) -> Any:
        raise TypeError("a Secret cannot be pickled: it would write the key in clear text")


def as_secret(value: Any) -> Secret | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Secret) else Secret(str(value))


# Names of headers and options whose values are credentials: ``api-key`` (Azure),
# ``Authorization``, ``x-api-key``, ``x-goog-api-key``, ``Ocp-Apim-Subscription-Key``, cookies,
# tokens, passwords, client secrets. Matched anywhere in the name, case-insensitively.
_SECRET_NAME = re.compile(r"auth|key|token|secret|passw|cookie|signature|credential|session",
                          re.IGNORECASE)
_MIN_SECRET = 8  # shorter values would mask ordinary words in log lines


def is_secret_name(name: Any) -> bool:
    """True for a header or option name that holds a credential (``api-key``, ``Authorization``)."""
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


def _secret_values(value: Any, out: list[str]) -> None:
    """Every string in ``value`` (a header value, or an option's nested values), and for an
    ``Authorization``-style ``"<scheme> <token>"`` the token alone too (some logs print only it)."""
    if isinstance(value, Secret):
        value = value.get_secret_value()
    if isinstance(value, str):
        if len(value) >= _MIN_SECRET:
            out.append(value)
            scheme, _, token = value.partition(" ")
            if token and len(token) >= _MIN_SECRET:
                out.append(token.strip())
    elif isinstance(value, Mapping):
        for v in value.values():
            _secret_values(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _secret_values(v, out)


def _secrets_in(options: Mapping[str, Any], out: list[str]) -> None:
    for name, value in options.items():
        if is_secret_name(name):
            _secret_values(value, out)
        elif isinstance(value, Mapping):  # headers, default_headers, http_options, ...
            _secrets_in(value, out)
        elif isinstance(value, str) and "://" in value:
            out.extend(url_secrets(value))


def _masked(value: Any) -> Any:
    """``value`` for a repr, with the values under secret names replaced by ``'*****'``."""
    if isinstance(value, Mapping):
        return {k: "*****" if is_secret_name(k) and v else _masked(v) for k, v in value.items()}
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def url_secrets(url: str) -> list[str]:
    """The credentials inside a URL: the password of ``scheme://user:password@host`` and the
    values of query parameters with secret names (``?password=``, ``?key=``, ``?token=``)."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    out = [password] if password else []
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if is_secret_name(name) and value:
            out.append(value)
    return out


def mask_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``*****``."""
    masked = url
    for secret in sorted(set(url_secrets(url)), key=len, reverse=True):
        masked = masked.replace(secret, "*****")
    return masked


_KNOWN_KEYS = frozenset({
    "api_key", "api_key_env", "base_url", "timeout", "type", "models", "http_client",
    "async_http_client", "options", "organization", "project", "api_version", "headers",
})


@dataclass(slots=True, kw_only=True)
class ProviderConfig:
    """How to reach one provider (one configured name).

    ``type`` names the registered provider implementation (defaults to ``name``): a
    ``{"local": {"type": "openai_compatible", ...}}`` entry makes a provider called ``local``.
    ``options`` holds the remaining, provider-specific keys (``organization``, ``api_version``,
    ``headers``, ...).
    """

    name: str
    type: str = ""
    api_key: Secret | None = None
    base_url: str | None = None
    timeout: float | None = None
    models: list[str] = field(default_factory=list)
    http_client: Any = field(default=None, repr=False)
    async_http_client: Any = field(default=None, repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    api_key_env: str | None = None
    """The environment variable the key came from (for messages), if any."""

    def __post_init__(self) -> None:
        if not self.type:
            self.type = self.name

    def secrets(self) -> list[str]:
        """Every credential this configuration holds: the API key, values of secret-named
        headers and options (``headers={"api-key": ...}``, ``Authorization``), and passwords or
        secret query parameters inside URLs (``base_url``). The log filter and the error
        scrubbers mask all of them."""
        out: list[str] = []
        if self.api_key:
            out.append(self.api_key.get_secret_value())
        if self.base_url:
            out.extend(url_secrets(self.base_url))
        _secrets_in(self.options, out)
        return out

    def __repr__(self) -> str:
        # Secrets masked everywhere: the key (a Secret), secret-named headers and options, and
        # credentials inside URLs.
        return (f"ProviderConfig(name={self.name!r}, type={self.type!r}, api_key={self.api_key!r},"
                f" base_url={_masked(self.base_url)!r}, timeout={self.timeout!r}, "
                f"models={self.models!r}, options={_masked(self.options)!r}, "
                f"api_key_env={self.api_key_env!r})")

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any]) -> ProviderConfig:
        """Build from a dict (constructor argument or a TOML table); unknown keys go to options."""
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"providers[{name!r}] must be a table/dict of settings, not {type(data).__name__}"
            )
        data = dict(data)
        key_env = data.pop("api_key_env", None)
        key = data.pop("api_key", None)
        if key is None and key_env:
            key = os.environ.get(key_env)
        timeout = data.pop("timeout", None)
        if timeout is not None:
            try:
                seconds = float(timeout)
            except (TypeError, ValueError, OverflowError):
                seconds = math.nan
            # inf or a huge value overflows the SDK clients' timeouts; NaN fails the comparison
            if isinstance(timeout, bool) or not 0 < seconds <= 86_400:
                raise ConfigurationError(
                    f"providers[{name!r}].timeout must be a positive number of seconds, at most "
                    f"86400 (one day), got {str(timeout)[:40]!r}") from None
            timeout = seconds
        models = data.pop("models", None) or []
        if isinstance(models, str) or not all(isinstance(m, str) for m in models):
            raise ConfigurationError(f"providers[{name!r}].models must be a list of model names")
        options = dict(data.pop("options", None) or {})
        cfg = cls(
            name=name,
            type=str(data.pop("type", "") or ""),
            api_key=as_secret(key),
            base_url=data.pop("base_url", None),
            timeout=timeout,
            models=list(models),
            http_client=data.pop("http_client", None),
            async_http_client=data.pop("async_http_client", None),
            api_key_env=key_env,
        )
        options.update(data)  # organization, api_version, headers, ...
        cfg.options = options
        return cfg


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a cencori TOML file into ``Router`` keyword arguments."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError(f"config file not found: {os.fspath(path)}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{os.fspath(path)} is not valid TOML: {exc}") from None

    known = {"providers", "fallbacks", "retry", "policies", "ledger", "redis", "telemetry",
             "router", "deployments", "context_window_fallbacks", "cooldown", "plugins",
             "prices", "budgets", "rate_limits", "cache"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(
            f"{os.fspath(path)}: unknown table(s) {unknown}; known: {sorted(known)}"
        )
    kwargs: dict[str, Any] = {}
    if "providers" in data:
        kwargs["providers"] = data["providers"]
    if "fallbacks" in data:
        kwargs["fallbacks"] = data["fallbacks"]
    if "retry" in data:
        kwargs["retry"] = dict(data["retry"])
    if "policies" in data:
        kwargs["policies"] = _policies_from_toml(data["policies"])
    kwargs.update(_accounting_from_toml(data, os.fspath(path)))
    if "telemetry" in data:
        tel = data["telemetry"]
        kwargs["telemetry"] = tel.get("enabled", True) if isinstance(tel, dict) else bool(tel)
        if isinstance(tel, dict) and "capture_content" in tel:
            kwargs["telemetry_capture_content"] = bool(tel["capture_content"])
    if "cache" in data:  # [cache]: ttl, max_entries, max_bytes, temperature, url, enabled, ...
        if not isinstance(data["cache"], Mapping):
            raise ConfigurationError(f"{os.fspath(path)}: [cache] must be a table")
        kwargs["cache"] = dict(data["cache"])
    for key in ("deployments", "context_window_fallbacks", "cooldown", "plugins", "prices"):
        if key in data:
            kwargs[key] = data[key]
    if "router" in data:
        kwargs.update(data["router"])
    return kwargs


def _accounting_from_toml(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``[ledger]`` (path or url), ``[redis]`` (url, budget_fail_mode, rate_limit_fail_mode),
    ``[[budgets]]`` and ``[[rate_limits]]`` → Router keyword arguments. A relative ledger path
    is relative to the TOML file."""
    out: dict[str, Any] = {}
    tables = {"ledger": {"path", "url"},
              "redis": {"url", "budget_fail_mode", "rate_limit_fail_mode"}}
    for name, known in tables.items():
        table = data.get(name)
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{where}: [{name}] must be a table")
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigurationError(f"{where}: [{name}] has unknown key(s) {unknown}; known: "
                                     f"{sorted(known)}")
    ledger = data.get("ledger") or {}
    if ledger.get("path") and ledger.get("url"):
        raise ConfigurationError(f"{where}: [ledger] takes path (an SQLite file) or url "
                                 "(a postgresql:// URL), not both")
    if ledger.get("url"):
        out["ledger_url"] = str(ledger["url"])
    if ledger.get("path"):
        path = os.path.expanduser(str(ledger["path"]))
        out["ledger_path"] = os.path.join(os.path.dirname(os.path.abspath(where)), path)
    redis = data.get("redis") or {}
    if redis.get("url"):
        out["redis_url"] = redis["url"]
    for key in ("budget_fail_mode", "rate_limit_fail_mode"):
        if key in redis:
            out[key] = redis[key]
    for key in ("budgets", "rate_limits"):
        if key in data:
            out[key] = data[key]
    return out


def _policies_from_toml(table: Mapping[str, Any]) -> list[Any]:
    from . import policies as pol

    out = []
    for name, opts in table.items():
        cls = pol.BY_NAME.get(name)
        if cls is None:
            raise ConfigurationError(
                f"unknown policy [policies.{name}]; known: {sorted(pol.BY_NAME)}"
            )
        opts = dict(opts or {})
        try:
            out.append(cls(**opts))
        except TypeError as exc:
            raise ConfigurationError(f"[policies.{name}]: {exc}") from None
    return out
