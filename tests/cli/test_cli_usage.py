"""``cencori usage``: the table with its bar chart, ``--json`` numbers, and the HTML report
(rendered in a real headless Chromium, whose screenshot must show the charts)."""

# ruff: noqa: F811  (pytest fixtures imported from cli_run are test arguments)

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from cli_run import cencori, home  # noqa: F401 (fixtures)
from openai_wire import openai_wire  # noqa: F401

from cencori_core import Cost, Usage, UsageRecord
from cencori_core.accounting.ledger import SqliteLedger

DAY = 86400
T0 = 1_780_000_000 - 9 * DAY  # a fixed past: the days on the chart are known
MODELS = [("openai", "gpt-4o", "0.0025", "0.01"),
          ("anthropic", "claude-sonnet-4", "0.003", "0.015"),
          ("google", "gemini-2.5-flash", "0.0003", "0.0025"),
          ("echo", "echo", None, None)]
PROJECTS = ["acme", "globex", "initech", None]


def fill_ledger(path: Path, *, saved: bool = False) -> dict[str, Decimal]:
    """Ten days of calls on four models and four projects, written through the ledger's own
    writer; returns the exact cost per model."""
    ledger = SqliteLedger(path)
    costs: dict[str, Decimal] = {}
    n = 0
    for day in range(10):
        for m, (provider, model, pin, pout) in enumerate(MODELS):
            for k in range(1 + (day * 7 + m * 3) % 4):
                p, c = 1000 + 137 * k + 50 * day, 200 + 31 * day + 11 * m
                cost = None
                if pin is not None:
                    cin, cout = Decimal(pin) * p / 1000, Decimal(pout) * c / 1000
                    cost = Cost(input=cin, output=cout, total=cin + cout)
                    costs[model] = costs.get(model, Decimal(0)) + cost.total
                ledger.add(UsageRecord(
                    request_id=f"r{n}", project=PROJECTS[n % 4], provider=provider, model=model,
                    operation="chat", usage=Usage(prompt_tokens=p, completion_tokens=c,
                                                  total_tokens=p + c),
                    cost=cost, status="error" if n % 13 == 5 else "ok", latency_ms=50.0,
                    attempts=[], time=T0 + day * DAY + 3600 * k,
                    cost_reason=None if cost else "no price for echo"))
                n += 1
    ledger.close()
    if saved:
        # The response cache's savings, in the ledger's cache_hit / saved_cost columns.
        from cencori_core.stores.sqlite import connect

        conn = connect(path)
        conn.execute("UPDATE usage SET cache_hit = 1, saved_cost = '0.01' WHERE "
                     "CAST(substr(request_id, 2) AS INTEGER) % 3 = 0")
        conn.close()
    return costs


def test_usage_table_shows_cache_hits_and_savings(tmp_path, cencori):
    path = tmp_path / "ledger.db"
    fill_ledger(path, saved=True)
    out = cencori("usage", "--ledger", str(path), "--by", "provider", COLUMNS="160")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[-4:] == ["HITS", "SAVED", "COST", "CHART"]
    total = next(line for line in lines if line.split() and line.split()[0] == "TOTAL")
    import sqlite3

    with sqlite3.connect(path) as conn:
        hits = conn.execute("SELECT SUM(cache_hit) FROM usage").fetchone()[0]
    assert hits > 0 and total.split()[-2] == f"{hits:,}"


