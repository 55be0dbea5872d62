"""Triage: a stored message becomes a matched, classified, routed ticket, and the first actions are queued.

The whole step is one transaction, so a crash leaves the message unprocessed (and retried), never half done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.classify.result import Classification, Classifier
from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import Category, TicketStatus
from bot.flows.asks import Asks, asks_in
from bot.flows.booking import BookingContext, HandOff, as_booking, plan, understand
from bot.flows.booking import as_json as booking_json
from bot.flows.booking import for_a_person as booking_for_a_person
from bot.flows.chat import page, post_card, refresh_cards, thread_line
from bot.flows.reading import for_reading
from bot.flows.routing import apply_route, raise_ticket, send_after_hours_ack
from bot.hours import is_open
from bot.match.directory import PatientDirectory, PatientRecord
from bot.match.links import match_sender
from bot.oncall import current_on_call
from bot.outbox.queue import enqueue, reply_kind
from bot.respond.answers import AnswerBook
from bot.respond.booking_intent import read_booking
from bot.respond.compose import booking_confirming, booking_passed_on, booking_reply, faq_reply
from bot.route.policy import RouteDecision, route
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow, TicketRow, open_key
from bot.tickets.events import BOT, EventKind
from bot.tickets.links import primary_ticket, ticket_to_join
from bot.tickets.store import change, compare_and_set, move, open_tickets_for, record


@dataclass(frozen=True)
class Triage:
    config: ClinicConfig
    classifier: Classifier
    answers: AnswerBook
    directory: Callable[[Session], PatientDirectory]
    clock: Clock


def process(db: Database, triage: Triage, message_id: int) -> int:
    """Turn one stored message into a ticket (or a follow-up on one); returns the ticket id. Idempotent."""
    try:
        return _process(db, triage, message_id)
    except IntegrityError as error:
        if OPEN_KEY_INDEX not in str(error.orig) and "tickets.open_key" not in str(error.orig):
            raise
        # Another triage of this patient opened their conversation first (the database allows one open per
        # patient) and has committed: in a fresh transaction this message finds that ticket and joins it.
        return _process(db, triage, message_id)


OPEN_KEY_INDEX = "uq_tickets_one_open_per_patient"


def _process(db: Database, triage: Triage, message_id: int) -> int:
    with db.transaction() as session:
        # Locked (FOR UPDATE on PostgreSQL): a worker that took over an expired claim waits, then finds it done.
        message = session.get(InboundMessageRow, message_id, with_for_update=True)
        if message is None:
            raise LookupError(f"no inbound message {message_id}")
        if message.processed_at is not None and message.ticket_id is not None:
            return message.ticket_id
        now = triage.clock.now()
        patient = match_sender(session, triage.directory(session), message.sender)
        text = for_reading(message.body)  # the classifier and parsers read a bounded part; storage keeps it whole
        asks = asks_in(triage.classifier, text, triage.classifier.classify(text))
        existing = open_tickets_for(session, patient.key if patient else None, message.sender)
        joined = ticket_to_join(existing, asks.primary.category)
        if joined is not None:
            ticket = _follow_up(session, triage, joined, message, asks, patient, now)
        else:
            # A different, less severe request than what is open gets its own ticket, linked to the open one.
            related = primary_ticket(existing)
            ticket = _new_ticket(session, triage, message, asks.primary, patient, now, related=related,
                                 also=asks.also)
            if related is not None:
                _link(session, related, ticket, now)
        message.processed_at = now
        message.ticket_id = ticket.id
        return ticket.id


def _language(result: Classification, message: InboundMessageRow, patient: PatientRecord | None) -> str:
    """The language the patient wrote in; for a word or two, their recorded preference."""
    if patient and patient.language and len(for_reading(message.body).split()) < 4:
        return patient.language
    return result.language


def _new_ticket(
    session: Session,
    triage: Triage,
    message: InboundMessageRow,
    result: Classification,
    patient: PatientRecord | None,
    now: datetime,
    *,
    related: TicketRow | None = None,
    also: tuple[Category, ...] = (),
) -> TicketRow:
    config = triage.config
    # Booking: read the intent first, since picking a slot we offered ("the first one") is a booking whatever
    # the classifier called it.
    booking = understand(session, config, for_reading(message.body), _language(result, message, patient), result,
                         message.sender, patient.key if patient else None, now)
    result = as_booking(result, booking)
    ticket = TicketRow(
        version=1,
        status=TicketStatus.OPEN.value,
        category=result.category.value,
        urgency=result.urgency.value,
        confidence=result.confidence,
        reasons=list(result.reasons),
        language=_language(result, message, patient),
        channel=message.channel,
        sender=message.sender,
        patient_key=patient.key if patient else None,
        patient=patient.snapshot() if patient else {},
        created_at=now,
        updated_at=now,
        related_ticket_id=related.id if related else None,
        also_asks=[c.value for c in also],
        open_key=None if related else open_key(patient.key if patient else None, message.sender),
    )
    session.add(ticket)
    session.flush()
    record(session, ticket, EventKind.RECEIVED, message.channel, now, message_id=message.id)
    if patient:
        record(session, ticket, EventKind.MATCHED, BOT, now, patient=patient.key, tier=patient.tier)
    else:
        record(session, ticket, EventKind.MATCHED, BOT, now, patient=None, new_patient=True)
    record(
        session, ticket, EventKind.CLASSIFIED, BOT, now,
        category=result.category.value, confidence=round(result.confidence, 4), reasons=list(result.reasons),
        also_asks=[c.value for c in also],
    )
    decision = route(config, result, patient, open_now=is_open(config, now),
                     oncall=current_on_call(session, config, now).provider)
    decision = one_request_at_a_time(decision, related, also)
    apply_route(session, ticket, decision, now, config)
    # A slot picked from our own offer is understood however unsure the classifier was; a VIP's stays with
    # their named human.
    answer = decision.auto_answer or (booking is not None and booking.accepts_offer and not decision.assignee)
    if answer and _auto_answer(session, triage, ticket, message, patient, now, booking=booking):
        return ticket
    if not answer and booking is not None:
        compare_and_set(session, ticket, ticket.version, updated_at=now,
                        booking=booking_for_a_person(booking, ticket.patient or {}, config, now))
    if decision.after_hours_ack:
        send_after_hours_ack(session, config, ticket, now)
    _post(session, ticket, decision, now, config)
    return ticket


def _auto_answer(
    session: Session,
    triage: Triage,
    ticket: TicketRow,
    message: InboundMessageRow,
    patient: PatientRecord | None,
    now: datetime,
    *,
    booking: BookingContext | None = None,
) -> bool:
    """Answer a routine ticket; False (with the reason recorded) hands it to a human instead."""
    config = triage.config
    if ticket.category == Category.BOOKING.value:
        context = booking or BookingContext(read_booking(for_reading(message.body), ticket.language, now,
                                                         config.clinic.tz, config.staff))
        outcome = plan(context, ticket.patient or {}, config, now)
        compare_and_set(session, ticket, ticket.version, booking=booking_json(context, outcome, ticket.patient or {},
                                                                               config), updated_at=now)
        if isinstance(outcome, HandOff):
            _hand_booking_to_front_desk(session, triage, ticket, patient, outcome, now)
            return False
        slots = outcome.slots
        text = booking_reply(config, ticket.language, patient, slots)
        detail: dict[str, object] = {"reply": "booking_slots", "slots": [s.isoformat() for s in slots],
                                     "intent": context.read.intent.value}
    else:
        answer = triage.answers.find(for_reading(message.body), ticket.language)
        if answer is None:
            record(session, ticket, EventKind.ROUTED, BOT, now, handed_to_human="no answer in the answer book")
            return False
        text = faq_reply(config, ticket.language, answer.text)
        detail = {"reply": "faq", "faq_entry": answer.entry_id, "similarity": round(answer.similarity, 3)}
    enqueue(
        session, reply_kind(ticket.channel, ticket.sender), ticket.sender, now, ticket_id=ticket.id,
        payload={"text": text, "by": BOT, "language": ticket.language},
    )
    # Auto-resolved only when the need was met. Today that is an FAQ answered, or slots that fit offered for a
    # new booking or a move: the patient has real choices and the link, and their pick comes back as a new
    # ticket matched against the offer held on this one. (With a booking system connected, "met" would be
    # "booked".)
    move(session, ticket, TicketStatus.AUTO_RESOLVED, event=EventKind.AUTO_REPLIED, actor=BOT, at=now, data=detail,
         resolved_at=now)
    return True


def _hand_booking_to_front_desk(
    session: Session, triage: Triage, ticket: TicketRow, patient: PatientRecord | None, outcome: HandOff,
    now: datetime,
) -> None:
    """The ticket stays open for the front desk (its card says what the patient wants done); the patient is
    told it has been passed on, which is an acknowledgement, not the clinic's response."""
    record(session, ticket, EventKind.ROUTED, BOT, now, handed_to_human=outcome.reason, wants=outcome.wants)
    if not outcome.tell_patient:
        return
    config = triage.config
    if outcome.confirming is not None:
        text = booking_confirming(config, ticket.language, patient, outcome.confirming.astimezone(config.clinic.tz))
    else:
        text = booking_passed_on(config, ticket.language, patient)
    enqueue(
        session, reply_kind(ticket.channel, ticket.sender), ticket.sender, now, ticket_id=ticket.id,
        payload={"text": text, "by": BOT, "language": ticket.language, "response": False},
        dedupe_key=f"passed-on:{ticket.id}",
    )


