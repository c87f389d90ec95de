"""The model catalog: names, aliases and prefixes mapped to providers, with capabilities.

Resolution order for a name:

1. ``provider/model`` when ``provider`` is a configured or registered provider name (so ids such as
   ``ft:gpt-4o:org`` or ``meta-llama/Llama-3`` survive);
2. an exact catalog name, then an alias;
3. the longest matching provider prefix (``gpt-`` → openai, ``claude-`` → anthropic, ...).

Catalog names, aliases and provider names match without regard to case (``GPT-4o`` and
``openai/GPT-4o`` are ``gpt-4o``): the route carries the canonical id, so what a policy checks is
what is sent. A name with surrounding whitespace or control characters is refused (it would reach
the provider as a different string than the one any policy saw).

A name matched only by a prefix is sent as written and assumed to support what is asked;
capability checks apply to catalog entries only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import CencoriError, InvalidRequestError, PluginError, UnknownModelError
from .types import Route

__all__ = ["ModelInfo", "Catalog", "CAPABILITIES", "CHAT", "OPERATION_CAPABILITY"]

CAPABILITIES = frozenset({
    "chat", "streaming", "tools", "vision", "json", "reasoning", "audio_input",
    "embeddings", "images", "transcription", "speech", "moderation", "rerank",
})

# What each router operation needs from a catalog entry.
OPERATION_CAPABILITY = {
    "chat": "chat",
    "embed": "embeddings",
    "generate_image": "images",
    "transcribe": "transcription",
    "speech": "speech",
    "moderate": "moderation",
    "rerank": "rerank",
}

CHAT = frozenset({"chat", "streaming", "tools", "json"})

KNOWN_EXTRAS = {
    "openai": "openai", "xai": "openai", "deepseek": "openai", "meta": "openai",
    "openai_compatible": "openai", "azure": "openai", "anthropic": "anthropic",
    "google": "google", "vertex": "google", "mistral": "mistral", "cohere": "cohere",
    "bedrock": "bedrock",
}
"""Provider names cencori-core's own plugins register → the pip extra that installs them, so a
name such as ``bedrock/...`` without its plugin is reported as not installed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """A catalog entry."""

    name: str
    provider: str = ""
    capabilities: frozenset[str] = CHAT
    context_window: int | None = None
    max_output_tokens: int | None = None
    """Default output limit (used when an API requires ``max_tokens`` and the caller gave none)."""
    aliases: tuple[str, ...] = ()
    price_id: str | None = None
    """The model's id in the price data, when it differs from ``name``."""
    provider_data: dict[str, object] = field(default_factory=dict, compare=False)

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities


