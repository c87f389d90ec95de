"""Configuration: ``Secret``, ``ProviderConfig``, TOML and environment loading."""

from __future__ import annotations

import contextlib
import hmac
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ConfigurationError

T = TypeVar("T")

__all__ = ["Secret", "ProviderConfig", "load_toml", "is_secret_name", "url_secrets", "mask_url",
           "COMMON_KEYS", "DEPLOYMENT_KEYS", "check_keys", "closest", "check_fallbacks",
           "check_context_fallbacks", "toml_errors"]


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


COMMON_KEYS = ("api_key", "api_key_env", "base_url", "timeout", "type", "models", "headers",
               "http_client", "async_http_client", "options",
               # the async paths on aiohttp or not (docs/fast-transport.md); kept in options
               "fast_transport")
"""Keys every provider table accepts; a provider adds its own (``ProviderSpec.config_keys``)."""

DEPLOYMENT_KEYS = ("provider", "name", "model", "weight", "rpm", "tpm")
"""Keys a deployment entry accepts besides its provider's configuration keys."""


# SDK client arguments the router owns: its retry loop is the only one.
_ROUTER_OWNED = {"max_retries": "the router retries (Router(retry=...)); the SDK's own retries "
                                "stay off",
                 "retry_config": "the router retries (Router(retry=...)); the SDK's own "
                                 "retries stay off"}


def closest(name: str, allowed: Iterable[str]) -> str | None:
    """The allowed name closest to a misspelled ``name`` (``bse_url`` → ``base_url``), if any."""
    import difflib

    found = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    return found[0] if found else None


def check_keys(where: str, keys: Iterable[Any], allowed: Iterable[str], *,
               hint: str = "", what: str = "key") -> None:
    """Refuse keys outside ``allowed``: a ConfigurationError naming the key, the closest allowed
    one and every allowed one (``where`` says which table: ``providers['openai']``)."""
    allowed = tuple(allowed)
    bad = [k for k in keys if k not in allowed]
    if not bad:
        return
    key = bad[0]
    guess = closest(str(key), allowed)
    mean = f"; did you mean {guess!r}?" if guess else "."
    raise ConfigurationError(
        f"{where}: unknown {what} {key!r}{mean} Allowed: {', '.join(sorted(allowed))}.{hint}")


