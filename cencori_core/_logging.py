"""Logging: the ``cencori_core`` logger, one line per call, and a filter that masks secrets.

The library never configures the root logger. The ``cencori_core`` logger carries a
``NullHandler`` (so nothing is printed unless the application configures logging) and a
:class:`SecretFilter` that replaces every provider key known to a live router with ``*****``.

- INFO: exactly one line per logical call: operation, model, provider, status, tokens, cost,
  latency, attempts, request id. The same fields are on the record as ``record.cencori`` (a dict)
  for structured formatters.
- DEBUG: each failed attempt, and a detail line per call (route, attempts, usage breakdown,
  policy decisions). Never prompt or response text.

``CENCORI_LOG=debug`` (or ``info``, ``warning``, ``error``) installs a stderr handler at that level
on the ``cencori_core`` logger, for people who have not configured logging; the variable is read
when a ``Router`` is built.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import warnings
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .context import CallContext

__all__ = ["log", "SecretFilter", "mask", "watch", "add_secrets", "configure_from_env",
           "log_call", "log_attempt_failed", "protect_sdk_loggers", "SDK_LOGGERS"]

log = logging.getLogger("cencori_core")
log.addHandler(logging.NullHandler())

MASK = "*****"
ENV = "CENCORI_LOG"

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "1": logging.INFO, "true": logging.INFO}
_OFF = {"", "0", "false", "off", "none"}

# Secrets come from every live router (its ``known_secrets()``: arguments, config, environment)
# plus any added explicitly; routers are held weakly so a closed, dropped router is forgotten.
class _KeyHolder(Protocol):
    """What the log filter needs of a router: the keys to mask."""

    def known_secrets(self) -> list[str]: ...


_routers: weakref.WeakSet[_KeyHolder] = weakref.WeakSet()
_routers_lock = threading.Lock()  # a WeakSet must not change while another thread copies it
_extra_secrets: set[str] = set()
_pattern_cache: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)


def watch(router: _KeyHolder) -> None:
    """Make the filter mask ``router``'s secrets for as long as the router lives, in records of
    the ``cencori_core`` logger and of the provider SDKs' loggers."""
    with _routers_lock:
        _routers.add(router)
    protect_sdk_loggers()


# The SDKs' own loggers print request options at DEBUG, headers included (anthropic's and
# openai's ``_base_client``: "Request options: {... 'headers': {'x-api-key': ...}}"). A filter on
# a logger only sees records created on that very logger, not on its children, so the filter goes
# on each logger of these packages that exists, and on the ones that log requests, created now
# if their SDK is not imported yet (getLogger returns the same object to the SDK later).
SDK_LOGGERS = ("openai", "anthropic", "httpx", "httpx2", "httpcore", "httpcore2", "google_genai",
               "google.genai", "mistralai", "cohere",
               "boto3", "botocore", "urllib3")
_SDK_REQUEST_LOGGERS = (
    "openai._base_client", "anthropic._base_client", "httpx", "httpx2", "httpcore.connection",
    "httpcore.http11", "httpcore.http2", "httpcore.proxy", "httpcore2.connection",
    "httpcore2.http11", "httpcore2.http2", "google_genai._api_client", "google_genai.models",
    "google.genai", "mistralai", "mistralai.client", "mistralai._hooks", "cohere",
    "cohere.core.http_client", "cohere.base_client",
    # botocore logs request headers (X-Amz-Security-Token), canonical requests and answers
    "botocore.endpoint", "botocore.parsers", "botocore.auth", "botocore.hooks",
    "botocore.httpsession", "botocore.retryhandler", "botocore.credentials",
    "urllib3.connectionpool",
)
_sdk_protected: set[str] = set()


def protect_sdk_loggers() -> None:
    """Install the masking filter on the provider SDKs' loggers (see ``SDK_LOGGERS``)."""
    names = set(_SDK_REQUEST_LOGGERS)
    for name in list(logging.root.manager.loggerDict):
        if name not in _sdk_protected and name.split(".", 1)[0] in SDK_LOGGERS \
                or name.startswith("google.genai"):
            names.add(name)
    for name in names - _sdk_protected:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
        _sdk_protected.add(name)


def add_secrets(secrets: Iterable[str]) -> None:
    """Mask these strings too (e.g. keys a plugin knows about that no router config holds)."""
    _extra_secrets.update(s for s in secrets if s and len(s) >= 8)


def _pattern() -> re.Pattern[str] | None:
    global _pattern_cache
    secrets = set(_extra_secrets)
    with _routers_lock:
        routers = list(_routers)
    for router in routers:
        secrets.update(router.known_secrets())
    key = frozenset(secrets)
    if key != _pattern_cache[0]:
        # Longest first so a key that contains another is masked whole.
        alternatives = "|".join(re.escape(s) for s in sorted(key, key=len, reverse=True))
        _pattern_cache = (key, re.compile(alternatives) if alternatives else None)
    return _pattern_cache[1]