class Catalog:
    """Names, aliases and prefixes of every provider known to one router."""

    def __init__(self) -> None:
        self.models: dict[str, ModelInfo] = {}
        """Bare catalog names (``gpt-4o``) → entry."""
        self.by_provider: dict[tuple[str, str], ModelInfo] = {}
        """(provider, model id) → entry, for explicit ``provider/model`` names."""
        self.aliases: dict[str, str] = {}
        self.prefixes: list[tuple[str, str]] = []
        """(prefix, provider), longest prefix first."""
        self.providers: set[str] = set()
        self._owner: dict[str, str] = {}
        self._cache: dict[str, Route] = {}
        self._names: dict[tuple[str, str], frozenset[str]] = {}

    # ------------------------------------------------------------------ building

    def add_provider(
        self,
        provider: str,
        *,
        prefixes: Iterable[str] = (),
        models: Iterable[ModelInfo | str] = (),
        aliases: Mapping[str, str] | None = None,
        source: str = "",
        override: bool = False,
    ) -> None:
        """Add a provider's names. A name claimed twice is a :class:`PluginError`
        unless ``override`` (user configuration beats plugins)."""
        self.providers.add(provider)
        self._changed()
        who = source or provider
        for m in models:
            info = ModelInfo(name=m, provider=provider) if isinstance(m, str) else m
            if info.provider != provider:
                info = _replace(info, provider=provider)
            self._claim(info.name, who, override)
            self.models[info.name] = info
            self.by_provider[(provider, info.name)] = info
            for a in info.aliases:
                self._claim(a, who, override)
                self.aliases[a] = info.name
        for alias, target in (aliases or {}).items():
            self._claim(alias, who, override)
            self.aliases[alias] = target
        for p in prefixes:
            key = "prefix:" + p
            self._claim(key, who, override)
            self.prefixes = [x for x in self.prefixes if x[0] != p]
            self.prefixes.append((p, provider))
        self.prefixes.sort(key=lambda x: -len(x[0]))

    def add_model(self, info: ModelInfo) -> None:
        """Add one model of ``info.provider`` reachable only as ``provider/model`` (the models
        listed for a configured endpoint: the user's word, no ownership check)."""
        self.providers.add(info.provider)
        self.by_provider[(info.provider, info.name)] = info
        self._changed()

    def _changed(self) -> None:
        self._cache.clear()
        self._names.clear()

    def _claim(self, name: str, who: str, override: bool) -> None:
        prev = self._owner.get(name)
        if prev is not None and prev != who and not override:
            what = f"prefix {name[7:]!r}" if name.startswith("prefix:") else f"model {name!r}"
            raise PluginError(
                f"{what} is claimed by both {prev!r} and {who!r}; "
                "leave one plugin out (CENCORI_PLUGINS or Router(plugins=[names]), which "
                "allow-list installed plugins) or rename the model"
            )
        self._owner[name] = who

    # ------------------------------------------------------------------ lookup

    def info(self, route: Route) -> ModelInfo | None:
        return self.by_provider.get((route.provider, route.model))

    def resolve(self, name: str) -> Route:
        """Resolve a model name to a :class:`Route`, or raise :class:`UnknownModelError`."""
        route = self._cache.get(name)
        if route is not None:
            return route
        route = self._resolve(name)
        if len(self._cache) < 4096:
            self._cache[name] = route
        return route

    def _resolve(self, name: str) -> Route:
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequestError("model must be a non-empty string such as 'gpt-4o'",
                                      param="model")
        if name != name.strip() or not name.isprintable():
            raise InvalidRequestError(
                f"model {name!r} has surrounding whitespace or control characters; pass the "
                f"name alone, e.g. {name.strip()!r}", param="model")
        head, sep, tail = name.partition("/")
        if sep and tail:
            provider = head if head in self.providers else _fold(head, self.providers)
            if provider is not None:
                model = tail
                if (provider, tail) not in self.by_provider:
                    # the canonical spelling of a catalog id (``openai/GPT-4o`` is gpt-4o)
                    ids = {m for p, m in self.by_provider if p == provider}
                    model = _fold(tail, ids) or tail
                return Route(alias=None, model=model, provider=provider, via="explicit",
                             requested=name)
        key = name if name in self.models or name in self.aliases else \
            _fold(name, self.models.keys() | self.aliases.keys()) or name
        info = self.models.get(key)
        if info is not None:
            return Route(alias=None, model=info.name, provider=info.provider, via="catalog",
                         requested=name)
        target = self.aliases.get(key)
        if target is not None:
            hop = self.resolve(target)
            return Route(alias=key, model=hop.model, provider=hop.provider, via="alias",
                         requested=name)
        for prefix, provider in self.prefixes:
            if name.startswith(prefix):
                typo = self._typo(name, provider)
                if typo is not None:
                    raise UnknownModelError(
                        f"unknown model {name!r}: did you mean {typo!r}? (to send the name as "
                        f"written, call it '{provider}/{name}')", model=name, matches=[typo])
                return Route(alias=None, model=name, provider=provider, via="prefix",
                             requested=name)
        raise self.unknown(name)

    def names(self, route: Route) -> frozenset[str]:
        """Every name of the route's model, casefolded: the id, ``provider/id``, every alias that
        resolves to that id (siblings included), and the names the caller used. Access lists
        match against all of them, so a deny covers the model whatever it is called."""
        key = (route.provider, route.model)
        base = self._names.get(key)
        if base is None:
            found = {route.model, f"{route.provider}/{route.model}"}
            info = self.by_provider.get(key)
            if info is not None:
                found.update(info.aliases)
            model = route.model.casefold()
            for alias in list(self.aliases):
                try:
                    hop = self.resolve(alias)
                except CencoriError:
                    continue
                if hop.model.casefold() == model:
                    found.add(alias)
            base = frozenset(n.casefold() for n in found)
            if len(self._names) < 4096:
                self._names[key] = base
        extra = {n.casefold() for n in (route.requested, route.alias) if n}
        return base | extra if extra - base else base

    def _typo(self, name: str, provider: str) -> str | None:
        """The catalog name of ``provider`` that ``name`` misspells by one letter (dropped,
        added, changed or swapped: ``claude-sonet-4``), else None. Edits of digits are not
        typos: ``gpt-4.2`` next to ``gpt-4.1`` is a newer model, which the prefix routes."""
        if len(name) < 6 or (provider, name) in self.by_provider:
            return None
        folded = name.casefold()
        for (p, known) in self.by_provider:
            if p == provider and _one_letter_apart(folded, known.casefold()):
                return known
        for alias, target in self.aliases.items():
            if _one_letter_apart(folded, alias.casefold()) and \
                    self.models.get(target, None) is not None and \
                    self.models[target].provider == provider:
                return alias
        return None

    def unknown(self, name: str) -> UnknownModelError:
        head, sep, _ = name.partition("/")
        if sep and head not in self.providers and head.casefold() in KNOWN_EXTRAS:
            extra = KNOWN_EXTRAS[head.casefold()]
            return UnknownModelError(
                f"unknown model {name!r}: provider {head!r} is not installed (or left out by "
                f"Router(plugins=[...]) / CENCORI_PLUGINS); pip install "
                f"\"cencori-core[{extra}]\". Installed providers: "
                f"{', '.join(sorted(self.providers)) or 'none'}", model=name, matches=[])
        known = sorted(set(self.models) | set(self.aliases))
        matches = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        parts = [f"unknown model {name!r}"]
        if matches:
            parts.append("did you mean " + ", ".join(repr(m) for m in matches) + "?")
        providers = sorted(self.providers)
        parts.append(
            "installed providers: " + (", ".join(providers) if providers else "none")
            + "; name a model as 'provider/model' to pick one explicitly"
        )
        return UnknownModelError("; ".join(parts), model=name, matches=matches)


def _one_letter_apart(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one letter dropped, added, changed or two letters
    swapped (a Damerau edit of distance 1 that touches letters only)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):  # one letter added in b at i
        return b[i].isalpha() and a[i:] == b[i + 1:]
    if a[i + 1:] == b[i + 1:]:  # one letter changed at i
        return a[i].isalpha() and b[i].isalpha()
    # two neighbours swapped
    return (i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]
            and a[i].isalpha() and a[i + 1].isalpha())


def _fold(name: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` equal to ``name`` regardless of case, else None."""
    folded = name.casefold()
    for n in names:
        if n.casefold() == folded:
            return n
    return None


def _replace(info: ModelInfo, **kw: object) -> ModelInfo:
    from dataclasses import replace

    return replace(info, **kw)  # type: ignore[arg-type]
