"""Triage: a stored message becomes a matched, classified, routed ticket, and the first actions are queued.

The whole step is one transaction, so a crash leaves the message unprocessed (and retried), never half done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.classify.result import Classification, Classifier
from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import Category, Channel, TicketStatus
from bot.flows.booking import BookingContext, HandOff, as_booking, plan, understand
from bot.flows.booking import as_json as booking_json
from bot.flows.booking import for_a_person as booking_for_a_person
from bot.flows.chat import page, post_card, refresh_cards, retire_cards, thread_line
from bot.hours import is_open
from bot.match.directory import PatientDirectory, PatientRecord, lookup
from bot.oncall import current_on_call
from bot.outbox.queue import OutboxKind, enqueue
from bot.respond.answers import AnswerBook
from bot.respond.booking_intent import read_booking
from bot.respond.compose import (
    after_hours_ack,
    booking_confirming,
    booking_passed_on,
    booking_reply,
    faq_reply,
    named_human_after_hours_ack,
)
from bot.route.policy import RouteDecision, route
from bot.sla.plan import due_at as sla_due
from bot.sla.plan import plan as sla_plan
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow, TicketRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.store import compare_and_set, move, open_ticket_for, record


@dataclass(frozen=True)
class Triage:
    config: ClinicConfig
    classifier: Classifier
    answers: AnswerBook
    directory: Callable[[Session], PatientDirectory]
    clock: Clock


def process(db: Database, triage: Triage, message_id: int) -> int:
    """Turn one stored message into a ticket (or a follow-up on one); returns the ticket id. Idempotent."""
    with db.transaction() as session:
        message = session.get(InboundMessageRow, message_id)
        if message is None:
            raise LookupError(f"no inbound message {message_id}")
        if message.processed_at is not None and message.ticket_id is not None:
            return message.ticket_id
        now = triage.clock.now()
        patient = lookup(triage.directory(session), message.sender)
        result = triage.classifier.classify(message.body)
        existing = open_ticket_for(session, patient.key if patient else None, message.sender)
        if existing is not None:
            ticket = _follow_up(session, triage, existing, message, result, patient, now)
        else:
            ticket = _new_ticket(session, triage, message, result, patient, now)
        message.processed_at = now
        message.ticket_id = ticket.id
        return ticket.id


def reply_kind(channel: str, address: str) -> str:
    """Patients are answered on the channel they used (a web form by email when it gave one)."""
    if channel == Channel.SMS.value:
        return OutboxKind.REPLY_SMS
    if channel == Channel.EMAIL.value:
        return OutboxKind.REPLY_EMAIL
    if channel == Channel.WEB.value:
        return OutboxKind.REPLY_EMAIL if "@" in address else OutboxKind.REPLY_SMS
    return f"reply.{channel}"


def _language(result: Classification, message: InboundMessageRow, patient: PatientRecord | None) -> str:
    """The language the patient wrote in; for a word or two, their recorded preference."""
    if patient and patient.language and len(message.body.split()) < 4:
        return patient.language
    return result.language


def _new_ticket(
    session: Session,
    triage: Triage,
    message: InboundMessageRow,
    result: Classification,
    patient: PatientRecord | None,
    now: datetime,
) -> TicketRow:
    config = triage.config
    # Booking: read the intent first, since picking a slot we offered ("the first one") is a booking whatever
    # the classifier called it.
    booking = understand(session, config, message.body, _language(result, message, patient), result,
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
    )
    decision = route(config, result, patient, open_now=is_open(config, now),
                     oncall=current_on_call(session, config, now).provider)
    _apply_route(session, ticket, decision, now, config)
    # A slot picked from our own offer is understood however unsure the classifier was; a VIP's stays with
    # their named human.
    answer = decision.auto_answer or (booking is not None and booking.accepts_offer and not decision.assignee)
    if answer and _auto_answer(session, triage, ticket, message, patient, now, booking=booking):
        return ticket
    if not answer and booking is not None:
        compare_and_set(session, ticket, ticket.version, updated_at=now,
                        booking=booking_for_a_person(booking, ticket.patient or {}, config, now))
    if decision.after_hours_ack:
        _send_after_hours_ack(session, triage, ticket, now)
    _post(session, ticket, decision, now, config)
    return ticket


def _apply_route(
    session: Session, ticket: TicketRow, decision: RouteDecision, now: datetime, config: ClinicConfig
) -> None:
    category = Category(ticket.category)
    due = sla_due(config, category, now)
    # Due time and ladder are frozen here: later config edits never move a ticket already in flight.
    # A raised ticket keeps the earlier due time if that is sooner.
    due = min(ticket.due_at, due) if ticket.due_at else due
    steps = sla_plan(config, category, now, due, paged=decision.page is not None)
    compare_and_set(
        session, ticket, ticket.version,
        role=decision.role.value, assignee=decision.assignee, paged=ticket.paged or decision.page,
        due_at=due, updated_at=now, escalation={"steps": [step.as_json() for step in steps]},
    )
    record(
        session, ticket, EventKind.ROUTED, BOT, now,
        role=decision.role.value, assignee=decision.assignee, page=decision.page,
        auto_answer=decision.auto_answer, reasons=list(decision.reasons), due_at=due.isoformat(),
    )


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
        context = booking or BookingContext(read_booking(message.body, ticket.language, now, config.clinic.tz,
                                                         config.staff))
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
        answer = triage.answers.find(message.body, ticket.language)
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
    move(session, ticket, TicketStatus.AUTO_RESOLVED, expected_version=ticket.version, resolved_at=now,
         updated_at=now)
    record(session, ticket, EventKind.AUTO_REPLIED, BOT, now, **detail)
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


def _send_after_hours_ack(session: Session, triage: Triage, ticket: TicketRow, now: datetime) -> None:
    config = triage.config
    member = config.staff_member(ticket.assignee or "")
    if member is not None and not Category(ticket.category).is_medical:
        text = named_human_after_hours_ack(config, ticket.language, member.name)  # a VIP's named human answers
    else:
        text = after_hours_ack(config, ticket.language)
    enqueue(
        session, reply_kind(ticket.channel, ticket.sender), ticket.sender, now, ticket_id=ticket.id,
        # An acknowledgement is not an answer: the SLA clock keeps running until a provider responds.
        payload={"text": text, "by": BOT, "language": ticket.language, "response": False},
        dedupe_key=f"ack:{ticket.id}",
    )
    record(session, ticket, EventKind.ACKNOWLEDGED_AFTER_HOURS, BOT, now)


def _post(session: Session, ticket: TicketRow, decision: RouteDecision, now: datetime, config: ClinicConfig) -> None:
    post_card(session, ticket, config, now)
    if decision.page:
        page(session, ticket, decision.page, now)


def _follow_up(
    session: Session,
    triage: Triage,
    ticket: TicketRow,
    message: InboundMessageRow,
    result: Classification,
    patient: PatientRecord | None,
    now: datetime,
) -> TicketRow:
    record(
        session, ticket, EventKind.FOLLOW_UP, message.channel, now,
        message_id=message.id, category=result.category.value, confidence=round(result.confidence, 4),
    )
    current = Category(ticket.category)
    channel = {"sms": "SMS", "email": "email", "web": "the web form", "dm": "DM"}.get(message.channel, message.channel)
    if result.category.severity <= current.severity:
        compare_and_set(session, ticket, ticket.version, updated_at=now)
        thread_line(session, ticket, f"↩️ The patient sent a follow-up by {channel} (on the card)", now)
        refresh_cards(session, ticket, now)
        return ticket
    # More severe: the ticket is raised (never lowered) and routed again as what it now is.
    compare_and_set(
        session, ticket, ticket.version,
        category=result.category.value, urgency=result.urgency.value, confidence=result.confidence,
        reasons=list(result.reasons), updated_at=now,
    )
    record(session, ticket, EventKind.RAISED, BOT, now, **{"from": current.value, "to": result.category.value})
    config = triage.config
    decision = route(config, result, patient, open_now=is_open(config, now),
                     oncall=current_on_call(session, config, now).provider)
    old_role = ticket.role
    _apply_route(session, ticket, decision, now, config)
    thread_line(session, ticket, f"⬆️ Raised to {result.category.value} by a follow-up by {channel}", now)
    if decision.after_hours_ack:
        _send_after_hours_ack(session, triage, ticket, now)
    retire_cards(session, ticket)
    refresh_cards(session, ticket, now)
    if decision.role.value != old_role:
        post_card(session, ticket, config, now, note=f"Raised from {current.value} by a patient follow-up")
    if decision.page:
        page(session, ticket, decision.page, now)
    return ticket
