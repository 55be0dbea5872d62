"""Build a ticket's card from its current state and audit log. Called at every render, so the card is the ticket."""

from __future__ import annotations

from datetime import datetime

from bot.cards.model import ActionId, Card, CardAction, CardField
from bot.config.models import ClinicConfig
from bot.domain import Category, TicketStatus
from bot.storage.models import TicketRow
from bot.tickets.events import EventKind

BADGES = {
    Category.ADVERSE_EVENT.value: "🔴 Adverse event",
    Category.CLINICAL.value: "🟠 Clinical",
    Category.BILLING.value: "🟡 Billing",
    Category.BOOKING.value: "🔵 Booking",
    Category.FAQ.value: "🔵 FAQ",
    Category.OTHER.value: "⚪ Other",
}
CHANNEL_NAMES = {"sms": "SMS", "email": "Email", "web": "Web form", "dm": "Instagram/Facebook DM"}


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def notification_text(ticket: TicketRow) -> str:
    """What a phone shows on the lock screen: category and number only."""
    label = BADGES.get(ticket.category, ticket.category).split(" ", 1)[1]
    return f"{label} ticket #{ticket.id}"


def initials(name: str) -> str:
    return "".join(f"{part[0].upper()}." for part in name.split() if part)


def patient_fields(ticket: TicketRow, config: ClinicConfig) -> tuple[CardField, ...]:
    detail = config.privacy.card_detail
    p = ticket.patient or {}
    if detail == "none":
        return ()
    if not p.get("key"):
        sender = ticket.sender if detail == "full" else "hidden"
        return (CardField("Patient", "New — not in the directory"), CardField("From", sender))
    if detail == "initials":
        fields = [CardField("Patient", initials(p.get("name") or ""))]
        if p.get("tier") is not None:
            fields.append(CardField("Tier", str(p["tier"])))
        return tuple(fields)
    fields = [CardField("Patient", p.get("name") or "—")]
    if p.get("tier") is not None:
        fields.append(CardField("Tier", str(p["tier"])))
    fields.append(CardField("Lifetime value", money(int(p.get("lifetime_value_cents") or 0))))
    fields.append(CardField("Balance", money(int(p.get("balance_cents") or 0))))
    fields.append(CardField("Last visit", p.get("last_visit") or "—"))
    fields.append(CardField("Next appointment", _local_time(p.get("next_appointment"), config)))
    fields.append(CardField("Provider", p.get("provider") or "—"))
    return tuple(fields)


def _local_time(value: str | None, config: ClinicConfig) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(config.clinic.tz).strftime("%a %b %d %H:%M")


def _clock_time(when: datetime | None, config: ClinicConfig) -> str:
    return when.astimezone(config.clinic.tz).strftime("%H:%M") if when else ""


def responded_at(ticket: TicketRow) -> datetime | None:
    """When the clinic first responded: a claim, a reply delivered, or a page acknowledged."""
    times = [t for t in (ticket.claimed_at, ticket.first_response_at, ticket.acknowledged_at) if t is not None]
    return min(times) if times else None


