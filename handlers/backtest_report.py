"""The backtest report as blocks (headings, paragraphs, lists, tables, charts), written as Markdown beside its
PNG charts, or as one self-contained HTML page with the charts inside it.

Counts, categories, line numbers and times only: no message text ever reaches the report.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.backtest import BENCHMARK, Backtest, Handling
from bot.config.models import ClinicConfig
from bot.domain import Category
from bot.humanize import humanize_duration

NAMES = {Category.BOOKING: "booking", Category.FAQ: "FAQ", Category.BILLING: "billing",
         Category.CLINICAL: "clinical", Category.ADVERSE_EVENT: "adverse event", Category.OTHER: "other"}


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    file: str  # the PNG's name beside report.md
    alt: str


Block = Heading | Paragraph | Bullets | Table | Chart


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _duration(value: timedelta | None) -> str:
    return humanize_duration(value) if value is not None else "–"


def _when(backtest: Backtest, at: datetime) -> str:
    return f"{at.astimezone(backtest.tz):%a %d %b %H:%M}"


def report_blocks(backtest: Backtest, config: ClinicConfig, *, source: str, config_name: str) -> list[Block]:
    total = len(backtest.outcomes)
    return [
        Heading(f"Backtest: {backtest.clinic}", 1),
        Paragraph(f"{total:,} messages from {source}, received {backtest.first_day:%d %b %Y} – "
                  f"{backtest.last_day:%d %b %Y} ({backtest.timezone}), {backtest.open_share:.0%} of them inside "
                  f"business hours. Clinic config {config_name}; classifier {backtest.model_version}. This report "
                  "holds counts, categories, line numbers and times only, never a message's text."),
        *_mix(backtest),
        *_answered(backtest),
        *_pages(backtest, config),
        *_first_response(backtest),
        *_method(),
    ]


def _mix(backtest: Backtest) -> list[Block]:
    counts, total = backtest.categories, len(backtest.outcomes)
    rows = []
    for name, group, share in BENCHMARK:
        number = sum(counts[c] for c in group)
        detail = f" ({', '.join(f'{NAMES[c]} {counts[c]:,}' for c in group)})" if len(group) > 1 else ""
        rows.append((name + detail, f"{number:,}", _pct(number, total), f"{share:.0%}" if share else "–"))
    return [
        Heading("Category mix against the benchmark"),
        Paragraph("The benchmark is the seed's four-provider clinic: 1,150 messages a month, 66% booking and FAQ, "
                  "24% billing, 10% clinical, 1% adverse events. Categories are the live classifier's, after its "
                  "adverse-event safety layer."),
        Table(("category", "messages", "share", "benchmark"), tuple(rows)),
        Chart("category-mix.png", "Category mix against the benchmark"),
    ]


def _answered(backtest: Backtest) -> list[Block]:
    total, handling = len(backtest.outcomes), backtest.handling
    faq, slots = handling[Handling.FAQ_ANSWERED], handling[Handling.SLOTS_OFFERED]
    handed = backtest.handed_on
    blocks: list[Block] = [
        Heading("What the bot would have answered itself"),
        Paragraph(f"**{backtest.auto_answered:,} of {total:,} messages ({_pct(backtest.auto_answered, total)})**, "
                  f"in seconds: {faq:,} FAQs answered from the answer book and {slots:,} booking requests offered "
                  f"slots. {handling[Handling.COLLECTED]:,} `other` messages (thanks, emoji, wrong numbers) would "
                  "have been collected quietly: no card nudges, no SLA."),
        Bullets((
            "FAQ: counted when the routing policy lets the bot answer (confident, not also asking about something "
            "else) and the clinic's answer book has an entry for the question.",
            "Booking: counted when the booking flow would offer slots: a new booking or a move it understood, no "
            "named provider, and slots that fit what was asked in the clinic's weekly schedule "
            "(`booking.weekly_slots`) from the message's received time. The live bot offers from the same "
            "schedule and does not see the real calendar, so whether each slot was still free is not known.",
            "Not known from a file, so left out: the patient (a VIP's message goes to their named human), earlier "
            "messages of the same patient (a follow-up joins their open ticket; a slot picked from an earlier "
            "offer) and on-call overrides set from chat.",
        )),
    ]
    if handed:
        blocks += [Paragraph("Booking and FAQ messages the bot would have handed to a person, and why:"),
                   Table(("why", "messages"), tuple((why, f"{n:,}") for why, n in handed.most_common()))]
    return blocks


def _pages(backtest: Backtest, config: ClinicConfig) -> list[Block]:
    pages = backtest.pages
    providers = ", ".join(f"{_staff(config, who)} {n}" for who, n in backtest.paged_providers.most_common())
    lines = [f"{len(pages):,} adverse-event pages to the on-call provider (by the weekly rota): "
             f"{backtest.pages_open:,} inside business hours, {backtest.pages_closed:,} outside."]
    if providers:
        lines.append(f"Paged: {providers}.")
    if backtest.unpaged_adverse:
        lines.append(f"{backtest.unpaged_adverse:,} adverse events had nobody on call to page.")
    lines.append(f"{backtest.after_hours_acks:,} clinical and adverse-event messages received while closed would "
                 "have had an acknowledgement with emergency advice (not counted as a first response).")
    rows = tuple((str(o.line), _when(backtest, o.received_at), "inside" if o.open_at_receipt else "outside",
                  _staff(config, o.paged or ""), _duration(o.response_time)) for o in pages)
    blocks: list[Block] = [Heading("Pages"), Paragraph(" ".join(lines)),
                           Chart("pages-by-hour.png", "Pages by hour of day, business hours shaded")]
    if rows:
        blocks.append(Table(("line", "received", "business hours", "paged", "their first response"), rows))
    return blocks


def _staff(config: ClinicConfig, staff_id: str) -> str:
    member = config.staff_member(staff_id)
    return member.name if member is not None else staff_id


def _first_response(backtest: Backtest) -> list[Block]:
    rows = backtest.first_response()
    total = len(backtest.outcomes)
    timed = backtest.with_response_time
    table = tuple((NAMES[r.category], f"{r.sla_minutes} min" + (" business" if r.business_time else " wall clock"),
                   f"{r.messages:,}", f"{r.with_response_time:,}", f"{r.met:,}", f"{r.breached:,}",
                   _duration(r.median_actual), _duration(r.p90_actual), _duration(r.median_target),
                   f"{r.auto_answered:,}", f"{r.to_staff:,}") for r in rows)
    met, breached = sum(r.met for r in rows), sum(r.breached for r in rows)
    auto = sum(r.auto_answered for r in rows)
    routed = sum(r.to_staff for r in rows)
    return [
        Heading("First response: theirs against the SLA targets"),
        Paragraph(f"{timed:,} of {total:,} messages say when a person first answered. Each is compared with the "
                  "due time the bot would have set: the category's `sla_minutes` from the received time, counted "
                  "in business hours and holidays as the live bot counts them (adverse events on the wall clock). "
                  f"Against those targets they met {met:,} and breached {breached:,}. The target columns are the "
                  "wall-clock time from receipt to the due time, so a message received at night has until after "
                  "the next opening."),
        Table(("category", "SLA", "messages", "with a time", "met", "breached", "their median", "their p90",
               "target (median)", "bot: answered itself", "bot: to staff"), table),
        Chart("first-response.png", "First response against the SLA targets per category"),
        Paragraph(f"With the bot: {auto:,} messages answered in seconds, and the other {routed:,} routed to "
                  "their role's channel with that due time, climbing the escalation ladder when nobody claims "
                  "them; adverse events page the on-call provider at once. `other` messages have no SLA."),
    ]


def _method() -> list[Block]:
    return [
        Heading("How this was computed"),
        Bullets((
            "Each message went down the live triage path: the first 2,000 characters, the shipped classifier "
            "with its adverse-event safety layer, the other requests in the message, the routing policy at the "
            "received time (open or closed, on call by the rota), the answer book, the booking flow's plan and "
            "the SLA due time as routing sets it.",
            "Messages are taken one at a time as separate tickets; nothing is stored or sent.",
            "Shares are of all messages; percentiles are nearest-rank, as in the digest.",
        )),
    ]


# Writing -----------------------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(map(_md_cell, block.header)) + " |",
                     "|" + "|".join("---" for _ in block.header) + "|"]
            lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows]
            out.append("\n".join(lines))
        else:
            out.append(f"![{block.alt}]({block.file})")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escaped, with the Markdown the blocks use (**strong**, `code`) as HTML."""
    parts = html.escape(text, quote=False).split("**")
    text = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


STYLE = ("body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222;"
         "line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:.9em}"
         "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}"
         "img{max-width:100%;height:auto;border:1px solid #eee}code{background:#f3f3f3;padding:0 .2em}")


def html_page(blocks: list[Block], charts: dict[str, bytes], title: str) -> str:
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline(cell)}</th>" for cell in block.header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                           for row in block.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            data = base64.b64encode(charts[block.file]).decode("ascii")
            out.append(f'<p><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}"></p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"

