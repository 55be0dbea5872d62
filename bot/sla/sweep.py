"""The SLA sweep: fire each due ladder step of each open ticket exactly once.

A step is claimed in the database (a unique key, in the same transaction as its message), so two sweeps
that overlap, in one process or in two instances sharing the database, still send each nudge once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import Role, TicketStatus
from bot.flows.chat import call_paged, page, refresh_cards, thread_line
from bot.sla.plan import Step
from bot.storage.db import Database
from bot.storage.models import SeenDeliveryRow, TicketRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.store import record

# Who covers as backup right now (staff id), from the on-call rota; None when nobody is set.
BackupLookup = Callable[[Session, datetime], str | None]


def claim_once(session: Session, key: str, now: datetime) -> bool:
    """True for the first caller with this key, across processes; False for everyone after."""
    try:
        with session.begin_nested():
            session.add(SeenDeliveryRow(key=key, at=now))
        return True
    except IntegrityError:
        return False


@dataclass(frozen=True)
class SlaSweep:
    db: Database
    config: ClinicConfig
    clock: Clock
    backup: BackupLookup

    def run(self) -> int:
        """Fire every step that is due now; returns how many fired."""
        now = self.clock.now()
        with self.db.transaction() as session:
            ids = session.scalars(select(TicketRow.id).where(
                TicketRow.status.in_([TicketStatus.OPEN.value, TicketStatus.CLAIMED.value]),
                TicketRow.due_at.is_not(None)).order_by(TicketRow.id)).all()
        return sum(self._sweep_ticket(ticket_id, now) for ticket_id in ids)

    def _sweep_ticket(self, ticket_id: int, now: datetime) -> int:
        with self.db.transaction() as session:
            ticket = session.get(TicketRow, ticket_id)
            if ticket is None:
                return 0
            fired = 0
            for step in (Step.from_json(data) for data in (ticket.escalation or {}).get("steps", [])):
                if step.at > now or not _applies(ticket, step):
                    continue
                if not claim_once(session, f"sla:{ticket.id}:{step.key}", now):
                    continue  # another sweep fired it
                self._fire(session, ticket, step, now)
                fired += 1
            if fired:
                refresh_cards(session, ticket, now)
            return fired

    def _fire(self, session: Session, ticket: TicketRow, step: Step, now: datetime) -> None:
        late = int((now - (ticket.due_at or now)).total_seconds() // 60)
        who = self._mention(session, ticket, step.notify, now)
        if step.key.split(":")[1] == "page":
            minutes = int((now - ticket.created_at).total_seconds() // 60)
            text = f"🚨 Page not acknowledged after {minutes} min: {step.notify} — {who}"
            backup = self.backup(session, now) if step.notify == "backup" else None
            if backup and backup != ticket.paged:
                page(session, ticket, backup, now)
            if step.call:
                call_paged(session, ticket, step.key, now)
        else:
            text = f"⏰ Unclaimed, overdue by {max(late, 0)} min — {who}"
        thread_line(session, ticket, text, now)
        record(session, ticket, EventKind.NUDGED, BOT, now, step=step.key, notify=step.notify, mentioned=who)

    def _mention(self, session: Session, ticket: TicketRow, notify: str, now: datetime) -> str:
        """One mention string per step: the role's user group, or its members; a lead; the manager."""
        config = self.config
        role = Role(ticket.role or Role.FRONT_DESK.value)
        if notify == "role":
            return _role_mention(config, role)
        if notify == "lead":
            lead = config.staff_member(config.roles.for_role(role).lead)
            if lead and lead.chat_user:
                return f"<@{lead.chat_user}>"
            notify = "manager"  # no lead configured: the next rung
        if notify == "backup":
            backup = config.staff_member(self.backup(session, now) or "")
            if backup and backup.chat_user:
                return f"<@{backup.chat_user}>"
            notify = "manager"
        manager = config.staff_member(config.escalation.manager)
        if manager and manager.chat_user:
            return f"<@{manager.chat_user}>"
        return _role_mention(config, Role.MANAGERS)


def _role_mention(config: ClinicConfig, role: Role) -> str:
    settings = config.roles.for_role(role)
    if settings.usergroup:
        return f"<!subteam^{settings.usergroup}>"
    members = sorted(config.role_members(role))
    return " ".join(f"<@{member}>" for member in members) if members else "<!here>"


def _applies(ticket: TicketRow, step: Step) -> bool:
    """Nudges chase unclaimed tickets; the page ladder chases a page nobody acknowledged or took."""
    if ticket.status != TicketStatus.OPEN.value:
        return False
    if step.key.split(":")[1] == "page":
        return bool(ticket.paged) and not ticket.acknowledged_by
    return True