def test_usage_table_has_a_bar_per_row(tmp_path, cencori):
    path = tmp_path / "ledger.db"
    costs = fill_ledger(path)
    out = cencori("usage", "--ledger", str(path), COLUMNS="120")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "CALLS", "ERRORS", "PROMPT", "COMPLETION", "TOKENS",
                                "COST", "UNPRICED", "COST", "CHART"]
    assert max(len(line) for line in lines) <= 120
    rows = {line.split()[0]: line for line in lines[2:] if line.strip()}
    bars = {m: rows[m].count("█") for m in costs}
    top = max(costs, key=costs.__getitem__)
    # the dearest model has the longest bar; the bars follow the costs
    assert bars[top] == max(bars.values()) > 0
    assert sorted(costs, key=costs.__getitem__) == sorted(bars, key=bars.__getitem__)
    assert "█" not in rows["echo"]
    assert rows["echo"].split()[-1] == rows["echo"].split()[1]  # every echo call is unpriced
    assert rows["TOTAL"].split()[1] == str(sum(int(rows[m].split()[1]) for m in rows
                                               if m != "TOTAL"))
    out = cencori("usage", "--ledger", str(path), "--by", "day", COLUMNS="60")
    lines = out.stdout.splitlines()
    # a narrow terminal: the detail columns go, the cost and the chart stay
    assert lines[0].split() == ["DAY", "CALLS", "TOKENS", "COST", "COST", "CHART"]
    assert max(len(line) for line in lines) <= 60
    assert all("█" in line for line in lines if re.match(r"\d{4}-", line))
    days = [line.split()[0] for line in lines[2:] if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert len(days) == 10 and days == sorted(days)
    out = cencori("usage", "--ledger", str(path), "--by", "project")
    assert {"acme", "globex", "initech", "-"} <= {line.split()[0] for line in
                                                  out.stdout.splitlines()[2:] if line.strip()}


def test_usage_json_prints_numbers(tmp_path, cencori):
    path = tmp_path / "ledger.db"
    costs = fill_ledger(path)
    out = cencori("usage", "--ledger", str(path), "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["key"]: r for r in json.loads(out.stdout)}
    for model, cost in costs.items():
        assert isinstance(rows[model]["cost"], float)
        assert rows[model]["cost"] == pytest.approx(float(cost), rel=1e-12)
    assert rows["echo"]["unpriced"] == rows["echo"]["calls"] and rows["echo"]["cost"] == 0


def test_usage_of_a_missing_ledger_creates_nothing(tmp_path, home, cencori):
    out = cencori("usage")
    assert out.returncode == 0 and "no usage recorded" in out.stdout
    assert not (home / "cencori.db").exists()
    out = cencori("usage", "--ledger", str(tmp_path / "typo.db"))
    assert "no usage recorded" in out.stdout and not (tmp_path / "typo.db").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = cencori("usage", "--html", str(blocker / "report.html"))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "a-file" in out.stderr and "Traceback" not in out.stderr
    out = cencori("usage", "--ledger", "mysql://db/ledger")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "postgresql:// URL" in out.stderr
    # a PostgreSQL ledger that cannot be reached: one line, libpq's reason, no password
    out = cencori("usage", "--ledger", "postgresql://u:pw-secret-123@127.0.0.1:1/ledger")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "127.0.0.1" in out.stderr and "pw-secret-123" not in out.stderr


def test_usage_records_real_calls_with_their_cost(tmp_path, cencori, openai_wire):  # noqa: F811
    config = tmp_path / "c.toml"
    config.write_text('[providers.openai]\napi_key = "sk-test-cli-0123456789"\n'
                      f'base_url = "{openai_wire.base_url}"\n')
    openai_wire.chat_reply("ok", usage={"prompt_tokens": 2000, "completion_tokens": 500},
                           times=2)
    for _ in range(2):
        assert cencori("--config", str(config), "chat", "hi", "-m", "gpt-4o").returncode == 0
    out = cencori("usage", "--json")
    (row,) = json.loads(out.stdout)
    assert row["key"] == "gpt-4o" and row["calls"] == 2 and row["prompt_tokens"] == 4000
    assert row["cost"] == pytest.approx(2 * (2000 * 2.5 + 500 * 10) / 1e6)


# ---------------------------------------------------------------------------- HTML report


def test_html_report_is_self_contained(tmp_path, cencori):
    path = tmp_path / "ledger.db"
    costs = fill_ledger(path, saved=True)
    report = tmp_path / "out" / "report.html"
    out = cencori("usage", "--ledger", str(path), "--html", str(report))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and "wrote" in out.stderr
    text = report.read_text()
    # nothing fetched: no URL at all, no script, no external stylesheet, font or image
    assert "http" not in text and "<script" not in text and "<link" not in text
    assert "url(" not in text and "<img" not in text
    for title in ("Cost over time", "Cost by model", "Cost by project", "Tokens over time",
                  "Cache savings over time"):
        assert title in text
    assert text.count("<svg") >= 6
    for model in costs:
        assert f">{model}<" in text
    total = sum(costs.values())
    assert f"${total.quantize(Decimal('0.000001'))}".rstrip("0") in text
    # --since/--until select the period
    out = cencori("usage", "--ledger", str(path), "--html", str(report), "--since",
                  "2026-06-01")
    assert "No usage recorded in this period" in report.read_text()


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) into rows of
    RGB bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) *
                                                         (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)
                           ) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(
            v for i in range(0, stride, 4) for v in line[i:i + 3]))
        prev = line
    return width, height, rows


def _coloured(rows: list[bytes], box: tuple[int, int, int, int]) -> int:
    """Pixels in ``box`` (x0, y0, x1, y1) whose colour is saturated: chart bars. Text, grid
    lines, borders and the background are grey."""
    x0, y0, x1, y1 = box
    n = 0
    for row in rows[y0:y1]:
        for x in range(x0, x1):
            r, g, b = row[3 * x:3 * x + 3]
            n += max(r, g, b) - min(r, g, b) > 60
    return n


