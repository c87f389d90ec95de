"""The one secret scrubber: every plugin, error and log line goes through :class:`Scrubber`.

A provider may echo the key it rejected anywhere: in the error message, the JSON body, a header
(``x-request-id: <key>``), the ``code`` field, a note, or an SDK exception further down the
``__cause__``/``__context__`` chain (some SDKs print all headers and the body in their ``str``).
:meth:`Scrubber.exception` rewrites all of those in place, so ``str(error)``, tracebacks, pickles
and usage records built from the error never carry the key.

Matching: a secret of 8 characters or more is replaced wherever it occurs (no real text contains
a long key by chance). A shorter one (test keys, local servers' "abc") is replaced only where it
stands as a whole token (not inside a longer run of letters, digits, ``_`` or ``-``), so a key
``"ab"`` does not turn ``"about"`` into ``"***out"``. Secrets of any length >= 1 are covered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Scrubber", "MASK", "secrets_of"]

MASK = "***"
_LONG = 8
_TOKEN = r"A-Za-z0-9_\-"
# Header names (lower case) whose values are credentials; "Bearer <key>" yields <key> too.
_AUTH_HINTS = ("key", "auth", "token", "secret", "password", "signature")


def _clear(value: Any) -> str | None:
    get = getattr(value, "get_secret_value", None)
    if get is not None:
        value = get()
    return value if isinstance(value, str) and value else None


def secrets_of(config: Any) -> tuple[str, ...]:
    """The secrets a provider configuration carries: ``api_key`` and the values of credential
    headers in ``options["headers"]`` (``api-key``, ``Authorization: Bearer ...``, ...)."""
    out: list[str] = []
    key = _clear(getattr(config, "api_key", None))
    if key:
        out.append(key)
    options = getattr(config, "options", None) or {}
    headers = options.get("headers") if isinstance(options, Mapping) else None
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            value = _clear(value)
            if value is None or not any(h in str(name).lower() for h in _AUTH_HINTS):
                continue
            out.append(value)
            scheme, _, rest = value.partition(" ")
            if rest.strip() and scheme.lower() in ("bearer", "basic", "token"):
                out.append(rest.strip())
    return tuple(out)


def _pattern(secrets: list[str]) -> str:
    parts = []
    for s in secrets:
        esc = re.escape(s)
        parts.append(esc if len(s) >= _LONG else rf"(?<![{_TOKEN}]){esc}(?![{_TOKEN}])")
    return "|".join(parts)


class Scrubber:
    """Replaces known secrets with ``***`` in strings, containers and exceptions.

    ``Scrubber(["sk-..."])``; falsy entries and :class:`~cencori_core.Secret` objects are
    accepted. ``bool(scrubber)`` is False when it knows no secret (then every method is a no-op).
    Its repr never shows a secret.
    """

    __slots__ = ("_re", "_bre", "_count")

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        clear = sorted({c for c in (_clear(s) for s in secrets) if c}, key=len, reverse=True)
        self._count = len(clear)
        if clear:
            pattern = _pattern(clear)
            self._re: re.Pattern[str] | None = re.compile(pattern)
            self._bre: re.Pattern[bytes] | None = re.compile(
                pattern.encode("utf-8", "surrogatepass"))
        else:
            self._re = self._bre = None

    @classmethod
    def for_config(cls, config: Any) -> Scrubber:
        """The scrubber of a :class:`~cencori_core.ProviderConfig` (see :func:`secrets_of`)."""
        return cls(secrets_of(config))

    def __bool__(self) -> bool:
        return self._re is not None

    def __repr__(self) -> str:
        return f"<Scrubber of {self._count} secret(s)>"

    # ------------------------------------------------------------------ values

    def text(self, text: str) -> str:
        """``text`` with every secret masked."""
        rx = self._re
        return text if rx is None else rx.sub(MASK, text)

    def contains(self, value: Any) -> bool:
        """Whether a str or bytes value holds a secret."""
        if isinstance(value, str):
            return self._re is not None and self._re.search(value) is not None
        if isinstance(value, (bytes, bytearray)):
            return self._bre is not None and self._bre.search(value) is not None
        return False

    def value(self, value: Any, _depth: int = 0) -> Any:
        """``value`` with secrets masked: strings and bytes, recursively inside dicts, lists,
        tuples and sets (a new container only where something changed; other objects as is)."""
        if self._re is None:
            return value
        if isinstance(value, str):
            return self._re.sub(MASK, value) if self._re.search(value) else value
        if isinstance(value, (bytes, bytearray)):
            assert self._bre is not None
            return self._bre.sub(MASK.encode(), value) if self._bre.search(value) else value
        if _depth > 50:  # a pathological nesting: give up on the structure, keep it out
            return MASK
        if isinstance(value, dict):
            new = {self.value(k, _depth + 1): self.value(v, _depth + 1) for k, v in value.items()}
            return value if len(new) == len(value) and _same(new.items(), value.items()) else new
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [self.value(v, _depth + 1) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
                return type(value)(*items)
            try:
                return type(value)(items)
            except TypeError:
                return list(items)
        return value

    # ------------------------------------------------------------------ exceptions

    def exception(self, exc: BaseException) -> BaseException:
        """Mask secrets in ``exc`` and every exception it chains (``__cause__``,
        ``__context__``, exception groups), in place: ``args``, ``__notes__``, instance
        attributes (``message``, ``body``, ``code``, ``request_id``, ``headers``, ...) and the
        headers, URL and content of HTTP request/response objects they hold. Returns ``exc``."""
        if self._re is None:
            return exc
        seen: set[int] = set()
        stack: list[BaseException | None] = [exc]
        while stack:
            e = stack.pop()
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            self._one(e)
            stack.append(e.__cause__)
            stack.append(e.__context__)
            if isinstance(e, BaseExceptionGroup):
                stack.extend(e.exceptions)
        return exc

    def _one(self, e: BaseException) -> None:
        args = self.value(e.args)
        if args is not e.args:
            object.__setattr__(e, "args", tuple(args))  # past a frozen dataclass's guard
        notes = getattr(e, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [self.value(n) for n in notes]
        attrs = getattr(e, "__dict__", None)
        if isinstance(attrs, dict):
            for name, val in list(attrs.items()):
                new = self._attr(val)
                if new is not val:
                    attrs[name] = new  # straight into __dict__: frozen dataclasses too
        for cls in type(e).__mro__:
            slots = cls.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name in ("__dict__", "__weakref__"):
                    continue
                try:
                    val = object.__getattribute__(e, name)
                except AttributeError:
                    continue
                new = self._attr(val)
                if new is not val:
                    try:
                        object.__setattr__(e, name, new)
                    except (AttributeError, TypeError):
                        pass

    def _attr(self, val: Any) -> Any:
        if isinstance(val, (str, bytes, bytearray, dict, list, tuple, set, frozenset)):
            return self.value(val)
        if isinstance(val, BaseException) or val is None or isinstance(val, (int, float)):
            return val
        self._http(val)
        return val

    def _http(self, obj: Any, _depth: int = 0) -> None:
        """An SDK exception's HTTP response or request (or a data object): mask its headers,
        URL and its own str/bytes fields in place. Objects that can send (clients,
        transports) are never touched: their default headers must keep working."""
        if hasattr(obj, "send") or isinstance(obj, type) or callable(obj):
            return
        headers = _safe_get(obj, "headers")
        if headers is not None and hasattr(headers, "items"):
            self._headers(headers, obj)
        url = _safe_get(obj, "url")
        if url is not None and not isinstance(url, str) and self.contains(str(url)):
            try:
                obj.url = type(url)(self.text(str(url)))
            except Exception:  # noqa: BLE001 - read-only URL: its fields below still apply
                pass
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            for name, val in list(attrs.items()):
                if isinstance(val, (str, bytes, bytearray, dict, list, tuple)):
                    new = self.value(val)
                    if new is not val:
                        try:
                            attrs[name] = new
                        except TypeError:
                            pass
        if _depth == 0:
            request = _safe_get(obj, "request")
            if request is not None and request is not obj:
                self._http(request, 1)

    def _headers(self, headers: Any, obj: Any = None) -> None:
        try:
            items = list(headers.items())
        except Exception:  # noqa: BLE001
            return
        for name, val in items:
            if self.contains(val):
                try:
                    headers[name] = self.value(val)
                except Exception:  # noqa: BLE001 - immutable headers
                    self._replace_headers(headers, items, obj)
                    return

    def _replace_headers(self, headers: Any, items: list[tuple[Any, Any]], obj: Any) -> None:
        """Immutable headers (aiohttp's ``CIMultiDictProxy``, printed by its response's repr):
        a masked copy of the same kind in the attribute that holds them."""
        if obj is None or _safe_get(obj, "_headers") is not headers:
            return
        try:
            mutable = headers.copy()  # a proxy's copy is its mutable multidict
            mutable.clear()
            for name, val in items:
                mutable.add(name, self.value(val))
            obj._headers = type(headers)(mutable)
            cache = _safe_get(obj, "_cache")  # aiohttp caches the ``headers`` property there
            if isinstance(cache, dict):
                cache.pop("headers", None)
        except Exception:  # noqa: BLE001 - another kind of headers: left as they are
            pass


def _safe_get(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - httpx: "the request instance has not been set"
        return None


def _same(a: Iterable[tuple[Any, Any]], b: Iterable[tuple[Any, Any]]) -> bool:
    return all(x[0] is y[0] and x[1] is y[1] for x, y in zip(a, b, strict=True))
