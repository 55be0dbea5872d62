"""A ticket's story, told from the audit log (`triage-bot ticket show ID`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.storage.models import TicketRow


def timeline(session: Session, ticket_id: int, config: ClinicConfig) -> list[str] | None:
    ticket = session.get(TicketRow, ticket_id)
    if ticket is None:
        return None
    tz = config.clinic.tz
    patient = ticket.patient.get("name") if ticket.patient else None
    lines = [
        f"Ticket #{ticket.id} · {ticket.category} · {ticket.urgency} · {ticket.status} · v{ticket.version}",
        f"  patient: {patient or 'new (not in the directory)'} · via {ticket.channel} · role: {ticket.role}"
        + (f" · due {ticket.due_at.astimezone(tz):%Y-%m-%d %H:%M %Z}" if ticket.due_at else ""),
    ]
    for event in ticket.events:
        detail = ", ".join(f"{k}={v}" for k, v in event.data.items() if v not in (None, "", [], {}))
        lines.append(f"  {event.at.astimezone(tz):%Y-%m-%d %H:%M:%S} {event.kind:<16} by {event.actor:<8} {detail}")
    return lines
