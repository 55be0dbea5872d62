"""Escalate: hand a ticket to another team. To the clinical team or the on-call provider it is a raise."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from bot.domain import Category, Role, TicketStatus
from bot.flows.actions.unit import Env, Outcome, permission, refused
from bot.flows.routing import raise_ticket, reroute
from bot.oncall import current_on_call
from bot.route.policy import RouteDecision
from bot.storage.models import TicketRow
from bot.tickets.events import EventKind
from bot.tickets.permissions import Act, Actor
from bot.tickets.store import change, move


class EscalationTarget(StrEnum):
    CLINICAL = "clinical"
    BILLING = "billing"
    MANAGER = "manager"
    ONCALL = "oncall"


TARGET_LABELS = {  # what every messenger's escalate dialog offers
    EscalationTarget.CLINICAL: "Clinical team",
    EscalationTarget.BILLING: "Billing",
    EscalationTarget.MANAGER: "Manager",
    EscalationTarget.ONCALL: "On-call provider (page)",
}

TARGET_ROLE = {
    EscalationTarget.CLINICAL: Role.CLINICAL,
    EscalationTarget.BILLING: Role.BILLING,
    EscalationTarget.MANAGER: Role.MANAGERS,
    EscalationTarget.ONCALL: Role.CLINICAL,
}


@dataclass(frozen=True)
class Escalate:
    target: EscalationTarget
    reason: str = ""
    act: ClassVar[Act] = Act.ESCALATE

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        role = TARGET_ROLE[self.target]
        if (refusal := permission(ticket, actor, self.act, to_role=role)) is not None:
            return refusal
        if self.target is EscalationTarget.ONCALL:
            provider = current_on_call(env.session, env.config, env.now).provider
            if not provider:
                return refused("nobody is on call right now (see the on-call rota)")
            if ticket.paged == provider and TicketStatus(ticket.status).is_open:
                member = env.config.staff_member(provider)
                return Outcome(False, f"{member.name if member else provider} has already been paged for this ticket.")
        if self.target is not EscalationTarget.ONCALL and ticket.role == role.value \
                and TicketStatus(ticket.status).is_open:
            return Outcome(False, f"It is already with #{env.config.channels.for_role(role)}.")
        return None

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        role = TARGET_ROLE[self.target]
        old_channel = env.config.channels.for_role_name(ticket.role)
        new_channel = env.config.channels.for_role(role)
        data = {"by_name": actor.name, "target": self.target.value, "reason": self.reason,
                "from_channel": old_channel, "to_channel": new_channel}
        line, note = f"Escalated to #{new_channel} by {actor.name}", f"Escalated from #{old_channel} by {actor.name}"
        if role is Role.CLINICAL:
            # Sending a ticket to the providers says it is at least clinical: raised and routed as such.
            raise_ticket(env.session, env.config, ticket, Category.CLINICAL, env.now, actor=actor.id, line=line,
                         note=note, page_oncall=self.target is EscalationTarget.ONCALL, event=EventKind.ESCALATED,
                         data=data, line_on_old_card=True)
        else:
            self._hand_over(env, ticket, actor, role, data, line, note)
        paged = " and the on-call provider is paged" if self.target is EscalationTarget.ONCALL else ""
        return Outcome(True, f"Moved to #{new_channel}{paged}.")

    def _hand_over(self, env: Env, ticket: TicketRow, actor: Actor, role: Role, data: dict[str, str], line: str,
                   note: str) -> None:
        if ticket.status != TicketStatus.OPEN.value:  # the new team gets it unclaimed (and reopened if closed)
            move(env.session, ticket, TicketStatus.OPEN, event=EventKind.ESCALATED, actor=actor.id, at=env.now,
                 data=data, claimed_by=None, claimed_at=None, resolved_at=None)
        else:
            change(env.session, ticket, event=EventKind.ESCALATED, actor=actor.id, at=env.now, data=data)
        decision = RouteDecision(role=role, assignee=ticket.assignee,
                                 reasons=(f"escalated to {role.value} by {actor.name}",))
        reroute(env.session, env.config, ticket, decision, env.now, line=line, note=note, line_on_old_card=True)