def _screenshot(tmp_path: Path, page: Path) -> tuple[int, int, list[bytes]]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed: scripts/test.sh installs Debian's package"
    shot = tmp_path / f"{page.stem}.png"
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium'}",
         f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and shot.exists(), out.stderr[-2000:]
    return _png_pixels(shot.read_bytes())


# The layout of the report at 1200x900 (main column 1100 px wide, centred): the cost-over-time
# chart spans the width under the headline numbers; cost by model (left) and by project (right)
# sit side by side under it.
OVER_TIME = (90, 230, 1110, 470)
BY_MODEL = (70, 590, 580, 700)
BY_PROJECT = (610, 590, 1120, 700)


def test_html_report_renders_its_charts_in_chromium(tmp_path, cencori):
    ledger = tmp_path / "ledger.db"
    fill_ledger(ledger)
    page = tmp_path / "report.html"
    assert cencori("usage", "--ledger", str(ledger), "--html", str(page)).returncode == 0
    width, height, rows = _screenshot(tmp_path, page)
    assert (width, height) == (1200, 900)
    over_time, by_model, by_project = (_coloured(rows, b) for b in
                                       (OVER_TIME, BY_MODEL, BY_PROJECT))
    # ten stacked day bars of ~70 px: tens of thousands of coloured pixels; bars of 16 px
    # height for three priced models and four projects
    assert over_time > 20_000, over_time
    assert by_model > 3_000 and by_project > 4_000, (by_model, by_project)

    # The same page without data draws no bars there: the counts above are the charts.
    empty = tmp_path / "empty.html"
    assert cencori("usage", "--ledger", str(tmp_path / "none.db"), "--html",
                   str(empty)).returncode == 0
    _, _, rows = _screenshot(tmp_path, empty)
    assert all(_coloured(rows, b) < 50 for b in (OVER_TIME, BY_MODEL, BY_PROJECT))


def test_names_are_printed_as_written_never_as_markup(tmp_path, cencori):
    """Users, projects and models are data: ``[/]`` in a user id is printed, not parsed as the
    terminal library's markup (it raised MarkupError)."""
    from cencori_core import Router

    path = tmp_path / "ledger.db"
    with Router(ledger_path=path, load_entrypoints=False) as router:
        for user in ("[/]", "[bold]ann[/bold]", "bob"):
            router.chat(model="echo/echo", messages=[{"role": "user", "content": "hi"}],
                        user=user)
    out = cencori("usage", "--ledger", str(path), "--by", "user")
    assert out.returncode == 0, out.stderr
    keys = [line.split()[0] for line in out.stdout.splitlines()[2:] if line.strip()]
    assert keys[:3] == ["[/]", "[bold]ann[/bold]", "bob"]


def test_html_report_escapes_names(tmp_path, cencori):
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path)
    ledger.add(UsageRecord(
        request_id="x1", project="<script>alert(1)</script>", provider="echo",
        model='m"<b>', operation="chat", usage=Usage(prompt_tokens=1, completion_tokens=1,
                                                     total_tokens=2),
        cost=Cost(input=Decimal("0.001"), output=Decimal("0.001"), total=Decimal("0.002")),
        status="ok", latency_ms=1.0, attempts=[], time=T0))
    ledger.close()
    report = tmp_path / "r.html"
    assert cencori("usage", "--ledger", str(path), "--html", str(report)).returncode == 0
    text = report.read_text()
    assert "<script" not in text and 'm"<b>' not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "m&quot;&lt;b&gt;" in text


def test_since_takes_a_time_ago(tmp_path, cencori):
    from cencori_core import Router

    path = tmp_path / "ledger.db"
    fill_ledger(path)  # ten days in a fixed past
    with Router(ledger_path=path, load_entrypoints=False) as router:
        router.chat(model="echo/echo", messages=[{"role": "user", "content": "now"}])
    total = sum(r["calls"] for r in json.loads(cencori("usage", "--ledger", str(path),
                                                        "--json").stdout))
    (recent,) = json.loads(cencori("usage", "--ledger", str(path), "--json", "--since",
                                   "2h").stdout)
    assert recent["calls"] == 1 and total > 1
    old = json.loads(cencori("usage", "--ledger", str(path), "--json", "--until", "1d").stdout)
    assert sum(r["calls"] for r in old) == total - 1
    out = cencori("usage", "--ledger", str(path), "--since", "7 days")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "ISO 8601" in out.stderr and "7d" in out.stderr
