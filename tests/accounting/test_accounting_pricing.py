"""Cost from usage: known prices (cache reads and writes, tiers, audio, characters), equality
with genai-prices on its whole data set, unpriced models, overrides, and costs through the
router on both drivers."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price, data_snapshot
from parity import MODES, call, stream

from cencori_core import (
    BudgetExceededError,
    ConfigurationError,
    Cost,
    RateLimitExceededError,
    Router,
    Usage,
    hookimpl,
)
from cencori_core.accounting.pricing import PROVIDER_IDS, Pricing
from cencori_core.testing import FakeProvider, reply

D = Decimal
USER = [{"role": "user", "content": "Hello there"}]


def cost(provider, model, usage, op="chat", **over):
    c, reason = Pricing(over or None).cost(provider, model, usage, op)
    assert reason is None, reason
    return c


def test_openai_cache_reads_are_part_of_the_prompt_and_charged_once():
    # 1000 prompt tokens of which 500 cached: 500 at $2.50/M + 500 at $1.25/M; 100 out at $10/M
    c = cost("openai", "gpt-4o", Usage.of(1000, 100, cached_tokens=500))
    assert c.cached_input == D("0.000625")
    assert c.input == D("0.00125") + D("0.000625")
    assert c.output == D("0.001")
    assert c.total == D("0.002875") == c.input + c.output
    assert c.cache_write == 0


def test_anthropic_cache_writes_and_reads():
    # 10,000 prompt: 2,000 read ($0.30/M), 3,000 written ($3.75/M), 5,000 plain ($3/M)
    c = cost("anthropic", "claude-sonnet-4",
             Usage.of(10_000, 500, cached_tokens=2_000, cache_write_tokens=3_000))
    assert c.cached_input == D("0.0006")
    assert c.cache_write == D("0.01125")
    assert c.input == D("0.015") + D("0.0006") + D("0.01125")
    assert c.output == D("0.0075")
    assert c.total == D("0.03435")


def test_tiered_prices_switch_on_the_whole_prompt():
    below = cost("anthropic", "claude-sonnet-4-5", Usage.of(200_000, 1000))
    above = cost("anthropic", "claude-sonnet-4-5", Usage.of(200_001, 1000))
    assert below.input == D("0.6") and below.output == D("0.015")
    assert above.input == D("200001") * 6 / 1_000_000 and above.output == D("0.0225")


def test_reasoning_tokens_are_inside_completion_tokens():
    plain = cost("openai", "gpt-4o", Usage.of(100, 50))
    reasoning = cost("openai", "gpt-4o", Usage.of(100, 50, reasoning_tokens=30))
    assert plain == reasoning


def test_cache_tokens_without_their_own_price_cost_plain_input():
    # gpt-4o has no cache-write price: written tokens are plain input (as genai-prices does)
    c = cost("openai", "gpt-4o", Usage.of(1000, 0, cache_write_tokens=400))
    assert c.input == D("0.0025") and c.cache_write == 0


def test_audio_characters_and_embeddings():
    whisper = cost("openai", "whisper-1", Usage(audio_seconds=90), "transcribe")
    assert whisper.total == D("0.009") == whisper.input  # $0.006 per minute
    tts = cost("openai", "tts-1", Usage(characters=2000), "speech")
    assert tts.total == D("0.03")  # $15 per million characters
    emb = cost("openai", "text-embedding-3-small", Usage.of(5000, 0), "embed")
    assert emb.total == D("0.0001")
    mod = cost("openai", "omni-moderation-latest", Usage.of(10, 0), "moderate")
    assert mod == Cost()  # listed in the data with nothing to pay


def test_unpriced_is_none_with_a_reason_never_zero():
    p = Pricing()
    for args in [("openai", "no-such-model-xyz", Usage.of(10, 10)),
                 ("echo", "echo", Usage.of(10, 10)),
                 ("someprovider", "m", Usage.of(10, 10)),
                 ("openai", "dall-e-3", Usage(images=1), "generate_image"),
                 ("openai", "whisper-1", Usage(), "transcribe")]:
        c, reason = p.cost(*args)
        assert c is None and reason, args


def test_overrides_win_and_price_other_units():
    p = Pricing({"gpt-4o": {"input": 1, "output": 2, "cache_read": "0.5"},
                 "dall-e-3": {"per_image": "0.04"},
                 "my/tts": {"per_million_characters": 10},
                 "stt": {"per_audio_second": "0.0001"}})
    c, _ = p.cost("openai", "gpt-4o", Usage.of(1_000_000, 1_000_000, cached_tokens=500_000))
    assert c.input == D("0.5") + D("0.25") and c.output == D(2)
    assert p.cost("openai", "dall-e-3", Usage(images=3), "generate_image")[0].total == D("0.12")
    assert p.cost("my", "tts", Usage(characters=1000), "speech")[0].total == D("0.01")
    assert p.cost("x", "stt", Usage(audio_seconds=30), "transcribe")[0].total == D("0.003")


@pytest.mark.parametrize("bad, match", [
    ({"m": {"input": 1}}, "both 'input' and 'output'"),
    ({"m": {"input": 1, "output": -1}}, "non-negative"),
    ({"m": {"input": "x", "output": 1}}, "non-negative number"),
    ({"m": {"inptu": 1, "output": 1}}, "unknown key"),
    ({"m": 3}, "table of USD prices"),
])
def test_bad_overrides_are_configuration_errors(bad, match):
    with pytest.raises(ConfigurationError, match=match):
        Pricing(bad)


def _our_models():
    ids = set(PROVIDER_IDS.values())
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id not in ids:
            continue
        ours = next(k for k, v in PROVIDER_IDS.items() if v == provider.id)
        for model in provider.models:
            yield ours, provider.id, model.id


def test_equals_genai_prices_on_the_whole_data_set():
    """Our fast path gives genai-prices' own result, to the last digit, for every model of our
    providers and a spread of usages (cache reads and writes, past the tiers)."""
    rng = random.Random(8)
    pricing = Pricing()
    checked = 0
    for ours, pid, model in _our_models():
        for _ in range(4):
            prompt = rng.choice([0, 7, 1234, 150_000, 250_000, 1_300_000])
            cached = rng.randint(0, prompt // 2)
            written = rng.randint(0, (prompt - cached) // 2)
            completion = rng.choice([0, 1, 999, 40_000])
            usage = Usage.of(prompt, completion, cached_tokens=cached,
                             cache_write_tokens=written)
            mine, reason = pricing.cost(ours, model, usage)
            try:
                ref = calc_price(GUsage(input_tokens=prompt, output_tokens=completion,
                                        cache_read_tokens=cached or None,
                                        cache_write_tokens=written or None),
                                 model, provider_id=pid)
            except (LookupError, ValueError):
                continue
            if mine is None:
                # only models priced by something we do not report (e.g. audio seconds)
                assert "did not report" in reason, (model, reason)
                continue
            assert mine.total == ref.total_price, (model, usage)
            assert mine.input == ref.input_price and mine.output == ref.output_price, model
            checked += 1
    assert checked > 200


@pytest.fixture
def priced():
    """A fake provider named openai: its calls are priced from genai-prices' openai data."""
    fake = FakeProvider(name="openai", models=["gpt-4o"])
    records = []

    class Sink:
        @hookimpl
        def cencori_record_usage(self, context, record):
            records.append(record)

    router = Router(providers={"openai": fake}, load_entrypoints=False, plugins=[Sink()])
    yield router, fake, records
    router.close()


