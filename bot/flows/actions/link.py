"""Link patient: a staff member says who a sender is (a DM's page-scoped id, a new email address).

The ticket takes the patient's directory record (the card shows it, under the privacy setting), and the address
is remembered (bot/match/links.py), so the patient's next message from it is matched and joins their tickets.
A patient who already has an open conversation keeps it: this ticket is linked to it as related.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.flows.actions.unit import Env, Outcome, permission, shown
from bot.match.directory import PatientDirectory, PatientRecord
from bot.match.links import link_address
from bot.storage.models import TicketRow, open_key
from bot.tickets.events import EventKind
from bot.tickets.permissions import Act, Actor
from bot.tickets.store import change

MAX_MATCHES = 10  # what a search shows; a longer list means the query should be more precise


@dataclass(frozen=True)
class LinkPatient:
    patient_key: str
    directory: Callable[[Session], PatientDirectory]
    act: ClassVar[Act] = Act.LINK_PATIENT

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        if ticket.patient_key == self.patient_key:
            return Outcome(False, "This ticket is already linked to that patient.")
        return permission(ticket, actor, self.act)

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        patient = self.directory(env.session).find_by_key(self.patient_key)
        if patient is None:
            return Outcome(False, "That patient is no longer in the directory; search again.")
        link_address(env.session, ticket.sender, patient.key, actor.id, env.now)
        changes: dict[str, Any] = {"patient_key": patient.key, "patient": patient.snapshot()}
        joined = ""
        if ticket.open_key is not None:  # the conversation this ticket opened is now the patient's
            key = open_key(patient.key, ticket.sender)
            other = env.session.scalar(select(TicketRow.id).where(TicketRow.open_key == key, TicketRow.id != ticket.id))
            if other is not None:
                changes.update(open_key=None, related_ticket_id=other)
                joined = f" It is linked to their open ticket #{other}."
            else:
                changes["open_key"] = key
        before = ticket.patient_key
        change(env.session, ticket, event=EventKind.PATIENT_LINKED, actor=actor.id, at=env.now,
               data={"patient": patient.key, "was": before, "by_name": actor.name}, **changes)
        # The thread line names no patient: the card shows who it is, as the clinic's privacy setting allows.
        return shown(env, ticket, f"Patient linked by {actor.name}",
                     notice=f"Linked to {patient.name}: their next message from this address is matched to them "
                            f"too.{joined}")


def find_patients(directory: PatientDirectory, query: str) -> list[PatientRecord]:
    return directory.search(query, limit=MAX_MATCHES)
