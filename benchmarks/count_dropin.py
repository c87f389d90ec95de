"""Instruction counts of the drop-in vs the raw SDK, for callgrind (load-independent).

    valgrind --tool=callgrind python benchmarks/count_dropin.py SIDE KIND N

runs N chat calls (KIND ``chat``) or N 200-chunk streams (``stream``) of SIDE: ``raw`` (the SDK
on its default HTTP client and the canned mock of :mod:`_canned`), ``echo`` (the drop-in on the
echo provider) or ``router`` (``router.chat`` / ``chat_stream`` on echo, no SDK). The figure per
call is (instructions with N) minus (instructions with N = 0), divided by N.
"""

from __future__ import annotations

import sys

import openai
from _canned import BASE, KEY, MESSAGES, MODEL, STREAM_CHUNKS, transport

from cencori_core import Router
from cencori_core.dropin._transport import _http

ECHO_STREAM = [{"role": "user", "content": " ".join(f"tok{i}" for i in range(STREAM_CHUNKS - 1))}]


def main(side: str, kind: str, n: int) -> None:
    stream = kind == "stream"
    model, msgs = "echo/echo", ECHO_STREAM if stream else MESSAGES
    router = Router(load_entrypoints=False)
    if side == "raw":
        model, msgs = MODEL, MESSAGES
        client = openai.OpenAI(api_key=KEY, base_url=BASE, max_retries=0,
                               http_client=openai.DefaultHttpxClient(transport=transport(_http())))
    else:
        client = router.openai_client()

    def once() -> None:
        if side == "router":
            if stream:
                for _ in router.chat_stream(model=model, messages=msgs):
                    pass
            else:
                router.chat(model=model, messages=msgs)
        elif stream:
            for _ in client.chat.completions.create(model=model, messages=msgs, stream=True,
                                                    stream_options={"include_usage": True}):
                pass
        else:
            client.chat.completions.create(model=model, messages=msgs)

    for _ in range(3 + n):  # 3 warm-up calls on both sides of the subtraction
        once()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