def sla_text(ticket: TicketRow, now: datetime, config: ClinicConfig) -> str:
    if ticket.due_at is None:
        return "—"
    responded = responded_at(ticket)
    if responded is not None:
        late = int((responded - ticket.due_at).total_seconds() // 60)
        return f"breached by {late} min" if late > 0 else "met"
    if not TicketStatus(ticket.status).is_open:
        return "—"
    if now > ticket.due_at:
        return f"overdue by {int((now - ticket.due_at).total_seconds() // 60)} min"
    minutes = int((ticket.due_at - now).total_seconds() // 60)
    if minutes > 120:
        return f"due {ticket.due_at.astimezone(config.clinic.tz):%a %H:%M} (clinic closed until then)"
    return f"due in {minutes} min"


def status_text(ticket: TicketRow, config: ClinicConfig) -> str:
    status = TicketStatus(ticket.status)
    if status is TicketStatus.CLAIMED:
        text = f"Claimed by <@{ticket.claimed_by}> · {_clock_time(ticket.claimed_at, config)}"
    elif status is TicketStatus.AUTO_RESOLVED:
        text = "Answered by the bot"
    elif status is TicketStatus.RESOLVED:
        text = f"Resolved · {_clock_time(ticket.resolved_at, config)}"
    else:
        text = "Unclaimed"
    if ticket.paged and ticket.acknowledged_by:
        text += f" · Page acknowledged by <@{ticket.acknowledged_by}> · {_clock_time(ticket.acknowledged_at, config)}"
    return text


def _who(config: ClinicConfig, staff: str | None) -> str:
    member = config.staff_member(staff or "")
    return member.name if member else (staff or "—")


def _actions(ticket: TicketRow, config: ClinicConfig) -> tuple[CardAction, ...]:
    ref = str(ticket.id)
    status = TicketStatus(ticket.status)
    actions: list[CardAction] = []
    if ticket.paged and not ticket.acknowledged_by:
        actions.append(CardAction(ActionId.ACKNOWLEDGE, "Acknowledge", ref, "danger"))
    if status is TicketStatus.OPEN:
        actions.append(CardAction(ActionId.CLAIM, "Claim", ref, "primary"))
    elif status is TicketStatus.CLAIMED:
        actions.append(CardAction(ActionId.UNCLAIM, "Unclaim", ref))
    actions.append(CardAction(ActionId.REPLY, "Reply", ref))
    actions.append(CardAction(ActionId.ESCALATE, "Escalate", ref))
    if config.privacy.card_detail == "none":
        actions.append(CardAction(ActionId.SHOW_MESSAGE, "Show message", ref))
    if status.is_open:
        actions.append(CardAction(ActionId.RESOLVE, "Resolve", ref, overflow=True))
    actions.append(CardAction(ActionId.RECLASSIFY, "Reclassify", ref, overflow=True))
    return tuple(actions)


def _notes(ticket: TicketRow, config: ClinicConfig, note: str, moved_to: str | None) -> tuple[str, ...]:
    notes = [note] if note else []
    if moved_to:
        notes.append(f"➡️ Moved to #{moved_to}; work it there.")
    for event in ticket.events:
        if event.kind == EventKind.DELIVERY_FAILED and str(event.data.get("outbox_kind", "")).startswith("reply."):
            notes.append(f"⚠️ A reply could not be delivered ({str(event.data.get('reason', ''))[:100]}).")
    return tuple(notes)


def build_card(ticket: TicketRow, message_text: str, config: ClinicConfig, now: datetime, *, note: str = "",
               moved_to: str | None = None) -> Card:
    # A booking matter a person must act on leads with what the patient wants done (it names their appointment,
    # so it is patient detail: not shown when the card shows none). Not once a follow-up raised the ticket.
    shown = config.privacy.card_detail != "none" and ticket.category == Category.BOOKING.value
    wants = (ticket.booking or {}).get("wants") if shown else None
    context = [CardField("Wants to", wants)] if wants else []
    context += [
        CardField("Came in on", CHANNEL_NAMES.get(ticket.channel, ticket.channel)),
        CardField("Routed to", ticket.role or "—"),
        CardField("SLA", sla_text(ticket, now, config)),
    ]
    if ticket.assignee:
        context.append(CardField("Named human", _who(config, ticket.assignee)))
    mentions: tuple[str, ...] = ()
    if ticket.paged:
        context.append(CardField("Paged", _who(config, ticket.paged)))
        member = config.staff_member(ticket.paged)
        if member and member.chat_user and not ticket.acknowledged_by and TicketStatus(ticket.status).is_open:
            mentions = (member.chat_user,)
    hidden = config.privacy.card_detail == "none"
    return Card(
        ticket_id=ticket.id,
        notification=notification_text(ticket),
        title=f"{BADGES.get(ticket.category, ticket.category)} · {ticket.urgency} · #{ticket.id}",
        category=ticket.category,
        urgency=ticket.urgency,
        patient=patient_fields(ticket, config),
        message=None if hidden else message_text,
        reasons=tuple(ticket.reasons or ()),
        context=tuple(context),
        status=status_text(ticket, config),
        actions=() if moved_to else _actions(ticket, config),
        mentions=mentions,
        notes=_notes(ticket, config, note, moved_to),
    )
