"""Ticket persistence: compare-and-set updates on the version column, and the audit trail beside them.

A change to a ticket and its audit event are written by one call (`change`, `move`), so no caller can change a
ticket and forget to say who did it and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.domain import TicketStatus
from bot.storage.models import TicketEventRow, TicketRow
from bot.tickets.transitions import StaleTicket, check_transition


def record(session: Session, ticket: TicketRow, kind: str, actor: str, at: datetime, **data: Any) -> None:
    session.add(TicketEventRow(ticket_id=ticket.id, kind=kind, actor=actor, at=at, data=data))


def compare_and_set(session: Session, ticket: TicketRow, expected_version: int, **changes: Any) -> None:
    """Apply `changes` only if nobody changed the ticket since `expected_version` was read."""
    result = session.execute(
        update(TicketRow)
        .where(TicketRow.id == ticket.id, TicketRow.version == expected_version)
        .values(version=expected_version + 1, **changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleTicket(f"ticket {ticket.id} changed since version {expected_version}")
    session.refresh(ticket)


def change(
    session: Session, ticket: TicketRow, *, event: str, actor: str, at: datetime,
    data: Mapping[str, Any] | None = None, expected_version: int | None = None, **changes: Any,
) -> None:
    """A change that keeps the status (acknowledge, reclassify, re-route), with its audit event."""
    if "status" in changes:
        raise ValueError("a status change goes through move(), which checks the transition table")
    compare_and_set(session, ticket, ticket.version if expected_version is None else expected_version,
                    updated_at=at, **changes)
    record(session, ticket, event, actor, at, **dict(data or {}))


def move(
    session: Session, ticket: TicketRow, target: TicketStatus, *, event: str, actor: str, at: datetime,
    data: Mapping[str, Any] | None = None, expected_version: int | None = None, **changes: Any,
) -> None:
    """A status change: checked against the transition table, applied by compare-and-set, and audited."""
    current = TicketStatus(ticket.status)
    transition = check_transition(current, target)
    if not target.is_open:
        changes.setdefault("open_key", None)  # the patient's next message opens a new conversation
    compare_and_set(session, ticket, ticket.version if expected_version is None else expected_version,
                    status=target.value, updated_at=at, **changes)
    record(session, ticket, event, actor, at, **{"from_status": current.value, "to_status": target.value,
                                                  "transition": transition, **dict(data or {})})


def open_tickets_for(session: Session, patient_key: str | None, sender: str) -> list[TicketRow]:
    """The patient's open tickets, newest first: by directory match when known, else by the sender address."""
    open_states = [s.value for s in TicketStatus if s.is_open]
    query = select(TicketRow).where(TicketRow.status.in_(open_states))
    if patient_key:
        query = query.where(TicketRow.patient_key == patient_key)
    else:
        query = query.where(TicketRow.sender == sender, TicketRow.patient_key.is_(None))
    return list(session.scalars(query.order_by(TicketRow.id.desc())))


def open_ticket_for(session: Session, patient_key: str | None, sender: str) -> TicketRow | None:
    tickets = open_tickets_for(session, patient_key, sender)
    return tickets[0] if tickets else None
