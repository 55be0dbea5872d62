"""The digest as a short formatted post (bot/document.py): ticket numbers, categories, channels, counts, durations,
staff. No messenger syntax here: each messenger renders the document."""

from __future__ import annotations

from bot.config.models import ClinicConfig
from bot.digest.compute import UNROUTED, DailyDigest, FirstResponse
from bot.document import DocLine, Document, Span, Style, line, plain_document, strong
from bot.domain import Category
from bot.humanize import humanize_duration, humanize_minutes

_CATEGORY_LABELS = {
    "adverse_event": "Adverse event",
    "clinical": "Clinical",
    "billing": "Billing",
    "booking": "Booking",
    "faq": "FAQ",
    "other": "Other",
}
_CHANNEL_LABELS = {"sms": "SMS", "email": "Email", "web": "Web", "dm": "DM"}
_ROLE_LABELS = {"front_desk": "front desk", "billing": "billing", "clinical": "clinical", "managers": "managers",
                UNROUTED: "unrouted"}


# Kept as a name for callers of the digest package; the one implementation is bot.humanize.
format_duration = humanize_duration


def _minutes(minutes: int) -> str:
    return humanize_minutes(minutes)


def _category(value: str) -> str:
    return _CATEGORY_LABELS.get(value, value)


def _category_count(category: Category, count: int, unreadable: int) -> str:
    """"Other 5 (2 could not be read)": a ticket nothing could read is filed as other, yet it needs a person."""
    text = f"{_category(category.value)} {count}"
    return f"{text} ({unreadable} could not be read)" if category is Category.OTHER and unreadable else text


def digest_document(digest: DailyDigest, config: ClinicConfig) -> Document:
    day = digest.day
    rows = [line(f"Daily digest · {config.clinic.name} · {day:%a} {day.day} {day:%b %Y}", style=Style.HEADING)]

    share = round(digest.auto_resolved_share * 100)
    rows.append(line(strong("Volume:"), f" {digest.total} ticket{'' if digest.total == 1 else 's'} · "
                     f"auto-resolved {share}% ({digest.auto_resolved})"))
    if digest.total:
        rows.append(line(" · ".join(_category_count(c.category, c.count, digest.unreadable)
                                    for c in digest.by_category), style=Style.QUOTE))
        rows.append(line(" · ".join(f"{_CHANNEL_LABELS.get(c.channel, c.channel)} {c.count}"
                                    for c in digest.by_channel), style=Style.QUOTE))

    rows.append(line(strong("SLA per category"),
                     " (tickets · met · breached · first response median / p90 vs target):"))
    rows.extend(line(_response_line(r), style=Style.BULLET) for r in digest.first_response if r.tickets)
    if not any(r.tickets for r in digest.first_response):
        rows.append(line("no tickets", style=Style.BULLET))

    if digest.breaches:
        shown = ", ".join(
            f"#{b.ticket_id} {_category(b.category.value).lower()} "
            f"({'no response, ' if b.first_response_at is None else ''}{humanize_duration(b.late_by)} late)"
            for b in digest.breaches
        )
        rows.append(line(strong("SLA breaches:"), f" {digest.breach_count} — {shown}"))
    else:
        rows.append(line(strong("SLA breaches:"), " none"))

    open_now = digest.open_now
    if open_now.total:
        roles = ", ".join(f"{_ROLE_LABELS.get(r.role, r.role)} {r.count}" for r in open_now.by_role)
        oldest = _minutes(open_now.oldest_age_minutes or 0)
        rows.append(line(strong("Open & unclaimed now:"), f" {open_now.total} ({roles}) · oldest "
                         f"#{open_now.oldest_ticket_id}, {oldest}"))
    else:
        rows.append(line(strong("Open & unclaimed now:"), " none"))

    if digest.adverse_events:
        parts: list[str | Span] = [strong("Adverse events:"), f" {len(digest.adverse_events)} — "]
        for index, event in enumerate(digest.adverse_events):
            if index:
                parts.append("; ")
            if event.time_to_acknowledge is None:
                parts += [f"#{event.ticket_id} ", strong("not acknowledged")]
            else:
                by = f" by {event.acknowledged_by}" if event.acknowledged_by else ""
                parts.append(f"#{event.ticket_id} acknowledged in {humanize_duration(event.time_to_acknowledge)}{by}")
        rows.append(line(*parts))
    else:
        rows.append(line(strong("Adverse events:"), " none"))

    if digest.claims:
        rows.append(line(strong("Claims:"), " " + " · ".join(f"{c.name} {c.count}" for c in digest.claims)))
    else:
        rows.append(line(strong("Claims:"), " none"))
    rows.append(_pings_line(digest))
    if digest.opt_outs:
        rows.append(line(strong("Opt-outs:"), f" {digest.opt_outs} (STOP and the like; the bot no longer texts them)"))
    if digest.classifier:
        rows.append(line(f"Classifier: {digest.classifier}", style=Style.QUOTE))
    return tuple(rows)


def digest_text(digest: DailyDigest, config: ClinicConfig) -> str:
    """The digest as plain text (the CLI); messengers render `digest_document` in their own syntax."""
    return plain_document(digest_document(digest, config))


def _pings_line(digest: DailyDigest) -> DocLine:
    """How often the bot interrupted whom today, so the clinic can see (and tune) the noise."""
    if not digest.pings:
        return line(strong("Pings today:"), " none")
    return line(strong("Pings today:"), " " + ", ".join(f"{p.name} {p.count}" for p in digest.pings))


def _response_line(r: FirstResponse) -> str:
    label = _category(r.category.value)
    if r.category is Category.OTHER:
        return f"{label}: {r.tickets} ticket{'' if r.tickets == 1 else 's'} collected quietly (no answer owed)"
    target = _minutes(r.target_minutes)
    counts = f"{r.tickets} ticket{'' if r.tickets == 1 else 's'} · {r.met} met · {r.breached} breached"
    if r.waiting:
        counts += f" · {r.waiting} not yet due"
    if r.median is None or r.p90 is None:
        return f"{label}: {counts} · no response yet (target {target})"
    return f"{label}: {counts} · {humanize_duration(r.median)} / {humanize_duration(r.p90)} (target {target})"
