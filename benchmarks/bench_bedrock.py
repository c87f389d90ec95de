"""Router overhead over the raw boto3 ``bedrock-runtime`` client on the same loopback server.

boto3 has no pluggable in-memory transport, so both sides talk HTTP to one loopback Bedrock
server (``tests/support/bedrock_wire.py``: Converse JSON, ConverseStream event-stream frames).
The server runs in a **separate process**, so the CPU time measured here (``time.process_time``
of this process, all threads) is client work only: boto3 signing, sending, parsing, plus what
the router adds. Raw and router batches alternate (:mod:`_harness`).

    .venv/bin/python benchmarks/bench_bedrock.py [--quick]

Measured: chat (µs per call), streaming chat (µs per chunk, a 200-chunk stream) and async chat
at concurrency 32 (calls per CPU-second). boto3 is synchronous, so the raw async side is what a
boto3 user writes: ``loop.run_in_executor`` on a thread pool of the same size as the router's
(``max_concurrency``), which is how the plugin's async path works too.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from _harness import alternate, alternate_async, ratio_row, stat
from botocore.config import Config

from cencori_core import RetryPolicy, Router

ROOT = Path(__file__).resolve().parent.parent
MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
TEXT = "Hello, how are you today?"
MESSAGES = [{"role": "user", "content": TEXT}]
RAW_MESSAGES = [{"role": "user", "content": [{"text": TEXT}]}]
KEY_ID, SECRET, REGION = "AKIAIOSFODNN7EXAMPLE", "bench/secret/key/0000000000000000000", "us-east-1"
STREAM_CHUNKS = 200
CONCURRENCY = 32

_SERVER = f"""
import sys, time
sys.path[:0] = [{str(ROOT / 'tests')!r}, {str(ROOT / 'tests' / 'support')!r}]
from bedrock_wire import BedrockServer, Turn
mode = sys.argv[1]
with BedrockServer() as s:
    if mode == "stream":
        s.default = Turn(text=" ".join(f"tok{{i}}" for i in range({STREAM_CHUNKS})))
    else:
        s.default = Turn(text="I am fine, thank you!")
    s.signed = lambda rec: True  # the benchmark measures the client; skip the regex per call
    s._httpd.socket.listen(512)  # 2 x {CONCURRENCY} connections open at once (default backlog: 5)
    print(s.base_url, flush=True)
    sys.stdin.read()
"""


def _server(mode: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def make_raw(url: str) -> Any:
    return boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                         region_name=REGION).client(
        "bedrock-runtime", endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      max_pool_connections=CONCURRENCY))


def make_router(url: str) -> Router:
    return Router(providers={"bedrock": {"region": REGION, "aws_access_key_id": KEY_ID,
                                         "aws_secret_access_key": SECRET, "endpoint_url": url,
                                         "max_concurrency": CONCURRENCY}},
                  plugins=["bedrock"], retry=RetryPolicy(max_attempts=1))


def run(quick: bool = False) -> dict[str, Any]:
    rounds = 21 if quick else 61
    chat_proc, chat_url = _server("chat")
    stream_proc, stream_url = _server("stream")
    try:
        raw, router = make_raw(chat_url), make_router(chat_url)
        raw_s, router_s = make_raw(stream_url), make_router(stream_url)
        pool = ThreadPoolExecutor(CONCURRENCY)
        name = f"bedrock/{MODEL}"

        def raw_stream() -> None:
            for _ in raw_s.converse_stream(modelId=MODEL, messages=RAW_MESSAGES)["stream"]:
                pass

        def router_stream() -> None:
            with router_s.chat_stream(model=name, messages=MESSAGES) as s:
                for _ in s:
                    pass

        async def raw_async() -> None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(pool, lambda: raw.converse(modelId=MODEL,
                                                                  messages=RAW_MESSAGES))

        async def router_async() -> None:
            await router.achat(model=name, messages=MESSAGES)

        chat = alternate({"raw": lambda: raw.converse(modelId=MODEL, messages=RAW_MESSAGES),
                          "router": lambda: router.chat(model=name, messages=MESSAGES)},
                         10, rounds, warmup=30)
        stream = alternate({"raw": raw_stream, "router": router_stream}, 1, rounds,
                           per=STREAM_CHUNKS, warmup=3)
        conc = alternate_async({"raw": raw_async, "router": router_async}, 256, CONCURRENCY,
                               5 if quick else 11, warmup=20)
        router.close()
        router_s.close()
        pool.shutdown()
    finally:
        for proc in (chat_proc, stream_proc):
            proc.communicate("")
    s = {k: stat(v) for k, v in chat.items()}
    st = {k: stat(v) for k, v in stream.items()}
    ac = {k: stat(v, high=True) for k, v in conc.items()}
    table = "\n".join([
        "| measurement | raw boto3 client | through the router | ratio | target |",
        "|---|---|---|---|---|",
        ratio_row("chat (Converse), µs per call", s["raw"], s["router"], "< 1.05"),
        ratio_row(f"streaming (ConverseStream), µs per chunk ({STREAM_CHUNKS}-chunk stream)",
                  st["raw"], st["router"], "< 1.05", 2),
        ratio_row(f"async chat at concurrency {CONCURRENCY}, calls per CPU-second (raw: "
                  "run_in_executor on a pool of the same size)", ac["raw"], ac["router"],
                  "≥ 0.95", 0),
    ])
    return {"ratios": {"chat": s["router"].best / s["raw"].best,
                       "stream": st["router"].best / st["raw"].best,
                       "async": ac["router"].best / ac["raw"].best},
            "markdown": table}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
