"""Usage reports for ``cencori usage``: the terminal table with its bar chart, and the
self-contained HTML report (``cencori usage --html report.html``).

The HTML report is one file with inline CSS and inline SVG charts drawn here, no script and no
network (no CDN, no font, no image): it opens the same offline, attached to a mail or archived.
It reads the SQLite ledger with one read-only query (grouped by day, model and project in
Python, so the money stays an exact ``Decimal``); ``saved_cost`` (the response cache's savings)
is shown when the ledger has that column.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from .accounting.ledger import SummaryRow

__all__ = ["Group", "read_groups", "usage_table", "html_report", "PALETTE"]

# Tableau 10: distinct hues that stay readable on white and for most colour-blind readers.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f")
OTHER_COLOUR = "#bab0ac"
_TOP = 8  # series drawn by name in a stacked chart; the rest is "other"


# ---------------------------------------------------------------------------- data


@dataclass(slots=True)
class Group:
    """Totals of the calls of one (day, model, project)."""

    day: str
    model: str
    project: str
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)
    unpriced: int = 0
    saved: Decimal = field(default_factory=Decimal)


def read_groups(path: str, since: float | None = None,
                until: float | None = None) -> tuple[list[Group], bool]:
    """The ledger's calls grouped by (day, model, project), and whether the ledger records cache
    savings (a ``saved_cost`` column). An absent file or table has no groups."""
    if not os.path.exists(path):
        return [], False
    from .stores.sqlite import connect

    conn = connect(path)
    try:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(usage)")}
        if not columns:
            return [], False
        has_saved = "saved_cost" in columns
        from .accounting.ledger import time_window

        where, args = time_window(since, until)
        sql = ("SELECT day, model, project, status, prompt_tokens, completion_tokens, "
               "total_tokens, cost, cost_reason, "
               + ("saved_cost" if has_saved else "NULL") + " FROM usage" + where)
        groups, _ = group_rows(conn.execute(sql, args))
    finally:
        conn.close()
    return groups, has_saved


def group_rows(rows: Iterable[Any], has_saved: bool = False) -> tuple[list[Group], bool]:
    """Ledger rows ``(day, model, project, status, prompt, completion, total, cost, cost_reason,
    saved_cost)`` grouped by (day, model, project)."""
    groups: dict[tuple[str, str, str], Group] = {}
    for (day, model, project, status, prompt, completion, total, cost, reason,
         saved) in rows:
        key = (day, model or "-", project or "(none)")
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(day=key[0], model=key[1], project=key[2])
        g.calls += 1
        g.errors += status != "ok"
        g.prompt_tokens += prompt
        g.completion_tokens += completion
        g.total_tokens += total
        if cost is not None:
            g.cost += Decimal(cost)
        elif reason is not None:
            g.unpriced += 1
        if saved is not None:
            g.saved += Decimal(saved)
    return sorted(groups.values(), key=lambda g: (g.day, g.model, g.project)), has_saved


def _totals(groups: Iterable[Group], key: Callable[[Group], str]) -> dict[str, Group]:
    out: dict[str, Group] = {}
    for g in groups:
        k = key(g)
        t = out.get(k)
        if t is None:
            t = out[k] = Group(day=g.day, model=g.model, project=g.project)
        t.calls += g.calls
        t.errors += g.errors
        t.prompt_tokens += g.prompt_tokens
        t.completion_tokens += g.completion_tokens
        t.total_tokens += g.total_tokens
        t.cost += g.cost
        t.unpriced += g.unpriced
        t.saved += g.saved
    return out


def _days(first: str, last: str) -> list[str]:
    """Every day from first to last: a day without calls is a gap on the time axis."""
    d0, d1 = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(d0 + dt.timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]


# ---------------------------------------------------------------------------- terminal


def _bar(fraction: float, width: int, blocks: bool) -> str:
    """A horizontal bar in eighths of a character (``#`` where block characters cannot be
    written)."""
    if not blocks:
        return "#" * round(fraction * width)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])


def usage_table(con: Console, rows: Sequence[SummaryRow], by: str) -> None:
    """The summary rows as a table whose last column is a bar chart of cost (of tokens when
    nothing is priced). It fits the console's width: on a narrow terminal the detail columns
    go first (completion, prompt, errors, unpriced, cache hits and savings, calls), never the
    cost or the chart. HITS and SAVED appear when the response cache answered some calls."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .cli import can_draw, money

    use_cost = any(r.cost for r in rows)
    values = [float(r.cost) if use_cost else float(r.total_tokens) for r in rows]
    top = max(values, default=0.0) or 1.0

    def col(header: str, cells: list[str], footer: str) -> tuple[str, list[str], str]:
        return header, cells, footer

    columns = [
        col(by.upper(), [r.key if r.key is not None else "-" for r in rows], "TOTAL"),
        col("CALLS", [f"{r.calls:,}" for r in rows], f"{sum(r.calls for r in rows):,}"),
        col("ERRORS", [f"{r.errors:,}" for r in rows], f"{sum(r.errors for r in rows):,}"),
        col("PROMPT", [f"{r.prompt_tokens:,}" for r in rows],
            f"{sum(r.prompt_tokens for r in rows):,}"),
        col("COMPLETION", [f"{r.completion_tokens:,}" for r in rows],
            f"{sum(r.completion_tokens for r in rows):,}"),
        col("TOKENS", [f"{r.total_tokens:,}" for r in rows],
            f"{sum(r.total_tokens for r in rows):,}"),
        col("COST", [money(r.cost) for r in rows], money(sum((r.cost for r in rows),
                                                             Decimal(0)))),
    ]
    if any(r.unpriced for r in rows):
        columns.append(col("UNPRICED", [f"{r.unpriced:,}" for r in rows],
                           f"{sum(r.unpriced for r in rows):,}"))
    if any(r.cache_hits for r in rows):  # response cache: hits and what they saved
        columns.append(col("HITS", [f"{r.cache_hits:,}" for r in rows],
                           f"{sum(r.cache_hits for r in rows):,}"))
        columns.append(col("SAVED", [money(r.saved_cost) for r in rows],
                           money(sum((r.saved_cost for r in rows), Decimal(0)))))

    def width(c: tuple[str, list[str], str]) -> int:
        return max(len(x) for x in [c[0], c[2], *c[1]])

    def needed() -> int:
        # 3 characters between columns (padding, separator, padding), a chart of 8 at least
        return sum(width(c) for c in columns) + 3 * len(columns) + 8

    for drop in ("COMPLETION", "PROMPT", "ERRORS", "UNPRICED", "HITS", "SAVED", "CALLS"):
        if needed() <= con.width:
            break
        columns = [c for c in columns if c[0] != drop]
    bar_width = max(8, min(40, con.width - needed() + 8))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold",
                  show_footer=len(rows) > 1, footer_style="bold")
    for i, (header, _, footer) in enumerate(columns):
        # only the names may be shortened (a very narrow terminal); numbers never wrap
        table.add_column(header, footer=footer, justify="left" if i == 0 else "right",
                         overflow="ellipsis" if i == 0 else "crop", no_wrap=True,
                         style="cyan" if i == 0 else None)
    chart = ("COST CHART" if use_cost else "TOKEN CHART") if bar_width >= 11 else "CHART"
    table.add_column(chart, no_wrap=True, width=bar_width, style="blue")
    blocks = can_draw(con)
    for i, v in enumerate(values):
        # Text cells: a user or project named "[/]" is data, never rich markup
        table.add_row(*(Text(c[1][i]) for c in columns), Text(_bar(v / top, bar_width, blocks)))
    con.print(table)


