"""Build a ticket's card from its current state and audit log. Called at every render, so the card is the ticket."""

from __future__ import annotations

import re
from datetime import date, datetime

import phonenumbers

from bot.cards.model import ActionId, Card, CardAction, CardField, CardSection, SectionKind
from bot.config.models import ClinicConfig
from bot.domain import Category, TicketStatus
from bot.hours import is_open
from bot.humanize import humanize_minutes
from bot.outbox.failures import failure_class
from bot.outbox.queue import OutboxKind
from bot.sla.business_time import open_intervals
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


PHOTO_ONE = "📷 Photo (in the thread)"
CLINICAL_CATEGORIES = frozenset({Category.ADVERSE_EVENT.value, Category.CLINICAL.value})
_INVOICE = re.compile(r"\b(?:invoice|factura|receipt|recibo)\s*(?:no\.?|number|n[úu]m(?:ero)?\.?|#)?\s*#?\s*"
                      r"([A-Za-z]{0,4}-?\d[\w-]{2,20})", re.IGNORECASE)


def media_line(media: list[dict[str, object]]) -> str:
    """What the card quotes for a message's MMS media: the files themselves go to the card's thread."""
    photos = sum(1 for m in media if str(m.get("content_type") or "image/").startswith("image/"))
    others = len(media) - photos
    parts = []
    if photos:
        parts.append(PHOTO_ONE if photos == 1 else f"📷 {photos} photos (in the thread)")
    if others:
        parts.append(f"📎 {others} attachment{'' if others == 1 else 's'} (in the thread)")
    return " · ".join(parts)


def card_text(ticket: TicketRow) -> str:
    """Every message of the ticket, oldest first; a photo-only message reads as its photo, never as a blank."""
    parts = []
    for message in ticket.messages:
        lines = [message.body.strip()] if message.body.strip() else []
        if message.media:
            lines.append(media_line(list(message.media)))
        parts.append("\n".join(lines))
    return "\n\n".join(p for p in parts if p)


def photo_count(ticket: TicketRow) -> int:
    return sum(len(m.media or []) for m in ticket.messages)


def callback_number(ticket: TicketRow) -> str:
    """The number to call the patient back on: what they last gave us, else the SMS sender, else the directory's."""
    for message in reversed(ticket.messages):
        if message.sender_phone:
            return message.sender_phone
    if ticket.sender and "@" not in ticket.sender:
        return ticket.sender
    return str((ticket.patient or {}).get("phone") or "")


def _given(ticket: TicketRow, attribute: str) -> str:
    """The latest non-empty contact detail of this kind the patient typed in (web form name, email)."""
    for message in reversed(ticket.messages):
        value = str(getattr(message, attribute, "") or "")
        if value:
            return value
    return ""


def pretty_phone(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, "US")
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def invoice_number(ticket: TicketRow, message_text: str) -> str:
    known = str((ticket.patient or {}).get("invoice") or "")
    if known:
        return known
    found = _INVOICE.search(message_text)
    return found.group(1) if found else ""


def patient_facts(ticket: TicketRow, config: ClinicConfig, message_text: str = "") -> dict[str, CardField]:
    """Everything the card may show about the patient, already cut down to the clinic's privacy setting."""
    detail = config.privacy.card_detail
    p = ticket.patient or {}
    facts: dict[str, CardField] = {}
    if detail == "none":
        return facts
    given_name = _given(ticket, "sender_name")
    tier = config.tier_name(p.get("tier")) if p.get("key") else ""
    if detail == "initials":
        name = p.get("name") if p.get("key") else given_name
        facts["patient"] = CardField("Patient", initials(name or "") or ("New patient" if not p.get("key") else "—"))
        if tier:
            facts["tier"] = CardField("Tier", tier)
        return facts
    if p.get("key"):
        facts["patient"] = CardField("Patient", p.get("name") or "—")
        if given_name and given_name.casefold() != str(p.get("name") or "").casefold():
            facts["given_name"] = CardField("Name given", given_name)
    else:
        facts["patient"] = CardField("Patient", f"{given_name} (new, not in the directory)" if given_name
                                     else "New — not in the directory")
    callback = callback_number(ticket)
    if callback:
        facts["callback"] = CardField("Call back", pretty_phone(callback))
    email = _given(ticket, "sender_email") or (ticket.sender if "@" in ticket.sender else "")
    if email:
        facts["email"] = CardField("Email", email)
    if not p.get("key"):
        return facts
    if tier:
        facts["tier"] = CardField("Tier", tier)
    facts["last_visit"] = CardField("Last visit", _local_date(p.get("last_visit")))
    facts["provider"] = CardField("Provider", p.get("provider") or "—")
    facts["next_appointment"] = CardField("Next appointment", _local_time(p.get("next_appointment"), config))
    facts["balance"] = CardField("Balance", money(int(p.get("balance_cents") or 0)))
    invoice = invoice_number(ticket, message_text)
    if invoice:
        facts["invoice"] = CardField("Invoice", invoice)
    facts["lifetime_value"] = CardField("Lifetime value", money(int(p.get("lifetime_value_cents") or 0)))
    return facts


