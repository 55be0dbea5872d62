"""What a card shows about the patient, cut to the clinic's privacy setting, and in which order per category.

Adverse events and clinical questions: the patient's words, the number to call back, the last visit and
provider, the photos, then the rest. Billing: balance and invoice, then the words. The front desk: the
appointment, then the words. The order is decided here, once; renderers only lay the sections out.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import phonenumbers

from bot.cards.model import CardField, CardSection, SectionKind
from bot.config.models import ClinicConfig
from bot.domain import Category, Channel
from bot.match.directory import PatientRecord
from bot.storage.models import TicketRow


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def initials(name: str) -> str:
    return "".join(f"{part[0].upper()}." for part in name.split() if part)


PHOTO_ONE = "📷 Photo (in the thread)"
CLINICAL_CATEGORIES = frozenset({Category.ADVERSE_EVENT.value, Category.CLINICAL.value})
_INVOICE = re.compile(r"\b(?:invoice|factura|receipt|recibo)\s*(?:no\.?|number|n[úu]m(?:ero)?\.?|#)?\s*#?\s*"
                      r"([A-Za-z]{0,4}-?\d[\w-]{2,20})", re.IGNORECASE)


def media_line(media: list[dict[str, object]]) -> str:
    """What the card quotes for a message's MMS media: the files themselves go to the card's thread."""
    in_dm = sum(1 for m in media if m.get("source") == "meta")  # references only: not copied into the thread
    media = [m for m in media if m.get("source") != "meta"]
    photos = sum(1 for m in media if str(m.get("content_type") or "image/").startswith("image/"))
    others = len(media) - photos
    parts = []
    if in_dm:
        parts.append(f"📎 {in_dm} attachment{'' if in_dm == 1 else 's'} in the DM (see it in Instagram/Messenger)")
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
    """The files that go into the card's thread (a DM attachment stays a reference in the DM)."""
    return sum(1 for m in ticket.messages for item in m.media or [] if item.get("source") != "meta")


PHONE_CHANNELS = frozenset({Channel.SMS.value, Channel.WEB.value})  # where a sender that is no email is a phone


def callback_number(ticket: TicketRow) -> str:
    """The number to call the patient back on: what they last gave us, else the SMS sender, else the directory's."""
    for message in reversed(ticket.messages):
        if message.sender_phone:
            return message.sender_phone
    if ticket.sender and ticket.channel in PHONE_CHANNELS and "@" not in ticket.sender:
        return ticket.sender  # a DM sender is a page-scoped id, never a number
    return str((ticket.patient or {}).get("phone") or "")


def _given(ticket: TicketRow, attribute: str) -> str:
    """The latest non-empty contact detail of this kind the patient typed in (web form name, email)."""
    for message in reversed(ticket.messages):
        value = str(getattr(message, attribute, "") or "")
        if value:
            return value
    return ""


def match_label(patient: PatientRecord, limit: int = 75) -> str:
    """One search match as "Link patient" lists it: enough to tell two Olivias apart (the phone's last four,
    the email, the next visit), for the staff member who searched only."""
    parts = [patient.name]
    if patient.phone:
        parts.append(f"•••{patient.phone[-4:]}")
    if patient.email:
        parts.append(patient.email)
    if patient.next_appointment:
        parts.append(f"next visit {patient.next_appointment:%b %d}")
    label = " · ".join(parts)
    return label if len(label) <= limit else label[: limit - 1] + "…"


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