@pytest.mark.parametrize("mode", MODES)
def test_router_prices_calls_and_records_the_same_cost(priced, mode):
    router, fake, records = priced
    usage = Usage.of(1000, 100, cached_tokens=500)
    fake.script(reply("Hi", usage=usage), reply("Hi", usage=usage))
    r = call(router, mode, "chat", model="gpt-4o", messages=USER)
    _, s = stream(router, mode, model="gpt-4o", messages=USER)
    for resp in (r, s.response):
        assert resp.cost.total == D("0.002875") and resp.cost.cached_input == D("0.000625")
    assert [rec.cost for rec in records] == [r.cost, s.response.cost]


@pytest.mark.parametrize("mode", MODES)
def test_router_unpriced_model_has_reason_in_record(mode):
    records = []

    class Sink:
        @hookimpl
        def cencori_record_usage(self, context, record):
            records.append(record)

    router = Router(load_entrypoints=False, plugins=[Sink()])
    r = call(router, mode, "chat", model="echo/echo", messages=USER)
    assert r.cost is None
    assert records[0].cost is None and "no prices" in records[0].cost_reason


@pytest.mark.parametrize("mode", MODES)
def test_router_price_overrides(mode):
    fake = FakeProvider(name="local", models=["mine"])
    router = Router(providers={"local": fake}, load_entrypoints=False,
                    prices={"mine": {"input": 1, "output": 3}})
    fake.script(reply("ok", usage=Usage.of(2_000_000, 1_000_000)))
    r = call(router, mode, "chat", model="mine", messages=USER)
    assert r.cost.total == D(5) and r.cost.input == D(2)


