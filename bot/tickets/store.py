"""Ticket persistence: compare-and-set updates on the version column, and the audit trail beside them."""

from __future__ import annotations

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


def move(
    session: Session, ticket: TicketRow, target: TicketStatus, *, expected_version: int, **changes: Any
) -> None:
    check_transition(TicketStatus(ticket.status), target)
    compare_and_set(session, ticket, expected_version, status=target.value, **changes)


def open_ticket_for(session: Session, patient_key: str | None, sender: str) -> TicketRow | None:
    """The patient's open ticket, if any: by directory match when known, else by the sender address."""
    open_states = [s.value for s in TicketStatus if s.is_open]
    query = select(TicketRow).where(TicketRow.status.in_(open_states))
    if patient_key:
        query = query.where(TicketRow.patient_key == patient_key)
    else:
        query = query.where(TicketRow.sender == sender, TicketRow.patient_key.is_(None))
    return session.scalars(query.order_by(TicketRow.id.desc())).first()