# ---------------------------------------------------------------------------- HTML


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _usd(value: Decimal | float) -> str:
    from .cli import money

    return money(Decimal(str(value)))


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def _stacked_days(title: str, days: list[str], series: list[tuple[str, str, dict[str, float]]],
                  fmt: Callable[[float], str], note: str = "") -> str:
    """A stacked bar chart over days: ``series`` is (name, colour, day -> value)."""
    w, h, left, right, top, bottom = 1040, 260, 70, 10, 12, 40
    pw, ph = w - left - right, h - top - bottom
    totals = [sum(s[2].get(d, 0.0) for s in series) for d in days]
    ymax = _nice_max(max(totals, default=0.0))
    n = max(len(days), 1)
    slot = pw / n
    bw = max(1.0, slot * 0.75)
    out = [f'<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
           f'aria-label="{_e(title)}">']
    for i in range(5):
        y = top + ph - ph * i / 4
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" '
                   'class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="ylab">'
                   f'{_e(fmt(ymax * i / 4))}</text>')
    label_every = max(1, round(n / 10))
    for i, d in enumerate(days):
        x = left + slot * i + (slot - bw) / 2
        base = float(top + ph)
        for name, colour, values in series:
            v = values.get(d, 0.0)
            if v <= 0:
                continue
            bh = ph * v / ymax
            base -= bh
            out.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                       f'fill="{colour}"><title>{_e(d)} · {_e(name)}: {_e(fmt(v))}</title>'
                       '</rect>')
        if i % label_every == 0:
            out.append(f'<text x="{left + slot * i + slot / 2:.1f}" y="{h - bottom + 16}" '
                       f'class="xlab">{_e(d[5:] if len(days) > 1 else d)}</text>')
    if not any(totals):
        out.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" class="empty">'
                   f'{_e(note or "nothing to show")}</text>')
    out.append("</svg>")
    legend = "".join(f'<span class="key"><i style="background:{c}"></i>{_e(name)}</span>'
                     for name, c, _ in series)
    return (f'<section class="card wide"><h2>{_e(title)}</h2>{"".join(out)}'
            f'<div class="legend">{legend}</div></section>')


