"""The digest's chart: per category tickets, met and breached; each adverse event's time to acknowledge.

Titled with the clinic and the day, so a chart forwarded out of the channel still says what it is.
Headless (Agg), no pyplot. Counts, ticket numbers and minutes only: nothing about a patient.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from bot.digest.compute import DailyDigest
from bot.humanize import humanize_duration

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_LABELS = {"adverse_event": "Adverse", "clinical": "Clinical", "billing": "Billing", "booking": "Booking",
           "faq": "FAQ", "other": "Other"}
WIDTH_PX, HEIGHT_PX, DPI = 900, 400, 100
TICKETS, MET, BREACHED, UNACKNOWLEDGED = "#4C72B0", "#55A868", "#C44E52", "#C44E52"
NOT_ACKNOWLEDGED = "not acknowledged"


def chart_title(digest: DailyDigest) -> str:
    day = digest.day
    clinic = f"{digest.clinic} · " if digest.clinic else ""
    return f"{clinic}Triage digest · {day:%a} {day.day} {day:%b %Y}"


def build_figure(digest: DailyDigest) -> Figure:
    # Imported here: matplotlib costs a second at start-up and only the digest needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    volume, adverse = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})

    rows = digest.first_response
    labels = [_LABELS.get(r.category.value, r.category.value) for r in rows]
    positions = list(range(len(labels)))
    width = 0.27
    series = (("tickets", [r.tickets for r in rows], TICKETS, -width), ("met", [r.met for r in rows], MET, 0.0),
              ("breached", [r.breached for r in rows], BREACHED, width))
    for name, values, colour, shift in series:
        bars = volume.bar([p + shift for p in positions], values, width, color=colour, label=name)
        volume.bar_label(bars, padding=1, fontsize=7)
    volume.set_title("Tickets, SLA met and breached, per category", fontsize=10)
    volume.set_xticks(positions, labels, fontsize=8)
    volume.set_ylim(0, max([*(r.tickets for r in rows), 1]) * 1.25)
    volume.yaxis.get_major_locator().set_params(integer=True)
    volume.legend(fontsize=8, loc="upper right", frameon=False)

    events = digest.adverse_events
    target = next((r.target_minutes for r in rows if r.category.value == "adverse_event"), 5)
    minutes = [e.minutes_to_acknowledge for e in events]
    longest = max([*(m for m in minutes if m is not None), float(target), 1.0])
    names = [f"#{e.ticket_id}" for e in events]
    # An unacknowledged page is drawn full width in red: the thing the manager must see first.
    lengths = [m if m is not None else longest * 1.1 for m in minutes]
    colours = [UNACKNOWLEDGED if m is None or m > target else MET for m in minutes]
    bars = adverse.barh(list(range(len(events))), lengths, color=colours)
    adverse.bar_label(bars, [humanize_duration(e.time_to_acknowledge) if e.time_to_acknowledge is not None
                             else NOT_ACKNOWLEDGED for e in events], padding=2, fontsize=8)
    adverse.axvline(target, color="#333333", linestyle="--", linewidth=1)
    adverse.annotate(f"target {target} min", xy=(target, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                     textcoords="offset points", fontsize=7)
    adverse.set_yticks(list(range(len(events))), names, fontsize=8)
    adverse.invert_yaxis()
    adverse.set_xlim(0, longest * 1.6)
    adverse.set_xlabel("minutes from the page to acknowledgement", fontsize=8)
    adverse.set_title(f"Adverse events ({len(events)}): time to acknowledge", fontsize=10)
    if not events:
        adverse.text(0.5, 0.5, "no adverse events", ha="center", va="center", transform=adverse.transAxes)

    fig.suptitle(chart_title(digest), fontsize=11)
    fig.tight_layout()
    return fig


def digest_chart(digest: DailyDigest) -> bytes:
    """A 900x400 PNG with two panels."""
    buffer = io.BytesIO()
    build_figure(digest).savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
