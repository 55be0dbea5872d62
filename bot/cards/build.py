"""Build a ticket's card from its current state. Called at every render, so the card is always the ticket."""

from __future__ import annotations

from datetime import datetime

from bot.cards.model import ActionId, Card, CardAction, CardField
from bot.config.models import ClinicConfig
from bot.domain import Category, TicketStatus
from bot.storage.models import TicketRow

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


def patient_fields(ticket: TicketRow, config: ClinicConfig) -> tuple[CardField, ...]:
    p = ticket.patient or {}
    if not p.get("key"):
        return (CardField("Patient", "New — not in the directory"), CardField("From", ticket.sender))
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


def due_text(ticket: TicketRow, now: datetime) -> str:
    if ticket.due_at is None:
        return "—"
    minutes = int((ticket.due_at - now).total_seconds() // 60)
    if minutes >= 0:
        return f"due in {minutes} min"
    return f"overdue by {-minutes} min"


def status_text(ticket: TicketRow, config: ClinicConfig) -> str:
    status = TicketStatus(ticket.status)
    if status is TicketStatus.CLAIMED:
        return f"Claimed by {_who(config, ticket.claimed_by)}"
    if status is TicketStatus.AUTO_RESOLVED:
        return "Answered by the bot"
    if status is TicketStatus.RESOLVED:
        return "Resolved"
    return "Unclaimed"


def _who(config: ClinicConfig, staff: str | None) -> str:
    member = config.staff_member(staff or "")
    return member.name if member else (staff or "—")


def build_card(ticket: TicketRow, message_text: str, config: ClinicConfig, now: datetime) -> Card:
    ref = str(ticket.id)
    actions = [
        CardAction(ActionId.CLAIM, "Claim", ref, "primary"),
        CardAction(ActionId.REPLY, "Reply", ref),
        CardAction(ActionId.ESCALATE, "Escalate", ref),
    ]
    if ticket.paged:
        actions.insert(0, CardAction(ActionId.ACKNOWLEDGE, "Acknowledge", ref, "danger"))
    context = [
        CardField("Came in on", CHANNEL_NAMES.get(ticket.channel, ticket.channel)),
        CardField("Routed to", ticket.role or "—"),
        CardField("SLA", due_text(ticket, now)),
    ]
    if ticket.assignee:
        context.append(CardField("Named human", _who(config, ticket.assignee)))
    if ticket.paged:
        context.append(CardField("Paged", _who(config, ticket.paged)))
    return Card(
        ticket_id=ticket.id,
        notification=notification_text(ticket),
        title=f"{BADGES.get(ticket.category, ticket.category)} · {ticket.urgency} · #{ticket.id}",
        category=ticket.category,
        urgency=ticket.urgency,
        patient=patient_fields(ticket, config),
        message=message_text,
        reasons=tuple(ticket.reasons or ()),
        context=tuple(context),
        status=status_text(ticket, config),
        actions=tuple(actions),
    )
