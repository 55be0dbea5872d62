"""Routing a ticket, and raising it: the one path every raise takes, whoever raised it.

A patient's follow-up, a staff reclassification and an escalation to the clinical team or the on-call
provider all end here, so a raised ticket is always routed again as what it now is: the right channel, the
right SLA and ladder, and a page when it needs one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.classify.result import Classification
from bot.config.models import ClinicConfig
from bot.domain import Category, Role, TicketStatus, most_severe
from bot.flows.chat import page, post_card, refresh_cards, retire_cards, thread_line
from bot.flows.deliver import current_cards
from bot.hours import is_open
from bot.match.directory import PatientRecord
from bot.oncall import current_on_call
from bot.outbox.queue import enqueue
from bot.respond.compose import after_hours_ack, named_human_after_hours_ack
from bot.route.policy import RouteDecision, route
from bot.sla.plan import due_at as sla_due
from bot.sla.plan import plan as sla_plan
from bot.storage.models import TicketRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.reply_to import reply_to
from bot.tickets.store import change, move, record


def apply_route(session: Session, ticket: TicketRow, decision: RouteDecision, now: datetime,
                config: ClinicConfig, *, sla_as: Category | None = None) -> None:
    """`sla_as`: the category whose SLA and ladder the ticket runs on, when not its own."""
    category = sla_as or Category(ticket.category)
    due = sla_due(config, category, now)
    # Due time and ladder are frozen here: later config edits never move a ticket already in flight.
    # A raised ticket keeps the earlier due time if that is sooner.
    due = min(ticket.due_at, due) if ticket.due_at else due
    steps = sla_plan(config, category, now, paged=decision.page is not None)  # counted from now, even if raised
    change(session, ticket, event=EventKind.ROUTED, actor=BOT, at=now,
           data={"role": decision.role.value, "assignee": decision.assignee, "page": decision.page,
                 "auto_answer": decision.auto_answer, "reasons": list(decision.reasons),
                 "due_at": due.isoformat()},
           role=decision.role.value, assignee=decision.assignee, paged=ticket.paged or decision.page,
           due_at=due, escalation={"steps": [step.as_json() for step in steps]})


def send_after_hours_ack(session: Session, config: ClinicConfig, ticket: TicketRow, now: datetime) -> None:
    member = config.staff_member(ticket.assignee or "")
    if member is not None and not Category(ticket.category).is_medical:
        text = named_human_after_hours_ack(config, ticket.language, member.name)  # a VIP's named human answers
    else:
        text = after_hours_ack(config, ticket.language)
    to = reply_to(ticket)
    enqueue(
        session, to.kind, to.address, now, ticket_id=ticket.id,
        # An acknowledgement is not an answer: the SLA clock keeps running until a provider responds.
        payload={"text": text, "by": BOT, "language": ticket.language, "response": False},
        dedupe_key=f"ack:{ticket.id}",
    )
    record(session, ticket, EventKind.ACKNOWLEDGED_AFTER_HOURS, BOT, now)


def patient_of(ticket: TicketRow) -> PatientRecord | None:
    """The patient as the ticket saw them when it was matched (routing needs the tier)."""
    p = ticket.patient or {}
    if not p.get("key"):
        return None
    return PatientRecord(key=str(p["key"]), name=str(p.get("name") or ""), tier=p.get("tier"),
                         provider=str(p.get("provider") or ""), language=str(p.get("language") or ""))


def staff_classification(category: Category, ticket: TicketRow, reason: str) -> Classification:
    """A person's word on the category: as sure as routing gets."""
    return Classification(category=category, confidence=1.0, language=ticket.language, reasons=(reason,), scores={})


def raise_ticket(
    session: Session, config: ClinicConfig, ticket: TicketRow, to: Category, now: datetime, *,
    actor: str, line: str, note: str, result: Classification | None = None, patient: PatientRecord | None = None,
    page_oncall: bool = False, event: str = EventKind.RAISED, data: dict[str, Any] | None = None,
    line_on_old_card: bool = False,
) -> RouteDecision:
    """Raise `ticket` to `to` (never lower it) and route it again: channel, SLA, ladder, page, card.

    `result` is the classifier's word when a patient message raised it; otherwise a person raised it.
    `page_oncall` pages whoever is on call whatever the category (an escalation to the on-call provider);
    the caller has checked that somebody is. `line` goes to the card's thread (the new card's, or the old
    one's with `line_on_old_card`), `note` on the new card.
    """
    current = Category(ticket.category)
    category = most_severe(current, to)
    classification = result or staff_classification(category, ticket, f"{event} by {actor}")
    oncall = current_on_call(session, config, now).provider
    decision = route(config, replace(classification, category=category), patient or patient_of(ticket),
                     open_now=is_open(config, now), oncall=oncall)
    decision = replace(decision, auto_answer=False)  # a raised ticket is for a person, never the bot
    if page_oncall and oncall:
        decision = replace(decision, role=Role.CLINICAL, page=oncall,
                           reasons=(*decision.reasons, f"escalated to the on-call provider: page {oncall}"))
    changes: dict[str, Any] = {"category": category.value, "urgency": category.urgency.value}
    if result is not None:
        changes |= {"confidence": result.confidence, "reasons": list(result.reasons)}
    if decision.page:  # a fresh page wants a fresh acknowledgement
        changes |= {"paged": decision.page, "acknowledged_by": None, "acknowledged_at": None}
    detail = {"from": current.value, "to": category.value, **(data or {})}
    status = TicketStatus(ticket.status)
    leaving = decision.role.value != ticket.role
    if not status.is_open or (status is TicketStatus.CLAIMED and leaving):
        # A raised ticket that changes hands is unclaimed: the new team must see it as nobody's yet.
        move(session, ticket, TicketStatus.OPEN, event=event, actor=actor, at=now, data=detail,
             claimed_by=None, claimed_at=None, resolved_at=None, **changes)
    else:
        change(session, ticket, event=event, actor=actor, at=now, data=detail, **changes)
    reroute(session, config, ticket, decision, now, line=line, note=note, line_on_old_card=line_on_old_card)
    return decision


def reroute(session: Session, config: ClinicConfig, ticket: TicketRow, decision: RouteDecision, now: datetime, *,
            line: str, note: str, line_on_old_card: bool = False) -> None:
    """Route the ticket as `decision` says, and move its card if its channel changed."""
    old_role = ticket.role
    old_cards = current_cards(session, ticket.id)  # one per messenger
    apply_route(session, ticket, decision, now, config)
    if decision.after_hours_ack:
        send_after_hours_ack(session, config, ticket, now)
    if line and line_on_old_card and old_cards:
        for old_card in old_cards:
            thread_line(session, ticket, line, now, post=old_card)
    elif line:
        thread_line(session, ticket, line, now)
    retire_cards(session, ticket)
    refresh_cards(session, ticket, now)
    if decision.role.value != old_role:
        post_card(session, ticket, config, now, note=note)
    if decision.page:
        page(session, ticket, decision.page, now)
