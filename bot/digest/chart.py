"""The digest's chart: tickets per category, and median first response against target. Headless (Agg), no pyplot."""

from __future__ import annotations

import io

from bot.digest.compute import DailyDigest
from bot.digest.render import format_duration

_LABELS = {"adverse_event": "Adverse", "clinical": "Clinical", "billing": "Billing", "booking": "Booking",
           "faq": "FAQ", "other": "Other"}
WIDTH_PX, HEIGHT_PX, DPI = 900, 400, 100


def digest_chart(digest: DailyDigest) -> bytes:
    """A 900x400 PNG with two panels. Counts and minutes only: nothing about a patient."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    volume, response = fig.subplots(1, 2)

    labels = [_LABELS.get(c.category.value, c.category.value) for c in digest.by_category]
    positions = list(range(len(labels)))

    counts = [c.count for c in digest.by_category]
    bars = volume.bar(positions, counts, color="#4C72B0")
    volume.bar_label(bars, padding=2, fontsize=8)
    volume.set_title(f"Tickets per category ({digest.total})", fontsize=10)
    volume.set_xticks(positions, labels, fontsize=8)
    volume.set_ylim(0, max([*counts, 1]) * 1.2)
    volume.yaxis.get_major_locator().set_params(integer=True)

    medians = [r.median.total_seconds() / 60 if r.median is not None else 0.0 for r in digest.first_response]
    targets = [float(r.target_minutes) for r in digest.first_response]
    colours = [
        "#BBBBBB" if r.median is None else ("#55A868" if medians[i] <= targets[i] else "#C44E52")
        for i, r in enumerate(digest.first_response)
    ]
    width = 0.38
    median_bars = response.bar([p - width / 2 for p in positions], medians, width, color=colours, label="median")
    response.bar_label(
        median_bars, [format_duration(r.median) if r.median is not None else "" for r in digest.first_response],
        padding=2, fontsize=7,
    )
    response.bar([p + width / 2 for p in positions], targets, width, color="none", edgecolor="#333333",
                 hatch="//", label="target")
    for p, r in zip(positions, digest.first_response, strict=True):
        if r.median is None:
            response.annotate("–", (p - width / 2, 0), ha="center", va="bottom", fontsize=8)
    response.set_yscale("symlog", linthresh=10)  # a 240-minute target must not flatten the 5-minute ones
    top = max([*medians, *targets, 1.0]) * 1.5
    response.set_ylim(0, top)
    ticks = [t for t in (0, 1, 5, 10, 30, 60, 120, 240, 480, 960, 1440) if t <= top]
    response.set_yticks(ticks, [str(t) for t in ticks], fontsize=8)
    response.yaxis.set_minor_locator(NullLocator())
    response.set_title("Median first response vs target (min)", fontsize=10)
    response.set_xticks(positions, labels, fontsize=8)
    response.legend(fontsize=8, loc="upper left", frameon=False)

    fig.suptitle(f"{digest.day.isoformat()}", fontsize=9, x=0.99, ha="right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