@dataclass(slots=True, kw_only=True)
class ProviderConfig:
    """How to reach one provider (one configured name).

    ``type`` names the registered provider implementation (defaults to ``name``): a
    ``{"local": {"type": "openai_compatible", ...}}`` entry makes a provider called ``local``.
    ``options`` holds the provider-specific keys the provider declares
    (``ProviderSpec.config_keys``: ``organization``, ``api_version``, ``vertexai``, ...) and
    ``headers``; ``client_options`` the explicit ``options={...}`` passthrough, keyword arguments
    of the SDK client's constructor.
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
    client_options: dict[str, Any] = field(default_factory=dict)
    """The explicit ``options={...}`` table (less the keys the provider knows by name): keyword
    arguments for the SDK client's constructor (``default_query``, ``max_retries``, ...)."""

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
        _secrets_in(self.client_options, out)
        return out

    def __repr__(self) -> str:
        # Secrets masked everywhere: the key (a Secret), secret-named headers and options, and
        # credentials inside URLs.
        return (f"ProviderConfig(name={self.name!r}, type={self.type!r}, api_key={self.api_key!r},"
                f" base_url={_masked(self.base_url)!r}, timeout={self.timeout!r}, "
                f"models={self.models!r}, options={_masked(self.options)!r}, "
                f"client_options={_masked(self.client_options)!r}, "
                f"api_key_env={self.api_key_env!r})")

    def sdk_client(self, factory: Callable[..., T], /, **kwargs: Any) -> T:
        """``factory(**kwargs)`` with this configuration's ``client_options`` added (the SDK
        client's constructor: ``openai.OpenAI``, ``anthropic.Anthropic``, ...). An option the
        constructor does not take is a ConfigurationError naming it and the ones it takes,
        raised before the client exists (nothing is sent)."""
        if self.client_options:
            import inspect

            try:
                params = dict(inspect.signature(factory).parameters)
            except (TypeError, ValueError):  # no signature to read: let the call decide
                params = {}
            takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
            named = [n for n, p in params.items() if not n.startswith("_") and n != "self"
                     and n not in _ROUTER_OWNED
                     and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
            if params and not takes_any:
                check_keys(f"providers[{self.name!r}].options", self.client_options, named,
                           what="option",
                           hint=f" (the arguments of {getattr(factory, '__qualname__', factory)})")
            kwargs.update(self.client_options)
        return factory(**kwargs)

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any], *,
                     config_keys: Iterable[str] = (), where: str | None = None,
                     extra_keys: Iterable[str] = ()) -> ProviderConfig:
        """Build from a dict (constructor argument or a TOML table).

        Allowed keys: :data:`COMMON_KEYS`, the provider's ``config_keys`` and ``extra_keys``
        (dropped here: a deployment's ``weight``, ...); any other key is a ConfigurationError
        naming it, the closest allowed key and all of them (a misspelled ``bse_url`` must not
        send traffic to the provider's default host). ``options={...}`` is the explicit SDK
        passthrough: its keys that the provider knows by name join ``options``, the others go
        to ``client_options``."""
        where = where or f"providers[{name!r}]"
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"{where} must be a table/dict of settings, not {type(data).__name__}"
            )
        config_keys = tuple(config_keys)
        extra_keys = tuple(extra_keys)
        common = COMMON_KEYS + extra_keys
        hint = " Pass SDK client arguments under options={...}."
        if "api_version" in data and "api_version" not in config_keys:
            hint = (" 'api_version' is accepted only by the providers that declare it (azure, "
                    "anthropic, google)." + hint)
        check_keys(where, data, common + config_keys, hint=hint)
        data = {k: v for k, v in data.items() if k not in extra_keys}
        key_env = data.pop("api_key_env", None)
        if key_env is not None and not isinstance(key_env, str):
            raise ConfigurationError(f"{where}.api_key_env must be the name of an environment "
                                     f"variable (a string), not {type(key_env).__name__}")
        key = data.pop("api_key", None)
        if not isinstance(key, (str, Secret)) and callable(getattr(key, "get_secret_value",
                                                                     None)):
            # pydantic's SecretStr (settings classes): its str() is '**********', which would
            # be sent as the key
            key = key.get_secret_value()
        if key is not None and not isinstance(key, (str, Secret)):
            # str(5) would be sent as the key; say so instead
            raise ConfigurationError(f"{where}.api_key must be a string, not "
                                     f"{type(key).__name__}")
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
                    f"{where}.timeout must be a positive number of seconds, at most "
                    f"86400 (one day), got {str(timeout)[:40]!r}") from None
            timeout = seconds
        models = data.pop("models", None) or []
        if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) for m in models):
            raise ConfigurationError(f"{where}.models must be a list of model names, e.g. "
                                     f"[\"my-model\"]")
        raw_options = data.pop("options", None) or {}
        if not isinstance(raw_options, Mapping):
            raise ConfigurationError(f"{where}.options must be a table/dict of SDK client "
                                     f"arguments, not {type(raw_options).__name__}")
        for opt in raw_options:
            if opt in COMMON_KEYS and opt != "headers" or opt in _ROUTER_OWNED:
                why = _ROUTER_OWNED.get(opt) or f"set {opt!r} at the top level of the table"
                raise ConfigurationError(f"{where}.options: {opt!r} cannot be passed to the SDK "
                                         f"client: {why}")
        headers = data.get("headers")
        if headers is not None and not isinstance(headers, Mapping):
            raise ConfigurationError(f"{where}.headers must be a table/dict of header names "
                                     "and values")
        base_url = data.pop("base_url", None)
        if base_url is not None and not isinstance(base_url, str):
            raise ConfigurationError(f"{where}.base_url must be a URL string")
        cfg = cls(
            name=name,
            type=str(data.pop("type", "") or ""),
            api_key=as_secret(key),
            base_url=base_url,
            timeout=timeout,
            models=list(models),
            http_client=data.pop("http_client", None),
            async_http_client=data.pop("async_http_client", None),
            api_key_env=key_env,
        )
        known = ("headers",) + config_keys
        cfg.options = {k: v for k, v in raw_options.items() if k in known}
        cfg.options.update(data)  # headers and the provider's own keys (organization, ...)
        cfg.client_options = {k: v for k, v in raw_options.items() if k not in known}
        return cfg


