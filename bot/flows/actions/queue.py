"""The open queue as staff see it (`/triage`, the App Home): numbers and categories only, no patient details."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.domain import Role, TicketStatus
from bot.storage.models import TicketRow

LISTED = 10  # unclaimed tickets listed per role; the count says the rest


@dataclass(frozen=True)
class TicketRef:
    id: int
    category: str

    @property
    def label(self) -> str:
        return f"#{self.id} {self.category.replace('_', ' ')}"


@dataclass(frozen=True)
class RoleQueue:
    role: Role
    channel: str
    open: int
    unclaimed: int
    listed: tuple[TicketRef, ...]  # the first unclaimed ones, oldest first


@dataclass(frozen=True)
class QueueSummary:
    roles: tuple[RoleQueue, ...]  # only roles with something open
    mine: tuple[TicketRef, ...]  # what the asking user has claimed


def queue_summary(session: Session, config: ClinicConfig, actor_id: str) -> QueueSummary:
    open_tickets = list(session.scalars(select(TicketRow).where(
        TicketRow.status.in_([TicketStatus.OPEN.value, TicketStatus.CLAIMED.value])).order_by(TicketRow.id)))
    roles = []
    for role in Role:
        mine = [t for t in open_tickets if t.role == role.value]
        if not mine:
            continue
        unclaimed = [t for t in mine if t.status == TicketStatus.OPEN.value]
        roles.append(RoleQueue(role, config.channels.for_role(role), len(mine), len(unclaimed),
                               tuple(TicketRef(t.id, t.category) for t in unclaimed[:LISTED])))
    claimed = tuple(TicketRef(t.id, t.category) for t in open_tickets if t.claimed_by == actor_id)
    return QueueSummary(tuple(roles), claimed)
