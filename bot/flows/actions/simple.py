"""Acknowledge a page, resolve, and open a hidden message: one check, one audited change each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.domain import TicketStatus
from bot.flows.actions.unit import WHO, Env, Outcome, permission, shown
from bot.flows.deliver import ticket_text
from bot.storage.models import TicketRow
from bot.tickets.events import EventKind
from bot.tickets.permissions import Act, Actor
from bot.tickets.store import change, move, record


@dataclass(frozen=True)
class Acknowledge:
    act: ClassVar[Act] = Act.ACKNOWLEDGE

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        if not ticket.paged:
            return Outcome(False, "This ticket has no page to acknowledge.")
        if ticket.acknowledged_by:
            return Outcome(ticket.acknowledged_by == actor.id, f"Already acknowledged by {WHO}.",
                           who=ticket.acknowledged_by)
        return permission(ticket, actor, self.act)

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        change(env.session, ticket, event=EventKind.ACKNOWLEDGED, actor=actor.id, at=env.now,
               data={"by_name": actor.name}, acknowledged_by=actor.id, acknowledged_at=env.now)
        return shown(env, ticket, f"Page acknowledged by {actor.name}")


@dataclass(frozen=True)
class Resolve:
    act: ClassVar[Act] = Act.RESOLVE

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        if not TicketStatus(ticket.status).is_open:
            return Outcome(False, "This ticket is already closed.")
        return permission(ticket, actor, self.act)

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        move(env.session, ticket, TicketStatus.RESOLVED, event=EventKind.RESOLVED, actor=actor.id, at=env.now,
             data={"by_name": actor.name}, resolved_at=env.now)
        return shown(env, ticket, f"Resolved by {actor.name}")


@dataclass(frozen=True)
class ViewMessage:
    """For the privacy setting that hides messages: the text, for the ticket's role only, and audited."""

    act: ClassVar[Act] = Act.VIEW_MESSAGE

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        return permission(ticket, actor, self.act)

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        # Not a change to the ticket, but who read a hidden message is part of its record.
        record(env.session, ticket, EventKind.MESSAGE_VIEWED, actor.id, env.now, by_name=actor.name)
        return Outcome(True, "", detail={"text": ticket_text(ticket)})