def mask(text: str) -> str:
    """``text`` with every known secret replaced by ``*****``."""
    pattern = _pattern()
    return pattern.sub(MASK, text) if pattern is not None and text else text


class SecretFilter(logging.Filter):
    """Masks every known secret in a record's message, exception text and stack.

    The message is formatted here (``msg % args``) and the record's ``args`` cleared, so no
    handler can format the clear text later. Installed on the ``cencori_core`` logger (records
    logged on it) and on the ``CENCORI_LOG`` handler (records of child loggers too).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        pattern = _pattern()
        if pattern is None:
            return True
        message = record.getMessage()
        masked = pattern.sub(MASK, message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = pattern.sub(MASK, record.exc_text)
        if record.stack_info:
            record.stack_info = pattern.sub(MASK, record.stack_info)
        return True


_filter = SecretFilter()
log.addFilter(_filter)
_env_handler: logging.Handler | None = None
_env_value: str | None = None


def configure_from_env() -> None:
    """Apply ``CENCORI_LOG``: install, change or remove the stderr handler (idempotent)."""
    global _env_handler, _env_value
    value = os.environ.get(ENV, "").strip().lower()
    if value == _env_value:
        return
    _env_value = value
    if _env_handler is not None:
        log.removeHandler(_env_handler)
        log.setLevel(logging.NOTSET)
        _env_handler = None
    if value in _OFF:
        return
    level = _LEVELS.get(value)
    if level is None:
        warnings.warn(f"{ENV}={value!r} is not one of {sorted(set(_LEVELS) - {'1', 'true'})}; "
                      "using info", RuntimeWarning, stacklevel=3)
        level = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_filter)
    handler.setLevel(level)
    log.addHandler(handler)
    log.setLevel(level)
    _env_handler = handler


# ---------------------------------------------------------------------------- per-call lines


def _served_by(ctx: CallContext, resp: Any) -> tuple[str | None, str | None]:
    """(provider, model) that answered, else the last one tried, else the route asked for."""
    last = ctx.attempts[-1] if ctx.attempts else None
    route = ctx.route
    provider = (getattr(resp, "provider", None) or (last.provider if last else None)
                or (route.provider if route else None))
    model = (getattr(resp, "model", None) or (last.model if last else None)
             or (route.model if route else getattr(ctx.request, "model", None)))
    return provider, model


def log_call(ctx: CallContext, status: str, resp: Any) -> None:
    """The INFO line of a finished call (and the DEBUG detail line)."""
    if not log.isEnabledFor(logging.INFO):
        return
    provider, model = _served_by(ctx, resp)
    usage = getattr(resp, "usage", None)
    cost = getattr(resp, "cost", None)
    err = ctx._call.error
    error = type(err).__name__ if err is not None else None
    latency = ctx.elapsed_ms
    fields = {
        "request_id": ctx.request_id, "operation": ctx.operation, "model": model,
        "provider": provider, "status": status, "error": error,
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "cost_usd": str(cost.total) if cost is not None else None,
        "latency_ms": round(latency, 3), "attempts": len(ctx.attempts), "project": ctx.project,
    }
    log.info("%s %s (%s) %s%s: %d+%d tokens, cost %s, %.1f ms, %d attempt(s) [%s]",
             ctx.operation, model, provider, status, f" {error}" if error else "",
             fields["prompt_tokens"], fields["completion_tokens"],
             f"${cost.total}" if cost is not None else "unknown", latency,
             len(ctx.attempts), ctx.request_id, extra={"cencori": fields})
    if log.isEnabledFor(logging.DEBUG):
        attempts = ", ".join(
            f"{a.provider}/{a.model} {a.status}"
            + (f" {a.status_code}" if a.status_code else "")
            + f" after {a.delay:.3f}s wait, {a.latency_ms:.1f} ms" for a in ctx.attempts)
        log.debug("%s details: route %s; attempts [%s]; usage %s; decisions %s; project %s",
                  ctx.request_id, ctx.route, attempts, usage.to_dict() if usage else None,
                  [d.to_dict() for d in ctx.decisions], ctx.project)


def log_attempt_failed(ctx: CallContext, exc: BaseException) -> None:
    """The DEBUG line of one failed attempt (the router decides next whether to retry)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    route = ctx.route
    log.debug("%s attempt %d of %s %s failed: %s(status=%s, retryable=%s, retry_after=%s): %s",
              ctx.request_id, len(ctx.attempts) + 1, ctx.operation,
              route.model if route else None, type(exc).__name__,
              getattr(exc, "status_code", None), getattr(exc, "retryable", None),
              getattr(exc, "retry_after", None), exc)
