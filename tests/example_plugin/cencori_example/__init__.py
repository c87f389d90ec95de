"""A third-party cencori plugin using only the public API of cencori_core.

``example`` (models ``example-*``) reverses the last user message, offline. ``example_api``
(models ``exapi-*``) talks to a small JSON API over HTTP, built on the provider toolkit
(:mod:`cencori_example._api`); the tests run the conformance kit against it and its wire server.
"""

from __future__ import annotations

from cencori_core import ChatChunk, ChatResponse, ModelInfo, Provider, Usage, hookimpl


class ExampleProvider(Provider):
    offline = True

    def _text(self, request):
        last = [m for m in request.messages if m.role == "user"][-1].text
        return last[::-1]

    def chat(self, request):
        text = self._text(request)
        return ChatResponse(content=text, usage=Usage.of(len(request.messages), len(text)))

    async def achat(self, request):
        return self.chat(request)

    def chat_stream(self, request):
        for ch in self._text(request):
            yield ChatChunk(delta=ch)
        yield ChatChunk(finish_reason="stop")

    async def achat_stream(self, request):
        for c in self.chat_stream(request):
            yield c


def make_api_provider(config):
    from ._api import ExampleAPIProvider  # imports httpx: only when the provider is used

    return ExampleAPIProvider(config)


@hookimpl
def cencori_register_providers(register):
    register("example", ExampleProvider, prefixes=("example-",),
             models=(ModelInfo(name="example-reverse", context_window=1000),),
             aliases={"reverser": "example-reverse"}, requires_key=False)
    register("example_api", make_api_provider, prefixes=("exapi-",),
             models=(ModelInfo(name="exapi-reverse", context_window=1000,
                               capabilities=frozenset({"chat", "streaming", "tools"})),),
             env_keys=("EXAMPLE_API_KEY",), env_base_url="EXAMPLE_API_BASE_URL")
