"""Model resolution: explicit provider/model, catalog names, aliases, prefixes, errors."""

from __future__ import annotations

import pytest

from cencori_core import (
    InvalidRequestError,
    ModelInfo,
    PluginError,
    Router,
    UnknownModelError,
    hookimpl,
)
from cencori_core.testing import FakeProvider


class Plugin:
    def __init__(self, name, **kw):
        self.name = name
        self.kw = kw

    @hookimpl
    def cencori_register_providers(self, register):
        register(self.name, lambda cfg: FakeProvider(self.name), requires_key=False, **self.kw)


def make(*plugins, **kw):
    return Router(load_entrypoints=False, plugins=list(plugins), **kw)


def test_resolution_order_and_explanation():
    router = make(Plugin("acme", prefixes=("ac-",),
                         models=(ModelInfo(name="ac-large", aliases=("big",)),),
                         aliases={"acme-best": "ac-large"}))
    r = router.resolve("ac-large")
    assert (r.model, r.provider, r.via, r.alias) == ("ac-large", "acme", "catalog", None)
    r = router.resolve("big")
    assert (r.model, r.provider, r.via, r.alias) == ("ac-large", "acme", "alias", "big")
    assert str(r) == "alias 'big' -> model 'ac-large' -> provider 'acme' (matched by alias)"
    assert router.resolve("acme-best").model == "ac-large"
    r = router.resolve("ac-tiny-2")
    assert (r.model, r.provider, r.via) == ("ac-tiny-2", "acme", "prefix")
    r = router.resolve("acme/ft:ac-large:org:123")
    assert (r.model, r.provider, r.via) == ("ft:ac-large:org:123", "acme", "explicit")


def test_slash_ids_survive_when_prefix_is_not_a_provider():
    router = make(Plugin("local", prefixes=("meta-llama/",)))
    # "meta-llama" is no provider: the name is not split and the prefix routes it as written
    r = router.resolve("meta-llama/Llama-3-8B")
    assert (r.provider, r.model) == ("local", "meta-llama/Llama-3-8B")
    r = router.resolve("local/meta-llama/Llama-3-8B")
    assert (r.provider, r.model) == ("local", "meta-llama/Llama-3-8B")


def test_longest_prefix_wins():
    router = make(Plugin("a", prefixes=("o",)), Plugin("b", prefixes=("o3",)))
    assert router.resolve("o3-mini").provider == "b"
    assert router.resolve("omega").provider == "a"


def test_unknown_model_lists_close_matches_and_providers():
    router = make(Plugin("acme", models=("gpt-4o", "gpt-4o-mini")))
    with pytest.raises(UnknownModelError) as info:
        router.resolve("gpt-4oo")
    err = info.value
    assert isinstance(err, LookupError)
    assert err.matches[0] == "gpt-4o"
    assert "did you mean 'gpt-4o'" in str(err) and "acme" in str(err)
    with pytest.raises(UnknownModelError):
        router.chat(model="gpt-4oo", messages=[{"role": "user", "content": "x"}])


def test_two_plugins_claiming_a_name_is_an_error():
    with pytest.raises(PluginError, match="claimed by both"):
        make(Plugin("a", models=("same",)), Plugin("b", models=("same",)))
    with pytest.raises(PluginError, match="prefix 'x-'"):
        make(Plugin("a", prefixes=("x-",)), Plugin("b", prefixes=("x-",)))


def test_capabilities_are_checked_for_catalog_entries_only():
    router = make(Plugin("acme", prefixes=("ac-",), models=(
        ModelInfo(name="ac-text", capabilities=frozenset({"chat", "streaming"})),
        ModelInfo(name="ac-embed", capabilities=frozenset({"embeddings"})))))
    msg = [{"role": "user", "content": "hi"}]
    with pytest.raises(InvalidRequestError, match="does not support embeddings"):
        router.embed("ac-text", "x")
    with pytest.raises(InvalidRequestError, match="does not support chat"):
        router.chat(model="ac-embed", messages=msg)
    tools = [{"type": "function", "function": {"name": "f"}}]
    with pytest.raises(InvalidRequestError, match="does not support tools"):
        router.chat(model="ac-text", messages=msg, tools=tools)
    img = [{"role": "user", "content": [{"type": "image_url",
                                         "image_url": {"url": "https://x/a.png"}}]}]
    with pytest.raises(InvalidRequestError, match="does not accept images"):
        router.chat(model="ac-text", messages=img)
    # a prefix-only name is assumed capable and sent as written
    assert router.chat(model="ac-unknown", messages=msg, tools=tools).content