def _post(session: Session, ticket: TicketRow, decision: RouteDecision, now: datetime, config: ClinicConfig) -> None:
    post_card(session, ticket, config, now)
    if decision.page:
        page(session, ticket, decision.page, now)


def one_request_at_a_time(decision: RouteDecision, related: TicketRow | None,
                           also: tuple[Category, ...]) -> RouteDecision:
    """The bot answers one routine request at a time, and never a patient the clinical team is looking after."""
    if not decision.auto_answer:
        return decision
    if also:
        reason = f"not auto-answered: the message also asks about {', '.join(c.value for c in also)}"
    elif related is not None and Category(related.category).is_medical:
        reason = f"not auto-answered: the patient has an open {related.category} ticket #{related.id}"
    else:
        return decision
    return replace(decision, auto_answer=False, reasons=(*decision.reasons, reason))


def _link(session: Session, first: TicketRow, new: TicketRow, now: datetime) -> None:
    """Both tickets say so, on their cards and in their audit trails; the first card's thread is told."""
    record(session, new, EventKind.LINKED, BOT, now, related=first.id, category=first.category)
    change(session, first, event=EventKind.LINKED, actor=BOT, at=now,
           data={"related": new.id, "category": new.category})
    about = new.category.replace("_", " ")
    thread_line(session, first, f"🔗 The patient also wrote about {about}: ticket #{new.id}", now)
    refresh_cards(session, first, now)