def test_toml_prices_and_accounting_tables(tmp_path):
    cfg = tmp_path / "cencori.toml"
    cfg.write_text('[prices.mine]\ninput = 1\noutput = 3\n'
                   '[ledger]\npath = "usage.db"\n'
                   '[[budgets]]\nproject = "acme"\nlimit = "25"\nwindow = "day"\n'
                   '[[rate_limits]]\nuser = "*"\nrpm = 10\n')
    fake = FakeProvider(models=["mine"])
    router = Router.from_config(cfg, load_entrypoints=False, providers={"fake": fake})
    try:
        assert router.usage.ledger.path == str(tmp_path / "usage.db")
        router.projects.create("acme")
        # [[budgets]]: $5 a call (the [prices.mine] table) fits five times in $25, not six
        fake.script(*[reply("ok", usage=Usage.of(2_000_000, 1_000_000))] * 6)
        for _ in range(5):
            router.chat(model="mine", messages=USER, project="acme", max_tokens=1_000_000)
        with pytest.raises(BudgetExceededError):
            router.chat(model="mine", messages=USER, project="acme", max_tokens=1_000_000)
        # [[rate_limits]]: every user has 10 requests a minute (the five above had no user)
        for _ in range(10):
            router.chat(model="echo/echo", messages=USER, user="u1")
        with pytest.raises(RateLimitExceededError):
            router.chat(model="echo/echo", messages=USER, user="u1")
    finally:
        router.close()
    cfg.write_text('[redis]\nurl = "redis://127.0.0.1:1/0"\nbudget_fail_mod = "open"\n')
    with pytest.raises(ConfigurationError, match="unknown key"):
        Router.from_config(cfg, load_entrypoints=False)


@pytest.mark.parametrize("mode", MODES)
def test_router_prices_audio_speech_and_embeddings(mode):
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:  # a quarter of a second of silence
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 2000)
    fake = FakeProvider(name="openai", models=["whisper-1", "tts-1", "text-embedding-3-small"])
    router = Router(providers={"openai": fake}, load_entrypoints=False)
    tr = call(router, mode, "transcribe", "whisper-1", buf.getvalue())
    assert tr.usage.audio_seconds == 0.25 and tr.cost.total == D("0.36") / 3600 / 4
    sp = call(router, mode, "speech", "tts-1", "x" * 1000, voice="alloy")
    assert sp.usage.characters == 1000 and sp.cost.total == D("0.015")
    emb = call(router, mode, "embed", "text-embedding-3-small", ["one two three", "four"])
    assert emb.usage.prompt_tokens == 4 and emb.cost.total == D("0.02") * 4 / 1_000_000
    router.close()
