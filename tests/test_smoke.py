from cencori_core import Router


def test_echo_chat_sync_and_async():
    import asyncio

    router = Router(load_entrypoints=False)
    r = router.chat(model="echo/echo", messages=[{"role": "user", "content": "Hello there"}])
    assert r.content == "echo: Hello there"
    a = asyncio.run(router.achat(model="echo", messages=[{"role": "user", "content": "Hi"}]))
    assert a.content == "echo: Hi"
