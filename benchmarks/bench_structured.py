"""Structured output and the common parameters (issue 17): what they cost per call.

On the echo provider (no transport, so the router's own work is all there is), CPU time per
call, alternating batches (see ``_harness.py``):

- a plain chat call (the path every call takes: it now also fills ``choices``);
- the same with every common parameter set (their checks and the echo's n/logprobs);
- ``response_format=<pydantic model>``: schema (cached per type) + ``validate_json`` of the
  answer, against the same JSON-schema dict (no validation).

Run: ``.venv/bin/python benchmarks/bench_structured.py [--quick]``.
"""

from __future__ import annotations

import sys

from _harness import alternate, machine, stat
from pydantic import BaseModel

from cencori_core import Router


class City(BaseModel):
    name: str
    population: int
    country: str


def main() -> None:
    quick = "--quick" in sys.argv
    n, rounds = (100, 10) if quick else (300, 25)
    r = Router(load_entrypoints=False, telemetry=False)
    text = '{"name": "Paris", "population": 2100000, "country": "France"}'
    msgs = [{"role": "user", "content": text}]
    schema = City.model_json_schema()
    as_dict = {"type": "json_schema", "json_schema": {"name": "City", "schema": schema}}
    sides = {
        "plain": lambda: r.chat(model="echo/echo", messages=msgs),
        "common params": lambda: r.chat(
            model="echo/echo", messages=msgs, reasoning_effort="low", max_completion_tokens=99,
            presence_penalty=0.1, frequency_penalty=0.1, n=1, stream_options={}),
        "json-schema dict": lambda: r.chat(model="echo/echo", messages=msgs,
                                           response_format=as_dict),
        "pydantic type": lambda: r.chat(model="echo/echo", messages=msgs, response_format=City),
    }
    samples = alternate(sides, n, rounds, warmup=50)
    base = stat(samples["plain"])
    print(f"machine: {machine()}; {rounds} alternating batches of {n} calls")
    print("| call (echo provider) | µs per call, best fifth | median | p10–p90 | vs plain |")
    print("|---|---|---|---|---|")
    for name, s in ((k, stat(v)) for k, v in samples.items()):
        print(f"| {name} | {s.best:.1f} | {s.median:.1f} | {s.spread()} | "
              f"{s.best / base.best:.2f} |")


if __name__ == "__main__":
    main()
