"""What staff do: one small unit per action (claim, unclaim, reply, escalate, acknowledge, resolve, reclassify,
view a hidden message), the queue summary and the on-call desk. Every messenger's handlers call these; they
only parse, call and render.

Each unit checks permission before it acts, changes the ticket through the transition table (`move`) or a
compare-and-set (`change`) that write the audit event themselves, and queues the card refresh and a quiet
thread line. A refused action changes nothing but the audit line that says it was refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import Category
from bot.flows.actions.claim import Claim, Unclaim
from bot.flows.actions.escalate import TARGET_ROLE, Escalate, EscalationTarget
from bot.flows.actions.link import LinkPatient, find_patients
from bot.flows.actions.oncall import OnCallDesk, StaffRef
from bot.flows.actions.queue import QueueSummary, RoleQueue, TicketRef, queue_summary
from bot.flows.actions.reclassify import Reclassify
from bot.flows.actions.reply import OpenDialog, Reply, staff_templates
from bot.flows.actions.simple import Acknowledge, Resolve, ViewMessage
from bot.flows.actions.unit import WHO, Outcome, TicketAction, perform
from bot.match.directory import EmbeddedDirectory, PatientDirectory, PatientRecord
from bot.storage.db import Database
from bot.tickets.permissions import Act, Actor

__all__ = [
    "TARGET_ROLE", "WHO", "Act", "Actor", "EscalationTarget", "OnCallDesk", "Outcome", "QueueSummary", "RoleQueue",
    "StaffRef", "TicketActions", "TicketRef", "staff_templates",
]


@dataclass(frozen=True)
class TicketActions:
    db: Database
    config: ClinicConfig
    clock: Clock
    directory: Callable[[Session], PatientDirectory] = field(default=EmbeddedDirectory)

    def run(self, ticket_id: int, actor: Actor, action: TicketAction) -> Outcome:
        return perform(self.db, self.config, self.clock, ticket_id, actor, action)

    def claim(self, ticket_id: int, actor: Actor) -> Outcome:
        return self.run(ticket_id, actor, Claim())

    def unclaim(self, ticket_id: int, actor: Actor) -> Outcome:
        return self.run(ticket_id, actor, Unclaim())

    def reply(self, ticket_id: int, actor: Actor, text: str, *, submission_id: str, template: str = "") -> Outcome:
        return self.run(ticket_id, actor, Reply(text, submission_id, template))

    def open_dialog(self, ticket_id: int, actor: Actor, act: Act) -> Outcome:
        """Checked when the button is clicked, before anyone types into a dialog they may not send."""
        return self.run(ticket_id, actor, OpenDialog(act))

    def escalate(self, ticket_id: int, actor: Actor, target: EscalationTarget, reason: str) -> Outcome:
        return self.run(ticket_id, actor, Escalate(target, reason))

    def acknowledge(self, ticket_id: int, actor: Actor) -> Outcome:
        return self.run(ticket_id, actor, Acknowledge())

    def resolve(self, ticket_id: int, actor: Actor) -> Outcome:
        return self.run(ticket_id, actor, Resolve())

    def reclassify(self, ticket_id: int, actor: Actor, category: Category) -> Outcome:
        return self.run(ticket_id, actor, Reclassify(category))

    def find_patients(self, ticket_id: int, actor: Actor, query: str) -> tuple[Outcome, list[PatientRecord]]:
        """"Link patient"'s search: who may link this ticket, and the directory's matches for what they typed."""
        outcome = self.open_dialog(ticket_id, actor, Act.LINK_PATIENT)
        if not outcome.ok:
            return outcome, []
        with self.db.read() as session:
            return outcome, find_patients(self.directory(session), query)

    def link_patient(self, ticket_id: int, actor: Actor, patient_key: str) -> Outcome:
        return self.run(ticket_id, actor, LinkPatient(patient_key, self.directory))

    def may_view_message(self, ticket_id: int, actor: Actor) -> tuple[Outcome, str]:
        outcome = self.run(ticket_id, actor, ViewMessage())
        return outcome, outcome.detail.get("text", "")

    def queue(self, actor_id: str) -> QueueSummary:
        """The open queue, and what `actor_id` (an Actor's id) has claimed."""
        with self.db.transaction() as session:
            return queue_summary(session, self.config, actor_id)

    @property
    def oncall(self) -> OnCallDesk:
        return OnCallDesk(self.db, self.config, self.clock)
