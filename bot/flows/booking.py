"""Booking: understand what a booking message asks for, and decide whether the bot may answer it.

The bot answers only new bookings and moves, with slots that fit what was asked, and only when it is sure.
Everything that changes or asks about a real appointment (cancel, accept a slot, running late, "what time is my
appointment") goes to the front desk with what the patient wants done. Slots the bot offers are held on the
ticket (`tickets.booking`), so a later "Tuesday 2:30 works" is read as accepting one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.classify.result import Classification
from bot.config.models import ClinicConfig
from bot.domain import Category
from bot.respond.booking_intent import BookingIntent, BookingRead, read_booking
from bot.respond.slots import match_offer, next_slots, staff_day, staff_time
from bot.storage.models import TicketRow

HELD_OFFER_DAYS = 7  # an offer older than this is stale: the slots have likely gone
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# A message the classifier calls `other` or `faq` ("the first one", "el primero") may still be picking a slot.
MAY_PICK_A_SLOT = (Category.BOOKING, Category.OTHER, Category.FAQ)


@dataclass(frozen=True)
class HeldOffer:
    ticket_id: int
    slots: list[datetime]
    intent: BookingIntent  # what the offer was for: a new booking or a move
    refers_to: str | None  # the appointment a move was for, as shown to staff


@dataclass(frozen=True)
class BookingContext:
    read: BookingRead
    held: HeldOffer | None = None
    accepted: datetime | None = None  # the offered slot the patient picked
    accept_reason: str = ""  # why a "that one works" could not be matched to one offered slot

    @property
    def accepts_offer(self) -> bool:
        return self.accepted is not None


@dataclass(frozen=True)
class Offer:
    slots: list[datetime]
    wants: str = ""  # what a person would be asked to do, had the bot not answered


@dataclass(frozen=True)
class HandOff:
    wants: str  # "cancel the appointment on Fri Nov 28": what the front desk is asked to do
    reason: str  # why the bot did not answer, for the audit log
    tell_patient: bool = True  # False when the bot could not even tell it was a booking matter
    confirming: datetime | None = None  # the slot the patient is told is being confirmed


def held_offer(session: Session, sender: str, patient_key: str | None, now: datetime) -> HeldOffer | None:
    """The sender's most recent ticket of the last week that offered slots (an auto-resolved ticket is closed,
    so the acceptance arrives as a new ticket and is matched here)."""
    since = now - timedelta(days=HELD_OFFER_DAYS)
    who = TicketRow.sender == sender if patient_key is None else TicketRow.patient_key == patient_key
    rows = session.scalars(select(TicketRow).where(who, TicketRow.created_at >= since)
                           .order_by(TicketRow.id.desc()).limit(20))
    for row in rows:
        booking = row.booking or {}
        if booking.get("offered"):
            return HeldOffer(row.id, [datetime.fromisoformat(s) for s in booking["offered"]],
                             BookingIntent(booking.get("intent", BookingIntent.BOOK_NEW.value)),
                             booking.get("appointment"))
    return None


def understand(
    session: Session, config: ClinicConfig, text: str, language: str, result: Classification,
    sender: str, patient_key: str | None, now: datetime,
) -> BookingContext | None:
    """The booking reading of a new message, or None when it is not a booking matter."""
    if result.category not in MAY_PICK_A_SLOT:
        return None
    held = held_offer(session, sender, patient_key, now)
    if held is None and result.category is not Category.BOOKING:
        return None  # reading dates costs milliseconds: only a booking, or a possible pick of our offer, needs it
    read = read_booking(text, language, now, config.clinic.tz, config.staff)
    if held is not None and read.intent in (BookingIntent.CONFIRM, BookingIntent.BOOK_NEW, BookingIntent.UNKNOWN):
        positive = [m for m in read.mentions if not m.negated]
        at = next(((m.at.hour, m.at.minute) for m in positive if m.at is not None), None)
        picked = match_offer(held.slots, tuple(m.weekday for m in positive if m.weekday is not None),
                             tuple(m.day for m in positive if m.day is not None), at, read.choice)
        if picked.slot is not None:
            return BookingContext(replace(read, intent=BookingIntent.CONFIRM, unclear=()), held, picked.slot)
        if read.intent is BookingIntent.CONFIRM:
            return BookingContext(read, held, None, picked.reason)
    if result.category is not Category.BOOKING:
        return None
    return BookingContext(read, held)


def as_booking(result: Classification, context: BookingContext | None) -> Classification:
    """A message that picks one of our offered slots is a booking, whatever else the classifier thought."""
    if context is None or not context.accepts_offer or result.category is Category.BOOKING:
        return result
    reason = f"picks a slot offered on ticket #{context.held.ticket_id}" if context.held else "picks a slot"
    return replace(result, category=Category.BOOKING, reasons=(*result.reasons, reason))


def _appointment(context: BookingContext, patient: dict[str, Any], config: ClinicConfig) -> str | None:
    """The appointment the message is about: the day the patient named, and the directory's next one."""
    tz = config.clinic.tz
    booked = patient.get("next_appointment")
    booked_at = datetime.fromisoformat(booked).astimezone(tz) if booked else None
    named: date | None = context.read.refers_to
    if named and booked_at and booked_at.date() == named:
        return staff_time(booked_at)
    if named:
        suffix = f" (the directory has {staff_time(booked_at)})" if booked_at else ""
        return f"{staff_day(named)}{suffix}"
    if booked_at:
        return f"{staff_time(booked_at)} (the next one in the directory)"
    return None


