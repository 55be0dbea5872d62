"""The backtest report's charts, as PNG bytes: the category mix against the benchmark, pages by hour of day
(business hours shaded), and first response against the SLA targets per category.

Headless (Agg), no pyplot, as the digest's chart. Counts, categories and times only: nothing about a patient.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from bot.backtest.result import BENCHMARK, Backtest
from bot.humanize import humanize_duration

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH_PX, HEIGHT_PX, DPI = 900, 380, 100
CLINIC, BENCH, TARGET, PAGE, OPEN = "#4C72B0", "#BBBBBB", "#55A868", "#C44E52", "#FFF3C4"
LABELS = {"adverse_event": "Adverse", "clinical": "Clinical", "billing": "Billing", "booking": "Booking",
          "faq": "FAQ", "other": "Other"}


def _figure() -> Figure:
    # Imported here: matplotlib costs a second at start-up and only the report needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _title(backtest: Backtest, what: str) -> str:
    return f"{backtest.clinic} · {what} · {backtest.first_day:%d %b} – {backtest.last_day:%d %b %Y}"


def category_mix(backtest: Backtest) -> bytes:
    fig = _figure()
    axes = fig.subplots()
    counts = backtest.categories
    total = len(backtest.outcomes)
    names = [name for name, _, _ in BENCHMARK]
    mine = [100 * sum(counts[c] for c in group) / total for _, group, _ in BENCHMARK]
    bench = [100 * share for _, _, share in BENCHMARK]
    positions = range(len(names))
    width = 0.38
    bars = axes.bar([p - width / 2 for p in positions], mine, width, color=CLINIC, label="these messages")
    axes.bar_label(bars, labels=[f"{v:.0f}%" for v in mine], padding=1, fontsize=8)
    bars = axes.bar([p + width / 2 for p in positions], bench, width, color=BENCH, label="benchmark")
    axes.bar_label(bars, labels=[f"{v:.0f}%" for v in bench], padding=1, fontsize=8)
    axes.set_xticks(list(positions), names, fontsize=9)
    axes.set_ylabel("share of messages (%)", fontsize=9)
    axes.set_ylim(0, max([*mine, *bench, 1.0]) * 1.2)
    axes.set_title(_title(backtest, f"category mix of {total:,} messages"), fontsize=10)
    axes.legend(fontsize=8, frameon=False)
    return _png(fig)


def pages_by_hour(backtest: Backtest) -> bytes:
    fig = _figure()
    axes = fig.subplots()
    if backtest.business_span is not None:
        opens, closes = backtest.business_span
        axes.axvspan(opens - 0.5, closes - 0.5, color=OPEN, label="business hours (some day of the week)")
    hours = backtest.pages_by_hour
    axes.bar(range(24), hours, 0.8, color=PAGE, label="pages")
    axes.set_xticks(range(0, 24, 2), [f"{h:02d}:00" for h in range(0, 24, 2)], fontsize=8)
    axes.set_xlim(-0.6, 23.6)
    axes.set_ylim(0, max([*hours, 1]) * 1.25)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(f"hour received ({backtest.timezone})", fontsize=9)
    axes.set_title(_title(backtest, f"{len(backtest.pages)} pages: {backtest.pages_open} inside business hours, "
                                    f"{backtest.pages_closed} outside"), fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="upper left")
    return _png(fig)


def first_response(backtest: Backtest) -> bytes:
    """Median and 90th percentile of the clinic's first response, against the time to the due time the bot
    would have set (log scale: minutes to a day)."""
    fig = _figure()
    axes = fig.subplots()
    rows = [r for r in backtest.first_response() if r.with_response_time]
    positions = range(len(rows))
    width = 0.27
    series = (
        ("their median", [r.median_actual for r in rows], CLINIC, -width),
        ("their 90th percentile", [r.p90_actual for r in rows], "#8DA0CB", 0.0),
        ("SLA target (median time to due)", [r.median_target for r in rows], TARGET, width),
    )
    for name, values, colour, shift in series:
        minutes = [max(v.total_seconds() / 60, 0.5) if v is not None else 0.0 for v in values]
        bars = axes.bar([p + shift for p in positions], minutes, width, color=colour, label=name)
        axes.bar_label(bars, labels=[humanize_duration(v) if v is not None else "" for v in values], padding=1,
                       fontsize=6)
    axes.set_yscale("log")
    longest = max([v.total_seconds() / 60 for _, values, _, _ in series for v in values if v is not None] or [1.0])
    axes.set_ylim(top=longest * 12)  # room for the legend above the tallest bar
    axes.set_ylabel("minutes (log scale)", fontsize=9)
    axes.set_xticks(list(positions), [f"{LABELS[r.category.value]}\n({r.with_response_time})" for r in rows],
                    fontsize=8)
    axes.set_title(_title(backtest, "first response: theirs against the SLA targets"), fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="upper left", ncols=3)
    return _png(fig)


CHARTS = {"category-mix.png": category_mix, "pages-by-hour.png": pages_by_hour,
          "first-response.png": first_response}
