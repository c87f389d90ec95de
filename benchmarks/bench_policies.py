"""Cost of the built-in policies on a 2,000-character prompt.

The default set (``default_policies()``: Secrets block, PII redact, PromptInjection flag) runs
through the router's own hook call (``cencori_pre_request`` on a ``CallContext``), exactly as
in a call, on a clean prompt (the common case: nothing to change) and on one with values to
redact. Each policy is also timed alone, and the whole ``router.chat`` on the echo provider
with and without the set, plus the per-chunk cost of redaction on a stream. Times are process
CPU time (other processes on a shared machine do not count), median of batches.

    .venv/bin/python benchmarks/bench_policies.py [--quick]

Target: the default set under 50 µs per clean 2,000-character prompt.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from cencori_core import CallContext, ChatRequest, Message, Router
from cencori_core.policies import PII, PromptInjection, Secrets, default_policies
from cencori_core.testing import FakeProvider

_clock = time.process_time
TARGET_US = 50.0

_WORDS = ("the of and to in is you that it was for on are as with his they at be this have "
          "from or one had by word but not what all were we when your can said there use an "
          "each which she do how their if will up other about out many then them these so "
          "some her would make like him into time has look two more write go see number no "
          "way could people my than first water been call who oil its now find long down day "
          "did get come made may part report customer order invoice meeting Monday project "
          "please summary review").split()


def prompt(size: int = 2000, *, seed: int = 7) -> str:
    """Deterministic prose with numbers and punctuation, as a user would write it."""
    rnd = random.Random(seed)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < size:
        w = rnd.choice(_WORDS)
        r = rnd.random()
        if r < 0.04:
            w = str(rnd.randint(1, 5000))
        elif r < 0.10:
            w += rnd.choice(".,;:?!")
        words.append(w)
    return " ".join(words)[:size]


CLEAN = prompt()
DIRTY = (CLEAN[:1500] + " mail jane.doe@example.com, card 4111 1111 1111 1111, "
         "call +1 (415) 555-0100 ")[:2000]


def per_call(fn: Callable[[], Any], n: int, batches: int) -> float:
    """Median µs per call over ``batches`` batches of ``n`` calls."""
    times = []
    for _ in range(batches):
        t0 = _clock()
        for _ in range(n):
            fn()
        times.append((_clock() - t0) / n * 1e6)
    return statistics.median(times)


def hook_cost(policies: list[Any], text: str, n: int, batches: int) -> float:
    """µs per ``cencori_pre_request`` round through the router's plugin manager."""
    router = Router(load_entrypoints=False, policies=policies)
    hook = router.plugin_manager.hook.cencori_pre_request
    request = ChatRequest(model="echo", messages=[Message(role="user", content=text)])
    route = router.resolve("echo/echo")
    contexts: list[CallContext] = []

    def one() -> None:
        ctx = contexts.pop()
        hook(context=ctx)

    times = []
    for _ in range(batches):
        for _ in range(n):
            ctx = CallContext(router, "chat", request)
            ctx.route = route
            contexts.append(ctx)
        t0 = _clock()
        for _ in range(n):
            one()
        times.append((_clock() - t0) / n * 1e6)
    return statistics.median(times)


def chat_cost(policies: list[Any], text: str, n: int, batches: int) -> float:
    router = Router(load_entrypoints=False, policies=policies)
    messages = [{"role": "user", "content": text}]
    return per_call(lambda: router.chat(model="echo/echo", messages=messages), n, batches)


def stream_chunk_cost(policies: list[Any], n: int, batches: int) -> float:
    """µs per provider chunk of a 400-chunk stream (5 characters each), whole stream included
    (policies that hold text back deliver fewer, larger chunks)."""
    fake = FakeProvider(prefixes=("",), chunk_size=5)
    router = Router(providers={"fake": fake}, load_entrypoints=False, policies=policies)
    answer = CLEAN[:2000]
    messages = [{"role": "user", "content": "hi"}]

    def run() -> None:
        fake.script(answer)
        with router.chat_stream(model="m", messages=messages) as s:
            for _ in s:
                pass

    chunks = len(answer) // 5 + 1  # the text chunks and the finish chunk
    return per_call(run, n, batches) / chunks


def run(quick: bool = False) -> dict[str, Any]:
    """The measurements as numbers plus a ``markdown`` table."""
    n, batches = (200, 5) if quick else (2000, 15)
    rows = [
        ("default set, clean prompt", default_policies, CLEAN),
        ("default set, prompt with 3 values to redact", default_policies, DIRTY),
        ("Secrets() alone", lambda: [Secrets()], CLEAN),
        ("PII() alone", lambda: [PII()], CLEAN),
        ("PromptInjection() alone", lambda: [PromptInjection()], CLEAN),
        ("no policies (the hook call itself)", lambda: [], CLEAN),
    ]
    results = {label: hook_cost(make(), text, n, batches) for label, make, text in rows}
    base = chat_cost([], CLEAN, n // 4, batches)
    full = chat_cost(default_policies(), CLEAN, n // 4, batches)
    plain = stream_chunk_cost([], max(4, n // 100), batches)
    redacting = stream_chunk_cost([PII(responses=True), Secrets(responses=True)],
                                  max(4, n // 100), batches)
    verdict = results["default set, clean prompt"]
    lines = [f"Prompt: {len(CLEAN)} characters; median of {batches} batches of {n}; CPU time.",
             "", "| what | µs |", "|---|---|"]
    lines += [f"| `cencori_pre_request`: {label} | {us:.1f} |" for label, us in results.items()]
    lines += [f"| router.chat (echo), no policies | {base:.1f} |",
              f"| router.chat (echo), default set | {full:.1f} (+{full - base:.1f}) |",
              f"| stream, per chunk, no policies | {plain:.2f} |",
              f"| stream, per chunk, PII + Secrets on responses | {redacting:.2f} |", "",
              f"Default set on a clean 2,000-character prompt: {verdict:.1f} µs (target "
              f"< {TARGET_US:.0f} µs: {'met' if verdict < TARGET_US else 'NOT met'})."]
    return {"hooks": results, "chat": (base, full), "stream": (plain, redacting),
            "markdown": "\n".join(lines)}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
