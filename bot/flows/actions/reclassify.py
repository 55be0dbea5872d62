"""Reclassify: a person corrects the category. The correction is kept for training, and the ticket is routed
as what it now is: a raise (to an adverse event, say) moves it, restarts its SLA and pages, like any raise."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from bot.domain import Category, TicketStatus
from bot.flows.actions.unit import Env, Outcome, permission
from bot.flows.chat import refresh_cards, thread_line
from bot.flows.deliver import ticket_text
from bot.flows.routing import patient_of, raise_ticket, reroute, staff_classification
from bot.hours import is_open
from bot.oncall import current_on_call
from bot.route.policy import route
from bot.storage.models import CorrectionRow, TicketRow
from bot.tickets.events import EventKind
from bot.tickets.permissions import Act, Actor
from bot.tickets.store import change, move


@dataclass(frozen=True)
class Reclassify:
    category: Category
    act: ClassVar[Act] = Act.RECLASSIFY

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        if self.category.value == ticket.category:
            return Outcome(False, f"It is already {self.category.value}.")
        return permission(ticket, actor, self.act, new_category=self.category)

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        before, after = Category(ticket.category), self.category
        env.session.add(CorrectionRow(ticket_id=ticket.id, channel=ticket.channel, text=ticket_text(ticket),
                                      predicted=before.value, corrected=after.value, actor=actor.id, at=env.now))
        data = {"by_name": actor.name}
        line = f"Reclassified {before.value} → {after.value} by {actor.name}"
        note = f"Reclassified from {before.value} by {actor.name}"
        done = f"Reclassified as {after.value}; the correction is kept for training."
        raised = after.severity > before.severity
        status = TicketStatus(ticket.status)
        if not status.is_open and not (raised and status is TicketStatus.AUTO_RESOLVED):
            # A ticket a person closed is corrected for the record; it is not routed back to anyone. One the bot
            # closed that a person now says is more serious goes back to people, as a raise.
            change(env.session, ticket, event=EventKind.RECLASSIFIED, actor=actor.id, at=env.now,
                   data={"from": before.value, "to": after.value, **data}, category=after.value,
                   urgency=after.urgency.value)
            thread_line(env.session, ticket, line, env.now)
            refresh_cards(env.session, ticket, env.now)
            return Outcome(True, done)
        old_role = ticket.role
        if raised:
            decision = raise_ticket(env.session, env.config, ticket, after, env.now, actor=actor.id, line=line,
                                    note=note, event=EventKind.RECLASSIFIED, data=data)
        else:
            decision = route(env.config, staff_classification(after, ticket, f"reclassified by {actor.name}"),
                             patient_of(ticket), open_now=is_open(env.config, env.now),
                             oncall=current_on_call(env.session, env.config, env.now).provider)
            changes: dict[str, Any] = {"category": after.value, "urgency": after.urgency.value}
            detail = {"from": before.value, "to": after.value, **data}
            if ticket.status == TicketStatus.CLAIMED.value and decision.role.value != old_role:
                # Handed to another team: they get it unclaimed.
                move(env.session, ticket, TicketStatus.OPEN, event=EventKind.RECLASSIFIED, actor=actor.id,
                     at=env.now, data=detail, claimed_by=None, claimed_at=None, **changes)
            else:
                change(env.session, ticket, event=EventKind.RECLASSIFIED, actor=actor.id, at=env.now, data=detail,
                       **changes)
            reroute(env.session, env.config, ticket, replace(decision, auto_answer=False), env.now, line=line,
                    note=note)
        moved = f" Moved to #{env.config.channels.for_role(decision.role)}." if decision.role.value != old_role else ""
        paged = " The on-call provider is paged." if decision.page else ""
        return Outcome(True, done + moved + paged)
