"""The fast async transport over real sockets (issue 19 item 5).

A minimal HTTP/1.1 keep-alive server answering canned OpenAI chat completions runs in its own
process on loopback (pinned to another core when the machine has more than one); the client
process drives each side at concurrency 100 and measures wall-clock throughput (calls/s) and
its own CPU per call (``time.process_time``, all its threads):

* raw openai SDK, default client (httpx2 over httpcore)            — the baseline
* raw openai SDK on its aiohttp client (``DefaultAioHttpClient``)
* the router with the fast transport off (``fast_transport=false``) — before
* the router with the fast transport (the default with ``[fast]``)   — after
* the router on its chat fast path with the SDK bypassed is not a side: every call builds its
  request through the SDK; ``openai SDK client.post + json`` shows what that costs
* plain aiohttp + json                                             — the floor for Python

    python benchmarks/bench_transport.py [--calls 3000] [--concurrency 100] [--rounds 3]

Each side runs ``rounds`` times, alternating, after a warm-up; the best round is reported
(the machine is shared: the best round is the least disturbed one) with the median beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _canned import COMPLETION, KEY, MESSAGES, MODEL  # noqa: E402

_RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
             b"content-length: " + str(len(COMPLETION)).encode() + b"\r\n\r\n" + COMPLETION)


# ---------------------------------------------------------------------------- the server


class _Http(asyncio.Protocol):
    """Just enough HTTP/1.1: keep-alive, requests with a content-length body, one canned
    answer each (pipelined requests are answered in order)."""

    def connection_made(self, transport: Any) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            i = head.find(b"content-length:")
            length = int(head[i + 15:head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0
                              else len(head)]) if i >= 0 else 0
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            self.t.write(_RESPONSE)


def _serve(port_out: Any, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Http, "127.0.0.1", 0, backlog=1024)
        port_out.send(server.sockets[0].getsockname()[1])
        await asyncio.sleep(3600)  # the parent terminates us

    asyncio.run(main())


# ---------------------------------------------------------------------------- the clients


async def _drive(call: Callable[[], Awaitable[Any]], calls: int, concurrency: int,
                 ) -> tuple[float, float]:
    """(calls per second, CPU µs per call) for ``calls`` calls, ``concurrency`` at a time."""
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return calls / wall, cpu / calls * 1e6


def _sides(base: str) -> dict[str, Callable[[], Any]]:
    """Each side: a factory (called inside the event loop) returning (call, close)."""
    body = {"model": MODEL, "messages": MESSAGES}

    def sdk(aio: bool) -> Any:
        import openai

        http = openai.DefaultAioHttpClient() if aio else None
        client = openai.AsyncOpenAI(api_key=KEY, base_url=base, max_retries=0, http_client=http)

        async def call() -> Any:
            return await client.chat.completions.create(model=MODEL, messages=MESSAGES)

        return call, client.close

    def sdk_post() -> Any:
        import openai

        client = openai.AsyncOpenAI(api_key=KEY, base_url=base, max_retries=0,
                                    http_client=openai.DefaultAioHttpClient())

        async def call() -> Any:
            return await client.post("/chat/completions", cast_to=object, body=body)

        return call, client.close

    def router(fast: bool) -> Any:
        from cencori_core import Router

        r = Router(providers={"openai": {"api_key": KEY, "base_url": base,
                                         "fast_transport": fast}}, plugins=["openai"])

        async def call() -> Any:
            return await r.achat(model=MODEL, messages=MESSAGES)

        return call, r.aclose

    def plain() -> Any:
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        url = base + "/chat/completions"
        headers = {"authorization": f"Bearer {KEY}"}

        async def call() -> Any:
            async with session.post(url, data=json.dumps(body), headers={
                    **headers, "content-type": "application/json"}) as resp:
                return json.loads(await resp.read())

        return call, session.close

    return {
        "raw openai SDK, default client (httpx2)": lambda: sdk(False),
        "raw openai SDK on aiohttp (DefaultAioHttpClient)": lambda: sdk(True),
        "router, fast transport off (before)": lambda: router(False),
        "router, fast transport on (after)": lambda: router(True),
        "openai SDK client.post + JSON on aiohttp (no models)": sdk_post,
        "plain aiohttp + json": plain,
    }


async def _run_side(make: Callable[[], Any], calls: int, concurrency: int,
                    warmup: int) -> tuple[float, float]:
    call, close = make()
    try:
        await _drive(call, warmup, concurrency)
        return await _drive(call, calls, concurrency)
    finally:
        out = close()
        if asyncio.iscoroutine(out):
            await out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[-1], cpus[0]) if len(cpus) > 1 else (None, None)
    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    server = ctx.Process(target=_serve, args=(send, server_cpu), daemon=True)
    server.start()
    port = recv.recv()
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    base = f"http://127.0.0.1:{port}/v1"
    with socket.create_connection(("127.0.0.1", port)):
        pass
    sides = _sides(base)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    try:
        for _ in range(args.rounds):
            for name, make in sides.items():
                results[name].append(asyncio.run(
                    _run_side(make, args.calls, args.concurrency, warmup=300)))
    finally:
        server.terminate()
        server.join()

    base_rate = max(r for r, _ in results["raw openai SDK, default client (httpx2)"])
    floor_cpu = min(c for _, c in results["plain aiohttp + json"])
    print(f"concurrency {args.concurrency}, {args.calls} calls per round, best of "
          f"{args.rounds} rounds (median in brackets); server in another process"
          + (f" on CPU {server_cpu}, client on CPU {client_cpu}" if server_cpu is not None
             else ""))
    print()
    print("| side | calls/s | CPU µs per call | throughput vs raw SDK | CPU vs plain aiohttp |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        rate = max(r for r, _ in rows)
        cpu = min(c for _, c in rows)
        print(f"| {name} | {rate:,.0f} ({statistics.median(r for r, _ in rows):,.0f}) | "
              f"{cpu:,.0f} ({statistics.median(c for _, c in rows):,.0f}) | "
              f"{rate / base_rate:.2f}x | {cpu / floor_cpu:.2f}x |")


if __name__ == "__main__":
    main()