def _hbars(title: str, items: list[tuple[str, float, str]], fmt: Callable[[float], str],
           note: str = "", unpriced: Iterable[str] = ()) -> str:
    """Horizontal bars: (label, value, colour), largest first; labels in ``unpriced`` (only
    unpriced calls) say so instead of $0."""
    unpriced = set(unpriced)
    w, row, left, right = 500, 26, 150, 90
    items = sorted(items, key=lambda t: -t[1])[:12]
    h = max(row * len(items), row) + 8
    top_value = max((v for _, v, _ in items), default=0.0) or 1.0
    out = [f'<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
           f'aria-label="{_e(title)}">']
    for i, (label, value, colour) in enumerate(items):
        y = 4 + i * row
        bw = (w - left - right) * value / top_value
        short = label if len(label) <= 22 else label[:21] + "…"
        out.append(f'<text x="{left - 8}" y="{y + 16}" class="blab">{_e(short)}'
                   f'<title>{_e(label)}</title></text>')
        if value > 0:
            out.append(f'<rect x="{left}" y="{y + 3}" width="{max(bw, 1.5):.1f}" height="{row - 8}"'
                       f' rx="2" fill="{colour}"><title>{_e(label)}: {_e(fmt(value))}</title>'
                       '</rect>')
        shown = "unpriced" if label in unpriced and not value else fmt(value)
        out.append(f'<text x="{left + bw + 6:.1f}" y="{y + 16}" class="vlab">'
                   f'{_e(shown)}</text>')
    if not any(v for _, v, _ in items):
        out.append(f'<text x="{w / 2}" y="{h / 2 + 4}" class="empty">'
                   f'{_e(note or "nothing to show")}</text>')
    out.append("</svg>")
    return f'<section class="card"><h2>{_e(title)}</h2>{"".join(out)}</section>'