def _asked(context: BookingContext) -> str:
    """What the patient asked for, in the front desk's words ("Thu, mornings, next week")."""
    p = context.read.preferences
    parts = [", ".join(WEEKDAY_NAMES[d] for d in p.weekdays)] if p.weekdays else []
    parts += [staff_day(d) for d in p.dates]
    parts += [f"{part.value}s" for part in p.parts_of_day]
    if p.at:
        parts.append(f"around {p.at:%H:%M}")
    if p.week:
        parts.append(f"{p.week} week")
    if p.excluded_weekdays:
        parts.append("not " + ", ".join(WEEKDAY_NAMES[d] for d in p.excluded_weekdays))
    if p.excluded_parts_of_day:
        parts.append("no " + ", ".join(f"{part.value}s" for part in p.excluded_parts_of_day))
    if p.provider:
        parts.append(f"with {p.provider}")
    return ", ".join(parts)


def plan(context: BookingContext, patient: dict[str, Any], config: ClinicConfig, now: datetime) -> Offer | HandOff:
    """What the bot does with a booking message: offer fitting slots, or hand it to the front desk."""
    read = context.read
    intent = read.intent
    appointment = _appointment(context, patient, config)
    about = f" on {appointment}" if appointment else ""
    if context.accepted is not None:
        slot = staff_time(context.accepted.astimezone(config.clinic.tz))
        held = context.held
        if held is not None and held.intent is BookingIntent.RESCHEDULE:
            moved = f" the appointment on {held.refers_to}" if held.refers_to else " their appointment"
            wants = f"move{moved} to the offered slot {slot}"
        else:
            wants = f"book the offered slot {slot}"
        # No booking system is connected yet: a person books it and tells the patient.
        return HandOff(wants, "the patient picked an offered slot: a person books it", confirming=context.accepted)
    treatment = f" {read.preferences.treatment}" if read.preferences.treatment else ""
    if intent is BookingIntent.CANCEL:
        return HandOff(f"cancel the appointment{about}" if appointment else "cancel an appointment (not named)",
                       "a cancellation: a person handles it")
    if intent is BookingIntent.RUNNING_LATE:
        return HandOff(f"say they are running late for the appointment{about}", "running late: a person handles it")
    if intent is BookingIntent.EXISTING:
        return HandOff(f"ask about the appointment{about}" if appointment else "ask about an appointment",
                       "a question about an existing appointment")
    if intent is BookingIntent.CONFIRM:
        reason = context.accept_reason or "asks for one specific slot"
        named = next((m for m in read.mentions if not m.negated and m.at and (m.day or m.on)), None)
        if named is not None and named.at is not None and (named.day or named.on) is not None:
            when = datetime.combine(named.day or named.on or now.date(), named.at)
            return HandOff(f"book{treatment} {staff_time(when)}", reason)
        asked = _asked(context)
        return HandOff(f"book{treatment} ({asked})" if asked else f"book{treatment}", reason)
    if intent is BookingIntent.UNKNOWN or read.unclear:
        return HandOff("", "; ".join(read.unclear) or "not sure what the patient wants", tell_patient=False)
    asked = _asked(context)
    if intent is BookingIntent.RESCHEDULE:
        what = f"move the appointment{about}" if appointment else "move an appointment"
    else:
        what = f"book{treatment}"
    what += f" ({asked})" if asked else ""
    if read.preferences.provider:
        # The embedded schedule is the clinic's, not each provider's: offering slots could promise the wrong one.
        return HandOff(what, f"asked for {read.preferences.provider}: the schedule does not know providers")
    slots = next_slots(config, now, read.preferences)
    if not slots:
        return HandOff(what, f"no open slot fits ({asked})" if asked else "no open slots to offer")
    return Offer(slots, what)


def for_a_person(context: BookingContext, patient: dict[str, Any], config: ClinicConfig,
                 now: datetime) -> dict[str, Any]:
    """`tickets.booking` for a ticket the bot does not answer (a VIP's, an unsure one): what the patient wants
    done, and no slots held, since none were offered."""
    outcome = plan(context, patient, config, now)
    return as_json(context, HandOff(outcome.wants, "not answered by the bot"), patient, config)


def as_json(context: BookingContext, outcome: Offer | HandOff, patient: dict[str, Any],
            config: ClinicConfig) -> dict[str, Any]:
    """What `tickets.booking` holds: the reading, and the slots offered or what a person is asked to do."""
    data = context.read.as_json()
    if context.held is not None:
        data["offer_ticket"] = context.held.ticket_id
    if context.accepted is not None:
        data["accepted"] = context.accepted.isoformat()
    if isinstance(outcome, Offer):
        data["offered"] = [s.isoformat() for s in outcome.slots]
        data["appointment"] = _appointment(context, patient, config)
    else:
        data["wants"] = outcome.wants
        data["handed_to_human"] = outcome.reason
    return data