CHANNEL_WORDS = {"sms": "SMS", "email": "email", "web": "the web form", "dm": "DM"}


def _follow_up(
    session: Session,
    triage: Triage,
    ticket: TicketRow,
    message: InboundMessageRow,
    asks: Asks,
    patient: PatientRecord | None,
    now: datetime,
) -> TicketRow:
    """Joins `ticket` (same matter, `other`, or more severe, see `ticket_to_join`); a more severe one raises it."""
    result = asks.primary
    also = [c.value for c in asks.also if c.value != ticket.category and c.value not in (ticket.also_asks or [])]
    change(session, ticket, event=EventKind.FOLLOW_UP, actor=message.channel, at=now,
           data={"message_id": message.id, "category": result.category.value,
                 "confidence": round(result.confidence, 4), "also_asks": also},
           also_asks=[*(ticket.also_asks or []), *also])
    current = Category(ticket.category)
    channel = CHANNEL_WORDS.get(message.channel, message.channel)
    if result.category.severity <= current.severity:
        thread_line(session, ticket, f"↩️ The patient sent a follow-up by {channel} (on the card)", now)
        refresh_cards(session, ticket, now)
        return ticket
    # More severe: the ticket is raised (never lowered) and routed again as what it now is.
    raise_ticket(session, triage.config, ticket, result.category, now, actor=BOT, result=result, patient=patient,
                 line=f"⬆️ Raised to {result.category.value} by a follow-up by {channel}",
                 note=f"Raised from {current.value} by a patient follow-up")
    return ticket