def _table(title: str, key: str, totals: dict[str, Group], saved: bool,
           chronological: bool = False) -> str:
    head = ["calls", "errors", "prompt tokens", "completion tokens", "cost (USD)", "unpriced"]
    if saved:
        head.append("cache savings")
    rows = []
    order = sorted(totals.items())  # days in order; models and projects dearest first
    if not chronological:
        order.sort(key=lambda kv: (-kv[1].cost, -kv[1].calls))
    for name, t in order:
        cells = [t.calls, t.errors, f"{t.prompt_tokens:,}", f"{t.completion_tokens:,}",
                 _usd(t.cost), t.unpriced]
        if saved:
            cells.append(_usd(t.saved))
        rows.append(f"<tr><th>{_e(name)}</th>" + "".join(f"<td>{_e(c)}</td>" for c in cells)
                    + "</tr>")
    return (f'<section class="card wide"><h2>{_e(title)}</h2><table><thead><tr>'
            f'<th>{_e(key)}</th>'
            + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#1f2328;font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:20px 20px 40px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:14px;margin:0 0 10px;color:#444}
.sub{color:#666;margin:0 0 16px}
.kpis{display:flex;gap:12px;margin-bottom:14px}
.kpi{flex:1;background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:10px 14px}
.kpi b{display:block;font-size:20px}
.kpi span{color:#666;font-size:12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.card{background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:14px;min-width:0}
.card.wide{grid-column:1/-1}
svg.chart{display:block;max-width:100%;height:auto}
svg .grid{stroke:#e6e8eb;stroke-width:1}
svg text{font:11px system-ui,sans-serif;fill:#555}
svg .ylab{text-anchor:end}
svg .xlab{text-anchor:middle}
svg .blab{text-anchor:end;fill:#333}
svg .empty{text-anchor:middle;fill:#999;font-size:13px}
.legend{margin-top:6px;color:#444;font-size:12px}
.key{margin-right:14px;white-space:nowrap}
.key i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{padding:4px 6px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child{text-align:left;max-width:200px;overflow:hidden;text-overflow:ellipsis}
thead th{color:#666;font-weight:600}
"""


def html_report(groups: Sequence[Group], *, has_saved: bool, source: str,
                period: str = "all time", generated: dt.datetime | None = None) -> str:
    """The report as one HTML document (inline CSS and SVG; no script, no external resource)."""
    generated = generated or dt.datetime.now(dt.UTC)
    by_model = _totals(groups, lambda g: g.model)
    by_project = _totals(groups, lambda g: g.project)
    by_day = _totals(groups, lambda g: g.day)
    total = _totals(groups, lambda g: "all").get("all") or Group(day="", model="", project="")
    saved = has_saved and bool(total.saved)
    days = _days(min(by_day), max(by_day)) if by_day else []

    ranked = [m for m, _ in sorted(by_model.items(), key=lambda kv: (-kv[1].cost,
                                                                      -kv[1].total_tokens,
                                                                      kv[0]))]
    named = ranked if len(ranked) <= _TOP + 1 else ranked[:_TOP]  # never one "other"
    colour = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(named)}

    def per_day(value: Callable[[Group], float]) -> list[tuple[str, str, dict[str, float]]]:
        series: dict[str, dict[str, float]] = {}
        for g in groups:
            name = g.model if g.model in colour else "other"
            s = series.setdefault(name, {})
            s[g.day] = s.get(g.day, 0.0) + value(g)
        order = [m for m in [*named, "other"] if any(series.get(m, {}).values())]
        return [(m, colour.get(m, OTHER_COLOUR), series[m]) for m in order]

    def tokens(v: float) -> str:
        return f"{v:,.0f}"

    no_price = "no priced calls in this period (the tables count unpriced calls)"
    sections = [
        _stacked_days("Cost over time (USD per day, by model)", days,
                      per_day(lambda g: float(g.cost)), lambda v: _usd(v), no_price),
    ]
    grid = [
        _hbars("Cost by model", [(m, float(t.cost), colour.get(m, OTHER_COLOUR))
                                 for m, t in by_model.items()], _usd, no_price,
               [m for m, t in by_model.items() if t.unpriced]),
        _hbars("Cost by project", [(p, float(t.cost), PALETTE[(i + 3) % len(PALETTE)])
                                   for i, (p, t) in enumerate(sorted(by_project.items()))],
               _usd, no_price, [p for p, t in by_project.items() if t.unpriced]),
        _hbars("Tokens by model", [(m, float(t.total_tokens), colour.get(m, OTHER_COLOUR))
                                   for m, t in by_model.items()], tokens),
        _hbars("Tokens by project", [(p, float(t.total_tokens), PALETTE[(i + 3) % len(PALETTE)])
                                     for i, (p, t) in enumerate(sorted(by_project.items()))],
               tokens),
    ]
    tail = [_stacked_days("Tokens over time (per day, by model)", days,
                          per_day(lambda g: float(g.total_tokens)), tokens)]
    if saved:
        tail.insert(0, _stacked_days(
            "Cache savings over time (USD per day: what the cached answers would have cost)",
            days, [("saved", PALETTE[4], {d: float(t.saved) for d, t in by_day.items()})],
            lambda v: _usd(v)))
    tables = [_table("By model", "model", by_model, saved),
              _table("By project", "project", by_project, saved),
              _table("By day", "day (UTC)", by_day, saved, chronological=True)]
    kpis = [(_usd(total.cost), "total cost" + (f" (+{total.unpriced} unpriced calls)"
                                               if total.unpriced else "")),
            (f"{total.calls:,}", f"calls ({total.errors:,} errors)"),
            (f"{total.total_tokens:,}", f"tokens ({total.prompt_tokens:,} in, "
                                        f"{total.completion_tokens:,} out)"),
            (f"{len(by_model)}", "models"), (f"{len(by_project)}", "projects")]
    if saved:
        kpis.insert(1, (_usd(total.saved), "saved by the cache"))
    kpi_html = "".join(f'<div class="kpi"><b>{_e(v)}</b><span>{_e(k)}</span></div>'
                       for v, k in kpis)
    empty = "" if groups else '<p class="sub"><b>No usage recorded in this period.</b></p>'
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>cencori usage · {_e(period)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>cencori usage</h1><p class=\"sub\">{_e(period)} · ledger {_e(source)} · "
        f"generated {_e(generated.strftime('%Y-%m-%d %H:%M UTC'))}</p>{empty}"
        f'<div class="kpis">{kpi_html}</div>'
        f'<div class="grid">{"".join(sections)}{"".join(grid)}{"".join(tail)}'
        f'{"".join(tables)}</div></main></body></html>\n'
    )


def write_report(path: str, document: str) -> None:
    """Write the report (UTF-8), creating its folder."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(document)


def period_text(since: Any, until: Any) -> str:
    if since and until:
        return f"from {since} until {until}"
    if since:
        return f"since {since}"
    if until:
        return f"until {until}"
    return "all time"

