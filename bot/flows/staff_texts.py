"""Acknowledging a page by replying to its text.

A staff member's text to the clinic number is a command, never a patient message: "42", "ack 42", or "ACK"
(their latest page). It acknowledges through the same action as the messenger's Acknowledge button.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.models import StaffMember
from bot.flows.actions import TicketActions
from bot.flows.chat import PAGE_KINDS, paged_providers
from bot.optouts import Keyword, is_opted_out, keyword_of, opt_back_in, opt_out
from bot.outbox.queue import OutboxKind, enqueue
from bot.storage.models import OutboxRow, TicketRow
from bot.tickets.events import EventKind
from bot.tickets.people import resolve
from bot.tickets.roles import staff_actor
from bot.tickets.store import record

log = logging.getLogger(__name__)

COMMAND = re.compile(r"^\s*(?:(?:ack(?:nowledge)?|ok)\b[\s:.#-]*)?#?\s*(\d{1,9})?\s*[.!]*\s*$", re.IGNORECASE)
HELP = "Reply with the ticket number (e.g. 42) or ACK to acknowledge your latest page."


@dataclass(frozen=True)
class Command:
    ticket_id: int | None  # None: "ACK", the latest page to this person


def parse_command(body: str) -> Command | None:
    match = COMMAND.match(body)
    if match is None or not body.strip(" .!#"):
        return None
    number = match.group(1)
    if number is None and not re.match(r"^\s*(ack|acknowledge|ok)\b", body, re.IGNORECASE):
        return None
    return Command(int(number) if number else None)


@dataclass(frozen=True)
class StaffTexts:
    actions: TicketActions

    def take(self, member: StaffMember, body: str, message_sid: str) -> str:
        """Handle one text from a staff member; the answer is queued to their phone (once per Twilio message)."""
        now = self.actions.clock.now()
        with self.actions.db.transaction() as session:
            done = session.scalars(select(OutboxRow).where(OutboxRow.dedupe_key == f"staff-sms:{message_sid}")).first()
            if done is not None:
                return str(done.payload.get("text", ""))  # Twilio retried the webhook: answered already
        if self._carrier_keyword(member, body, message_sid):
            return ""
        answer, ticket_id = self._answer(member, body)
        with self.actions.db.transaction() as session:
            ticket = session.get(TicketRow, ticket_id) if ticket_id else None
            if ticket is not None:
                record(session, ticket, EventKind.STAFF_SMS, staff_actor(self.actions.config, member).id, now,
                       staff=member.id, by_name=member.name, answer=answer, message_sid=message_sid)
            enqueue(session, OutboxKind.STAFF_SMS, member.phone, now, ticket_id=ticket.id if ticket else None,
                    payload={"text": answer, "staff": member.id}, dedupe_key=f"staff-sms:{message_sid}")
        log.info("staff text", extra={"staff": member.id, "ticket_id": ticket_id, "answered": answer[:40]})
        return answer

    def _carrier_keyword(self, member: StaffMember, body: str, message_sid: str) -> bool:
        """A provider texting STOP is opted out by Twilio too: page texts can no longer reach them. The managers
        are told (Twilio answers the provider itself); START puts them back. Not answered, like any opt-out."""
        found = keyword_of(body)
        if found is None:
            return False
        now = self.actions.clock.now()
        with self.actions.db.transaction() as session:
            opted_out = is_opted_out(session, "sms", member.phone)
            if found.kind is Keyword.OPT_IN and (opted_out or not found.only_when_opted_out):
                if opt_back_in(session, "sms", member.phone, now, keyword=found.word, message_id=None):
                    self._alert(session, f"✅ {member.name} texted {found.word}: page texts reach them again.",
                                message_sid, now)
                return True
            if found.kind is not Keyword.OPT_OUT:
                return False
            _, new = opt_out(session, "sms", member.phone, now, keyword=found.word, message_id=None)
            if new:
                self._alert(session, f"⚠️ {member.name} texted {found.word} to the clinic number: page texts cannot "
                            f"reach them until they text START.", message_sid, now)
        log.info("staff opt-out keyword", extra={"staff": member.id, "kind": found.kind.value})
        return True

    def _alert(self, session: Session, text: str, message_sid: str, now: datetime) -> None:
        enqueue(session, OutboxKind.CHAT_ALERT, self.actions.config.channels.managers, now,
                payload={"text": text}, dedupe_key=f"staff-keyword:{message_sid}")

    def _answer(self, member: StaffMember, body: str) -> tuple[str, int | None]:
        command = parse_command(body)
        if command is None:
            return HELP, None
        config = self.actions.config
        with self.actions.db.transaction() as session:
            ticket_id = command.ticket_id or _latest_page(session, member)
            if ticket_id is None:
                return "You have no page to acknowledge.", None
            ticket = session.get(TicketRow, ticket_id)
            if ticket is None:
                return f"There is no ticket #{ticket_id}. {HELP}", None
            if member.id not in paged_providers(session, ticket):
                return f"Ticket #{ticket_id} has no page for you; nothing was changed.", ticket_id
            if ticket.acknowledged_by:
                who = resolve(config, ticket.acknowledged_by).member
                by = "you" if who and who.id == member.id else (who.name if who else "someone else")
                return f"Ticket #{ticket_id} was already acknowledged by {by}.", ticket_id
        outcome = self.actions.acknowledge(ticket_id, staff_actor(config, member))
        if outcome.ok:
            return f"Ticket #{ticket_id} acknowledged.", ticket_id
        # The action's notice is written for the messenger; only a plain reason is passed on by text.
        reason = outcome.notice if "<" not in outcome.notice else "it was refused"
        return f"Ticket #{ticket_id} was not acknowledged: {reason}", ticket_id


def _latest_page(session: Session, member: StaffMember) -> int | None:
    return session.scalars(select(OutboxRow.ticket_id).where(
        OutboxRow.kind.in_(PAGE_KINDS), OutboxRow.target == member.id, OutboxRow.ticket_id.is_not(None))
        .order_by(OutboxRow.id.desc())).first()