def check_fallbacks(value: Any) -> dict[str, list[str]]:
    """``fallbacks``: each model name → a list of model names tried in order. A string is
    refused (it would be read letter by letter: ``unknown model 'e'``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError('fallbacks must map a model name to a list of model names, '
                                 'e.g. fallbacks={"gpt-4o": ["claude-sonnet-4"]}')
    out: dict[str, list[str]] = {}
    for key, names in value.items():
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"fallbacks: the key {key!r} must be a model name (or '*')")
        if isinstance(names, str):
            raise ConfigurationError(
                f"fallbacks[{key!r}] must be a list of model names, not the string {names!r}: "
                f"write [{names!r}]".replace("'", '"'))
        listed = list(names) if isinstance(names, (list, tuple)) else None
        if listed is None or not all(isinstance(n, str) and n for n in listed):
            raise ConfigurationError(f"fallbacks[{key!r}] must be a list of model names, e.g. "
                                     '["echo/echo"]')
        out[key] = listed
    return out


def check_context_fallbacks(value: Any) -> dict[str, str]:
    """``context_window_fallbacks``: each model name → the one model with a larger context
    window tried when the prompt does not fit."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError("context_window_fallbacks must map a model name to one model "
                                 'name, e.g. {"gpt-4o": "gpt-4.1"}')
    for key, name in value.items():
        if not isinstance(key, str) or not key or not isinstance(name, str) or not name:
            hint = (f"; write {next(iter(name))!r}" if isinstance(name, (list, tuple)) and
                    len(name) == 1 else "")
            raise ConfigurationError(
                f"context_window_fallbacks[{key!r}] must be one model name (a string), e.g. "
                f'"gpt-4.1", not {name!r}{hint}')
    return dict(value)


@contextlib.contextmanager
def toml_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Configuration errors raised while building a router from the TOML file ``path`` name the
    file and the table (``[providers.openai]`` instead of ``providers['openai']``)."""
    try:
        yield
    except ConfigurationError as exc:
        text = str(exc)
        if text.startswith(os.fspath(path)):
            raise
        text = _PATH.sub(_as_table, text)
        new = ConfigurationError(f"{os.fspath(path)}: {text}")
        raise new.with_traceback(None) from None


_PATH = re.compile(r"\b(providers|deployments|fallbacks|context_window_fallbacks|prices|"
                   r"budgets|rate_limits)((?:\[[^\]]*\])+)(?:: unknown key '([^']*)')?")


def _as_table(m: re.Match[str]) -> str:
    parts = [m.group(1)] + [p.strip("'\"") for p in re.findall(r"\[([^\]]*)\]", m.group(2))]
    index = parts.pop() if m.group(1) == "deployments" and parts[-1].isdigit() else None
    table = "[" + ".".join(parts) + "]" if index is None else \
        f"[[{'.'.join(parts)}]] (entry {int(index) + 1})"
    return f"{table}.{m.group(3)}: unknown key" if m.group(3) else table


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
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{os.fspath(path)} is not valid TOML: TOML files are UTF-8 "
                                 f"text, byte {exc.start} is not ({exc.reason})") from None
    except RecursionError:
        # tomllib recurses into nested arrays and inline tables
        raise ConfigurationError(f"{os.fspath(path)} is not a usable config: its arrays or "
                                 "tables are nested too deeply") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {os.fspath(path)}: "
                                 f"{exc.strerror or exc}") from None

    known = {"providers", "fallbacks", "retry", "policies", "ledger", "redis", "telemetry",
             "router", "deployments", "context_window_fallbacks", "cooldown", "plugins",
             "prices", "budgets", "rate_limits", "cache"}
    check_keys(f"{os.fspath(path)}: top level", data, sorted(known))
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
        if isinstance(tel, Mapping):
            check_keys(f"{os.fspath(path)}: [telemetry]", tel, ("enabled", "capture_content"))
            for flag in ("enabled", "capture_content"):
                if flag in tel and not isinstance(tel[flag], bool):
                    # "no" or "false" as a string would switch it on
                    raise ConfigurationError(f"{os.fspath(path)}: [telemetry].{flag} must be "
                                             f"true or false, not {tel[flag]!r}")
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
        check_keys(f"{where}: [{name}]", table, sorted(known))
    ledger = data.get("ledger") or {}
    for key in ("path", "url"):
        if key in ledger and not isinstance(ledger[key], str):
            raise ConfigurationError(f"{where}: [ledger].{key} must be a string, not "
                                     f"{type(ledger[key]).__name__}")
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
