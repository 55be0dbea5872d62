"""What staff do to a ticket: claim, unclaim, reply, escalate, acknowledge, resolve, reclassify.

Each action checks permission, changes the ticket by compare-and-set on its version, appends an audit event,
and queues the card refresh and a quiet thread line. The handler shows `Outcome.notice` to the actor only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import Category, Role, TicketStatus
from bot.flows.chat import page, post_card, refresh_cards, retire_cards, thread_line
from bot.flows.deliver import current_card, ticket_text
from bot.flows.opt_outs import opt_out_notice
from bot.flows.triage import reply_kind
from bot.oncall import current_on_call
from bot.outbox.queue import enqueue
from bot.storage.db import Database
from bot.storage.models import CorrectionRow, TicketRow
from bot.tickets.events import EventKind
from bot.tickets.permissions import Act, Actor, refusal
from bot.tickets.store import compare_and_set, move, record
from bot.tickets.transitions import StaleTicket


class EscalationTarget(StrEnum):
    CLINICAL = "clinical"
    BILLING = "billing"
    MANAGER = "manager"
    ONCALL = "oncall"


TARGET_ROLE = {
    EscalationTarget.CLINICAL: Role.CLINICAL,
    EscalationTarget.BILLING: Role.BILLING,
    EscalationTarget.MANAGER: Role.MANAGERS,
    EscalationTarget.ONCALL: Role.CLINICAL,
}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    notice: str  # shown to the actor only (ephemeral); empty when the card change says it all


@dataclass(frozen=True)
class TicketActions:
    db: Database
    config: ClinicConfig
    clock: Clock

    def claim(self, ticket_id: int, actor: Actor) -> Outcome:
        with self.db.transaction() as session:
            ticket, now = self._load(session, ticket_id), self.clock.now()
            if (refused := self._refuse(session, ticket, actor, Act.CLAIM, now)) is not None:
                return refused
            if ticket.status == TicketStatus.CLAIMED.value:
                if ticket.claimed_by == actor.id:
                    return Outcome(True, "You already have this ticket.")
                return Outcome(False, f"Already claimed by <@{ticket.claimed_by}>.")
            if ticket.status != TicketStatus.OPEN.value:
                return Outcome(False, f"This ticket is {ticket.status.replace('_', ' ')}; nothing to claim.")
            try:
                move(session, ticket, TicketStatus.CLAIMED, expected_version=ticket.version, claimed_by=actor.id,
                     claimed_at=now, updated_at=now)
            except StaleTicket:
                return Outcome(False, "Someone changed this ticket at the same moment; look at the card again.")
            self._changed(session, ticket, EventKind.CLAIMED, actor, now, f"Claimed by {actor.name}")
            return Outcome(True, "")

    def unclaim(self, ticket_id: int, actor: Actor) -> Outcome:
        with self.db.transaction() as session:
            ticket, now = self._load(session, ticket_id), self.clock.now()
            if ticket.status != TicketStatus.CLAIMED.value:
                return Outcome(False, "Nobody has claimed this ticket.")
            if ticket.claimed_by != actor.id and Role.MANAGERS not in actor.roles:
                return Outcome(False, f"Only <@{ticket.claimed_by}> or a manager can unclaim it.")
            move(session, ticket, TicketStatus.OPEN, expected_version=ticket.version, claimed_by=None,
                 claimed_at=None, updated_at=now)
            self._changed(session, ticket, EventKind.UNCLAIMED, actor, now, f"Unclaimed by {actor.name}")
            return Outcome(True, "")

    def reply(self, ticket_id: int, actor: Actor, text: str, *, submission_id: str) -> Outcome:
        text = text.strip()
        if not text:
            return Outcome(False, "The reply is empty.")
        with self.db.transaction() as session:
            ticket, now = self._load(session, ticket_id), self.clock.now()
            if (refused := self._refuse(session, ticket, actor, Act.REPLY, now)) is not None:
                return refused
            if (opted_out := opt_out_notice(session, ticket, self.config)) is not None:
                # Refused before anything is queued: the text could never be sent (STOP), and the staff member
                # learns it now rather than from a failed delivery.
                record(session, ticket, EventKind.REFUSED, actor.id, now, act=Act.REPLY.value, reason="opted_out")
                return Outcome(False, f"{opted_out}.")
            enqueue(session, reply_kind(ticket.channel, ticket.sender), ticket.sender, now, ticket_id=ticket.id,
                    payload={"text": text, "by": actor.id, "by_name": actor.name, "language": ticket.language},
                    dedupe_key=f"reply:{submission_id}")
            changes: dict[str, object] = {"updated_at": now}
            if ticket.status == TicketStatus.OPEN.value:
                move(session, ticket, TicketStatus.CLAIMED, expected_version=ticket.version, claimed_by=actor.id,
                     claimed_at=now, **changes)
            else:
                compare_and_set(session, ticket, ticket.version, **changes)
            record(session, ticket, EventKind.REPLIED, actor.id, now, by_name=actor.name, chars=len(text))
            refresh_cards(session, ticket, now)
            return Outcome(True, "Reply queued; it will show in the thread once delivered.")

    def escalate(self, ticket_id: int, actor: Actor, target: EscalationTarget, reason: str) -> Outcome:
        with self.db.transaction() as session:
            ticket, now = self._load(session, ticket_id), self.clock.now()
            if not TicketStatus(ticket.status).is_open:
                move(session, ticket, TicketStatus.OPEN, expected_version=ticket.version, resolved_at=None)
            role = TARGET_ROLE[target]
            old_channel = self.config.channels.for_role_name(ticket.role)
            new_channel = self.config.channels.for_role(role)
            provider = None
            if target is EscalationTarget.ONCALL:
                provider = current_on_call(session, self.config, now).provider
            if target is EscalationTarget.ONCALL and not provider:
                return Outcome(False, "Nobody is on call right now (see the on-call rota).")
            compare_and_set(session, ticket, ticket.version, role=role.value, status=TicketStatus.OPEN.value,
                            claimed_by=None, claimed_at=None, paged=provider or ticket.paged,
                            acknowledged_by=None if provider else ticket.acknowledged_by,
                            acknowledged_at=None if provider else ticket.acknowledged_at, updated_at=now)
            record(session, ticket, EventKind.ESCALATED, actor.id, now, by_name=actor.name, target=target.value,
                   reason=reason, from_channel=old_channel, to_channel=new_channel)
            thread_line(session, ticket, f"Escalated to #{new_channel} by {actor.name}", now,
                        post=current_card(session, ticket.id))
            retire_cards(session, ticket)
            refresh_cards(session, ticket, now)
            post_card(session, ticket, self.config, now, note=f"Escalated from #{old_channel} by {actor.name}")
            if provider:
                page(session, ticket, provider, now)
            return Outcome(True, f"Moved to #{new_channel}.")

    def acknowledge(self, ticket_id: int, actor: Actor) -> Outcome:
        with self.db.transaction() as session:
            ticket, now = self._load(session, ticket_id), self.clock.now()
            if not ticket.paged:
                return Outcome(False, "This ticket has no page to acknowledge.")
            if ticket.acknowledged_by:
                mine = ticket.acknowledged_by == actor.id
                return Outcome(mine, f"Already acknowledged by <@{ticket.acknowledged_by}>.")
            if (refused := self._refuse(session, ticket, actor, Act.ACKNOWLEDGE, now)) is not None:
                return refused
            compare_and_set(session, ticket, ticket.version, acknowledged_by=actor.id, acknowledged_at=now,
                            updated_at=now)
            self._changed(session, ticket, EventKind.ACKNOWLEDGED, actor, now, f"Page acknowledged by {actor.name}")
            return Outcome(True, "")

    def resolve(self, ticket_id: int, actor: Actor) -> Outcome:
        with self.db.transaction() as session:
            ticket, now = self._load(session, ticket_id), self.clock.now()
            if not TicketStatus(ticket.status).is_open:
                return Outcome(False, "This ticket is already closed.")
            if (refused := self._refuse(session, ticket, actor, Act.RESOLVE, now)) is not None:
                return refused
            move(session, ticket, TicketStatus.RESOLVED, expected_version=ticket.version, resolved_at=now,
                 updated_at=now)
            self._changed(session, ticket, EventKind.RESOLVED, actor, now, f"Resolved by {actor.name}")
            return Outcome(True, "")

    def reclassify(self, ticket_id: int, actor: Actor, category: Category) -> Outcome:
        with self.db.transaction() as session:
            ticket, now = self._load(session, ticket_id), self.clock.now()
            if category.value == ticket.category:
                return Outcome(False, f"It is already {category.value}.")
            if (refused := self._refuse(session, ticket, actor, Act.RECLASSIFY, now, new_category=category)):
                return refused
            before = ticket.category
            session.add(CorrectionRow(ticket_id=ticket.id, channel=ticket.channel, text=ticket_text(ticket),
                                      predicted=before, corrected=category.value, actor=actor.id, at=now))
            compare_and_set(session, ticket, ticket.version, category=category.value,
                            urgency=category.urgency.value, updated_at=now)
            record(session, ticket, EventKind.RECLASSIFIED, actor.id, now, by_name=actor.name,
                   **{"from": before, "to": category.value})
            thread_line(session, ticket, f"Reclassified {before} → {category.value} by {actor.name}", now)
            refresh_cards(session, ticket, now)
            return Outcome(True, f"Reclassified as {category.value}; the correction is kept for training.")

    def may_view_message(self, ticket_id: int, actor: Actor) -> tuple[Outcome, str]:
        """For the privacy setting that hides messages: the text, for role members only, audited."""
        with self.db.transaction() as session:
            ticket, now = self._load(session, ticket_id), self.clock.now()
            if (refused := self._refuse(session, ticket, actor, Act.VIEW_MESSAGE, now)) is not None:
                return refused, ""
            record(session, ticket, EventKind.MESSAGE_VIEWED, actor.id, now, by_name=actor.name)
            return Outcome(True, ""), ticket_text(ticket)

    def _load(self, session: Session, ticket_id: int) -> TicketRow:
        ticket = session.get(TicketRow, ticket_id)
        if ticket is None:
            raise LookupError(f"no ticket #{ticket_id}")
        return ticket

    def _refuse(self, session: Session, ticket: TicketRow, actor: Actor, act: Act, now: datetime,
                new_category: Category | None = None) -> Outcome | None:
        reason = refusal(actor, act, ticket, new_category=new_category)
        if reason is None:
            return None
        record(session, ticket, EventKind.REFUSED, actor.id, now, act=act.value, reason=reason)
        return Outcome(False, f"Sorry: {reason}.")

    def _changed(self, session: Session, ticket: TicketRow, kind: EventKind, actor: Actor, now: datetime,
                 line: str) -> None:
        record(session, ticket, kind, actor.id, now, by_name=actor.name)
        thread_line(session, ticket, line, now)
        refresh_cards(session, ticket, now)