# What leads, per category: the facts the person working the card needs before anything else.
_LEAD_FACTS = {
    "clinical": (("callback", "patient", "given_name"), ("last_visit", "provider")),
    "billing": (("balance", "invoice"),),
    "front_desk": (("next_appointment",),),
}
_REST = ("patient", "given_name", "tier", "callback", "email", "next_appointment", "last_visit", "provider",
         "balance", "invoice", "lifetime_value")


def _layout(ticket: TicketRow) -> str:
    if ticket.category in CLINICAL_CATEGORIES:
        return "clinical"
    return "billing" if ticket.category == Category.BILLING.value else "front_desk"


def card_sections(ticket: TicketRow, config: ClinicConfig, message: str | None,
                  facts: dict[str, CardField]) -> tuple[CardSection, ...]:
    """The card body in reading order. Adverse/clinical: the words, the callback, the recent treatment and
    provider, the photos, the rest. Billing: balance and invoice, then the words. Front desk: the appointment."""
    layout = _layout(ticket)
    words = CardSection(SectionKind.MESSAGE, text=message)
    used: set[str] = set()

    def take(keys: tuple[str, ...]) -> CardSection | None:
        fields = tuple(facts[k] for k in keys if k in facts and k not in used)
        used.update(keys)
        return CardSection(SectionKind.FIELDS, fields=fields) if fields else None

    sections: list[CardSection | None] = []
    if layout == "clinical":
        sections.append(words)
        sections.extend(take(keys) for keys in _LEAD_FACTS["clinical"])
        photos = photo_count(ticket)
        if photos and config.privacy.card_detail != "none":
            # The same card goes to the on-call provider's DM: say where the photos are, not "here".
            channel = config.channels.for_role_name(ticket.role)
            sections.append(CardSection(SectionKind.LINE, text=f"📷 {photos} photo{'' if photos == 1 else 's'} "
                                        f"from the patient, in the thread of the card in #{channel}"))
    else:
        sections.extend(take(keys) for keys in _LEAD_FACTS[layout])
        sections.append(words)
    sections.append(take(_REST))
    return tuple(s for s in sections if s is not None)


def _local_date(value: str | None) -> str:
    if not value:
        return "—"
    return date.fromisoformat(value).strftime("%a %b %d %Y")


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
        return f"breached by {humanize_minutes(late)}" if late > 0 else "met"
    if not TicketStatus(ticket.status).is_open:
        return "—"
    if now > ticket.due_at:
        return f"overdue by {humanize_minutes(int((now - ticket.due_at).total_seconds() // 60))}"
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
                later = [o for o, _ in open_intervals(config, closes) if o >= closes]
                return (closes, later[0]) if later else None
        return None
    upcoming = [o for o, _ in open_intervals(config, now) if o > now]
    return (None, upcoming[0]) if upcoming and upcoming[0] < due else None


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
            kind, reason = str(event.data.get("outbox_kind", "")), str(event.data.get("reason", ""))
            notes.append(f"⚠️ A reply could not be delivered: {failure_class(kind, reason)}.")
        elif event.kind == EventKind.DELIVERY_FAILED and event.data.get("outbox_kind") == OutboxKind.CHAT_MEDIA:
            reason = str(event.data.get("reason", ""))
            notes.append(f"⚠️ A photo from the patient could not be shown: {failure_class('chat.media', reason)}.")
    return tuple(notes)


def build_card(ticket: TicketRow, message_text: str | None, config: ClinicConfig, now: datetime, *,
               note: str = "", moved_to: str | None = None) -> Card:
    """`message_text` None: the ticket's own messages (`card_text`), photos included."""
    text = card_text(ticket) if message_text is None else message_text
    context = [
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
        reasons=tuple(ticket.reasons or ()),
        context=tuple(context),
        status=status_text(ticket, config),
        actions=() if moved_to else _actions(ticket, config),
        mentions=mentions,
        notes=_notes(ticket, config, note, moved_to),
        sections=card_sections(ticket, config, message, facts),
    )
