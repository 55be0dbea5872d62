"""Build a ticket's card from its current state and audit log. Called at every render, so the card is the ticket."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from bot.cards.model import ActionId, Card, CardAction, CardField
from bot.cards.patient import card_sections, card_text, patient_facts
from bot.cards.patient import initials as initials  # still importable from here, as before the split
from bot.cards.patient import money as money
from bot.config.models import PLATFORM_NAMES, ClinicConfig
from bot.domain import Category, TicketStatus, is_unreadable
from bot.hours import is_open
from bot.humanize import humanize_minutes
from bot.mentions import Line, Mention, Part
from bot.outbox.failures import failure_class
from bot.outbox.queue import OutboxKind
from bot.sla.audience import person
from bot.sla.business_time import open_intervals
from bot.storage.models import TicketRow
from bot.tickets.events import EventKind
from bot.tickets.links import related_fields

BADGES = {
    Category.ADVERSE_EVENT.value: "🔴 Adverse event",
    Category.CLINICAL.value: "🟠 Clinical",
    Category.BILLING.value: "🟡 Billing",
    Category.BOOKING.value: "🔵 Booking",
    Category.FAQ.value: "🔵 FAQ",
    Category.OTHER.value: "⚪ Other",
}
CHANNEL_NAMES = {"sms": "SMS", "email": "Email", "web": "Web form", "dm": "Instagram/Facebook DM"}


def notification_text(ticket: TicketRow) -> str:
    """What a phone shows on the lock screen: category and number only."""
    label = BADGES.get(ticket.category, ticket.category).split(" ", 1)[1]
    return f"{label} ticket #{ticket.id}"


# The classifier's reasons as the audit log keeps them, and how a nurse reads them on the card. A reason not
# listed here is shown as it is.
_REASON_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^cues: (.+)$"), r"\1"),
    (re.compile(r"^safety: current symptom reported \('(.+)'\)$"), r"reports a current symptom (“\1”)"),
    (re.compile(r"^safety: adverse-event likelihood .*$"), "paged to be safe: it may be an adverse event"),
    (re.compile(r"^safety: medical likelihood .*$"), "sent to clinical to be safe: it may be a medical question"),
    (re.compile(r"^safety: provider question \('(.+)'\).*$"), r"a question for a provider (“\1”)"),
)


def card_reasons(reasons: Iterable[str]) -> tuple[str, ...]:
    shown = []
    for reason in reasons:
        for pattern, words in _REASON_WORDS:
            if pattern.match(reason):
                reason = pattern.sub(words, reason)
                break
        shown.append(reason)
    return tuple(shown)


def _clock_time(when: datetime | None, config: ClinicConfig) -> str:
    return when.astimezone(config.clinic.tz).strftime("%H:%M") if when else ""


def responded_at(ticket: TicketRow) -> datetime | None:
    """When the clinic first responded: a claim, a reply delivered, or a page acknowledged."""
    times = [t for t in (ticket.claimed_at, ticket.first_response_at, ticket.acknowledged_at) if t is not None]
    return min(times) if times else None


def sla_text(ticket: TicketRow, now: datetime, config: ClinicConfig) -> str:
    if ticket.category == Category.OTHER.value and not is_unreadable(ticket.reasons):
        return "none (no answer owed)"  # thanks, emoji, spam: never nudged, never a breach (the digest agrees)
    if ticket.due_at is None:
        return "—"
    responded = responded_at(ticket)
    if responded is not None:
        late = int((responded - ticket.due_at).total_seconds() // 60)
        return f"breached by {humanize_minutes(late)}" if late > 0 else "met"
    if not TicketStatus(ticket.status).is_open:
        return "—"
    if now > ticket.due_at:
        late = int((now - ticket.due_at).total_seconds() // 60)
        return f"overdue by {humanize_minutes(late)}" if late else "due now"
    minutes = int((ticket.due_at - now).total_seconds() // 60)
    closure = _closure_before(config, now, ticket.due_at)
    if closure is None:
        return f"due in {humanize_minutes(minutes)}"
    due = f"{ticket.due_at.astimezone(config.clinic.tz):%a %H:%M}"
    closes, reopens = closure
    tz = config.clinic.tz
    if closes is None:
        return f"due {due} (clinic closed until {reopens.astimezone(tz):%a %H:%M})"
    return f"due {due} (clinic closes {closes.astimezone(tz):%H:%M}, reopens {reopens.astimezone(tz):%a %H:%M})"


def _closure_before(config: ClinicConfig, now: datetime, due: datetime) -> tuple[datetime | None, datetime] | None:
    """When the clinic is closed between now and `due`: (closing time, or None if closed now; reopening)."""
    if is_open(config, now):
        for opens, closes in open_intervals(config, now):
            if opens <= now < closes:
                if due <= closes:
                    return None
                later = next((o for o, _ in open_intervals(config, closes) if o >= closes), None)
                return (closes, later) if later else None
        return None
    upcoming = next((o for o, _ in open_intervals(config, now) if o > now), None)
    return (None, upcoming) if upcoming and upcoming < due else None


def status_text(ticket: TicketRow, config: ClinicConfig) -> Line:
    status = TicketStatus(ticket.status)
    line: list[Part]
    if status is TicketStatus.CLAIMED:
        line = ["Claimed by ", person(config, ticket.claimed_by or ""), f" · {_clock_time(ticket.claimed_at, config)}"]
    elif status is TicketStatus.AUTO_RESOLVED:
        line = ["Answered by the bot"]
    elif status is TicketStatus.RESOLVED:
        line = [f"Resolved · {_clock_time(ticket.resolved_at, config)}"]
    else:
        line = ["Unclaimed"]
    if ticket.paged and ticket.acknowledged_by:
        line += [" · Page acknowledged by ", person(config, ticket.acknowledged_by),
                 f" · {_clock_time(ticket.acknowledged_at, config)}"]
    return tuple(line)


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
    if not (ticket.patient or {}).get("key"):  # a sender the directory did not know: a DM id, a new address
        actions.append(CardAction(ActionId.LINK_PATIENT, "Link patient", ref, overflow=True))
    return tuple(actions)


def _notes(ticket: TicketRow, config: ClinicConfig, note: str, moved_to: str | None) -> tuple[str, ...]:
    notes = [note] if note else []
    if moved_to:
        notes.append(f"➡️ Moved to #{moved_to}; work it there.")
    for event in ticket.events:
        if event.kind == EventKind.DELIVERY_FAILED and str(event.data.get("outbox_kind", "")).startswith("reply."):
            kind, reason = str(event.data.get("outbox_kind", "")), str(event.data.get("reason", ""))
            notes.append(f"⚠️ A reply could not be delivered: {failure_class(kind, reason)}.")
        elif event.kind == EventKind.DELIVERY_FAILED and event.data.get("outbox_kind") == OutboxKind.CHAT_PAGE:
            reason = str(event.data.get("reason", ""))
            whom = _who(config, str(event.data.get("target", ""))) if event.data.get("target") else "the provider"
            where = PLATFORM_NAMES.get(str(event.data.get("platform", "")), "the chat app")
            notes.append(f"⚠️ The page could not reach {whom} in {where}: {failure_class('chat.page', reason)}; "
                         "the page ladder goes on.")
        elif event.kind == EventKind.DELIVERY_FAILED and event.data.get("outbox_kind") == OutboxKind.CHAT_MEDIA:
            reason = str(event.data.get("reason", ""))
            notes.append(f"⚠️ A photo from the patient could not be shown: {failure_class('chat.media', reason)}.")
    return tuple(notes)


def build_card(ticket: TicketRow, message_text: str | None, config: ClinicConfig, now: datetime, *,
               note: str = "", moved_to: str | None = None, addressed_to: str | None = None) -> Card:
    """`message_text` None: the ticket's own messages (`card_text`), photos included.

    `addressed_to`: the staff id whose page DM this is; it mentions them, never the provider paged first.
    """
    text = card_text(ticket) if message_text is None else message_text
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
    context.extend(related_fields(ticket))  # "Related: #12 booking", "Also asks: billing"
    mentions: tuple[Mention, ...] = ()
    if ticket.paged:
        context.append(CardField("Paged", _who(config, ticket.paged)))
        member = config.staff_member(ticket.paged)
        if member and member.users and not ticket.acknowledged_by and TicketStatus(ticket.status).is_open:
            mentions = (person(config, addressed_to or member.id),)
    hidden = config.privacy.card_detail == "none"
    message = None if hidden else text
    facts = patient_facts(ticket, config, text)
    return Card(
        ticket_id=ticket.id,
        notification=notification_text(ticket),
        title=f"{BADGES.get(ticket.category, ticket.category)} · {ticket.urgency} · #{ticket.id}",
        category=ticket.category,
        urgency=ticket.urgency,
        patient=tuple(facts.values()),
        message=message,
        reasons=card_reasons(ticket.reasons or ()),
        context=tuple(context),
        status=status_text(ticket, config),
        actions=() if moved_to else _actions(ticket, config),
        mentions=mentions,
        notes=_notes(ticket, config, note, moved_to),
        sections=card_sections(ticket, config, message, facts),
    )
