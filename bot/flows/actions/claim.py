"""Claim: an open ticket becomes the actor's. Unclaim: it goes back to the queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.domain import TicketStatus
from bot.flows.actions.unit import WHO, Env, Outcome, permission, shown
from bot.storage.models import TicketRow
from bot.tickets.events import EventKind
from bot.tickets.permissions import Act, Actor
from bot.tickets.store import move


@dataclass(frozen=True)
class Claim:
    act: ClassVar[Act] = Act.CLAIM

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        if (refused := permission(ticket, actor, self.act)) is not None:
            return refused
        if ticket.status == TicketStatus.CLAIMED.value:
            if ticket.claimed_by == actor.id:
                return Outcome(True, "You already have this ticket.")
            return Outcome(False, f"Already claimed by {WHO}.", who=ticket.claimed_by)
        if ticket.status != TicketStatus.OPEN.value:
            return Outcome(False, f"This ticket is {ticket.status.replace('_', ' ')}; nothing to claim.")
        return None

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        move(env.session, ticket, TicketStatus.CLAIMED, event=EventKind.CLAIMED, actor=actor.id, at=env.now,
             data={"by_name": actor.name}, claimed_by=actor.id, claimed_at=env.now)
        return shown(env, ticket, f"Claimed by {actor.name}")


@dataclass(frozen=True)
class Unclaim:
    act: ClassVar[Act] = Act.UNCLAIM

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        if ticket.status != TicketStatus.CLAIMED.value:
            return Outcome(False, "Nobody has claimed this ticket.")
        return permission(ticket, actor, self.act)

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        move(env.session, ticket, TicketStatus.OPEN, event=EventKind.UNCLAIMED, actor=actor.id, at=env.now,
             data={"by_name": actor.name}, claimed_by=None, claimed_at=None)
        return shown(env, ticket, f"Unclaimed by {actor.name}")
