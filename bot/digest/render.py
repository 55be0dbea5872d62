"""The digest as a short Slack-mrkdwn post: ticket numbers, categories, channels, counts, durations, staff."""

from __future__ import annotations

from bot.config.models import ClinicConfig
from bot.digest.compute import UNROUTED, DailyDigest, FirstResponse
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


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _category(value: str) -> str:
    return _CATEGORY_LABELS.get(value, value)


def digest_text(digest: DailyDigest, config: ClinicConfig) -> str:
    day = digest.day
    lines = [f"*Daily digest · {_escape(config.clinic.name)} · {day:%a} {day.day} {day:%b %Y}*"]

    share = round(digest.auto_resolved_share * 100)
    lines.append(
        f"*Volume:* {digest.total} ticket{'' if digest.total == 1 else 's'} · "
        f"auto-resolved {share}% ({digest.auto_resolved})"
    )
    if digest.total:
        lines.append("> " + " · ".join(f"{_category(c.category.value)} {c.count}" for c in digest.by_category))
        lines.append("> " + " · ".join(
            f"{_CHANNEL_LABELS.get(c.channel, _escape(c.channel))} {c.count}" for c in digest.by_channel
        ))

    lines.append("*SLA per category* (tickets · met · breached · first response median / p90 vs target):")
    lines.extend(_response_line(r) for r in digest.first_response if r.tickets)
    if not any(r.tickets for r in digest.first_response):
        lines.append("• no tickets")

    if digest.breaches:
        shown = ", ".join(
            f"#{b.ticket_id} {_category(b.category.value).lower()} "
            f"({'no response, ' if b.first_response_at is None else ''}{humanize_duration(b.late_by)} late)"
            for b in digest.breaches
        )
        lines.append(f"*SLA breaches:* {digest.breach_count} — {shown}")
    else:
        lines.append("*SLA breaches:* none")

    open_now = digest.open_now
    if open_now.total:
        roles = ", ".join(f"{_ROLE_LABELS.get(r.role, _escape(r.role))} {r.count}" for r in open_now.by_role)
        oldest = _minutes(open_now.oldest_age_minutes or 0)
        lines.append(f"*Open & unclaimed now:* {open_now.total} ({roles}) · oldest #{open_now.oldest_ticket_id}, "
                     f"{oldest}")
    else:
        lines.append("*Open & unclaimed now:* none")

    if digest.adverse_events:
        parts = []
        for event in digest.adverse_events:
            if event.time_to_acknowledge is None:
                parts.append(f"#{event.ticket_id} *not acknowledged*")
            else:
                by = f" by {_escape(event.acknowledged_by)}" if event.acknowledged_by else ""
                parts.append(f"#{event.ticket_id} acknowledged in {humanize_duration(event.time_to_acknowledge)}{by}")
        lines.append(f"*Adverse events:* {len(digest.adverse_events)} — " + "; ".join(parts))
    else:
        lines.append("*Adverse events:* none")

    if digest.claims:
        lines.append("*Claims:* " + " · ".join(f"{_escape(c.name)} {c.count}" for c in digest.claims))
    else:
        lines.append("*Claims:* none")
    lines.append(_pings_line(digest))
    if digest.opt_outs:
        lines.append(f"*Opt-outs:* {digest.opt_outs} (STOP and the like; the bot no longer texts them)")
    return "\n".join(lines)


def _pings_line(digest: DailyDigest) -> str:
    """How often the bot interrupted whom today, so the clinic can see (and tune) the noise."""
    if not digest.pings:
        return "*Pings today:* none"
    return "*Pings today:* " + ", ".join(f"{_escape(p.name)} {p.count}" for p in digest.pings)


def _response_line(r: FirstResponse) -> str:
    label = _category(r.category.value)
    if r.category is Category.OTHER:
        return f"• {label}: {r.tickets} ticket{'' if r.tickets == 1 else 's'} collected quietly (no answer owed)"
    target = _minutes(r.target_minutes)
    counts = f"{r.tickets} ticket{'' if r.tickets == 1 else 's'} · {r.met} met · {r.breached} breached"
    if r.waiting:
        counts += f" · {r.waiting} not yet due"
    if r.median is None or r.p90 is None:
        return f"• {label}: {counts} · no response yet (target {target})"
    return f"• {label}: {counts} · {humanize_duration(r.median)} / {humanize_duration(r.p90)} (target {target})"
