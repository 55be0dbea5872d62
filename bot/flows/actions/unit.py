"""What every staff action is: a permission check that only reads, then one change with its audit event.

`perform` runs an action in one transaction: load the ticket, `check` (which may refuse, or find nothing to
do), then `apply`. A refusal is audited and changes nothing else; `check` writing anything is a bug and raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import Category, Role
from bot.flows.chat import refresh_cards, thread_line
from bot.mentions import Line
from bot.storage.db import Database
from bot.storage.models import TicketRow
from bot.tickets.events import EventKind
from bot.tickets.people import person_mention
from bot.tickets.permissions import Act, Actor, refusal
from bot.tickets.store import record
from bot.tickets.transitions import StaleTicket

WHO = "{who}"  # placeholder for a person the notice names; each messenger renders it its own way


@dataclass(frozen=True)
class Outcome:
    ok: bool
    notice: str  # shown to the actor only (ephemeral); empty when the card change says it all
    who: str | None = None  # the actor id (bot/tickets/people.py) behind {who} in `notice`
    refused: str | None = None  # set on a permission refusal: the reason, audited
    detail: Mapping[str, str] = field(default_factory=dict)  # what a dialog or viewer needs to show

    def line(self, config: ClinicConfig) -> Line:
        """The notice with the person it names as a mention in place (each messenger renders it)."""
        if not self.who or WHO not in self.notice:
            return (self.notice,) if self.notice else ()
        before, after = self.notice.split(WHO, 1)
        return tuple(part for part in (before, person_mention(config, self.who), after) if part)


def refused(reason: str) -> Outcome:
    return Outcome(False, f"Sorry: {reason}.", refused=reason)


def permission(ticket: TicketRow, actor: Actor, act: Act, *, new_category: Category | None = None,
               to_role: Role | None = None) -> Outcome | None:
    reason = refusal(actor, act, ticket, new_category=new_category, to_role=to_role)
    return refused(reason) if reason else None


def shown(env: Env, ticket: TicketRow, line: str, notice: str = "") -> Outcome:
    """After a change: one quiet line in the card's thread, the card re-rendered everywhere, the actor told."""
    thread_line(env.session, ticket, line, env.now)
    refresh_cards(env.session, ticket, env.now)
    return Outcome(True, notice)


@dataclass(frozen=True)
class Env:
    session: Session
    config: ClinicConfig
    now: datetime


class TicketAction(Protocol):
    @property
    def act(self) -> Act: ...

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        """A refusal or 'nothing to do' (reads only), or None to go ahead."""

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        """The change, through `move`/`change` (which write its audit event), and what it queues."""


STALE = Outcome(False, "Someone changed this ticket at the same moment; look at the card again.")


def perform(db: Database, config: ClinicConfig, clock: Clock, ticket_id: int, actor: Actor,
            action: TicketAction) -> Outcome:
    try:
        with db.transaction() as session:
            ticket = session.get(TicketRow, ticket_id)
            if ticket is None:
                raise LookupError(f"no ticket #{ticket_id}")
            env = Env(session, config, clock.now())
            stop = action.check(env, ticket, actor)
            if session.new or session.dirty or session.deleted:
                raise RuntimeError(f"{type(action).__name__}.check wrote to the database")
            if stop is not None:
                if stop.refused:
                    record(session, ticket, EventKind.REFUSED, actor.id, env.now, act=action.act.value,
                           reason=stop.refused)
                return stop
            return action.apply(env, ticket, actor)
    except StaleTicket:
        return STALE
