"""A stored message the bot could not triage after its retries: a ticket for the front desk, "could not be read".

It goes through the normal card path (so the card shows what was received, cut to the clinic's privacy setting
like any card), without the classifier, the directory or the parsers that may be what failed. When the sender
already has an open ticket the message joins it as a follow-up the staff are told to read.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import UNREADABLE, Category, Role, TicketStatus, Urgency
from bot.flows.chat import post_card, refresh_cards, thread_line
from bot.flows.routing import apply_route
from bot.route.policy import RouteDecision
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow, TicketRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.links import primary_ticket
from bot.tickets.store import change, record

NOTE = "⚠️ The bot could not read this message: a person needs to read it and route it."
CHANNEL_WORDS = {"sms": "SMS", "email": "email", "web": "the web form", "dm": "DM"}


def make_unreadable(db: Database, config: ClinicConfig, clock: Clock, message_id: int, attempts: int) -> int:
    """The message becomes (or joins) a front-desk ticket marked "could not be read"; returns the ticket id."""
    with db.transaction() as session:
        message = session.get(InboundMessageRow, message_id, with_for_update=True)
        if message is None:
            raise LookupError(f"no inbound message {message_id}")
        if message.processed_at is not None and message.ticket_id is not None:
            return message.ticket_id
        now = clock.now()
        error = message.last_error_class or "error"
        reason = f"{UNREADABLE}: triage failed {attempts} times ({error})"
        open_states = [s.value for s in TicketStatus if s.is_open]
        existing = primary_ticket(list(session.scalars(select(TicketRow).where(
            TicketRow.sender == message.sender, TicketRow.status.in_(open_states)).order_by(TicketRow.id.desc()))))
        if existing is not None:
            change(session, existing, event=EventKind.FOLLOW_UP, actor=message.channel, at=now,
                   data={"message_id": message.id, "unreadable": True, "error_class": error})
            channel = CHANNEL_WORDS.get(message.channel, message.channel)
            thread_line(session, existing, f"⚠️ The patient sent a follow-up by {channel} that the bot could not "
                        "read (on the card): please read it", now)
            refresh_cards(session, existing, now)
            ticket = existing
        else:
            ticket = TicketRow(
                version=1, status=TicketStatus.OPEN.value, category=Category.OTHER.value,
                urgency=Urgency.NORMAL.value, confidence=0.0, reasons=[reason], language="en",
                channel=message.channel, sender=message.sender, patient_key=None, patient={},
                created_at=now, updated_at=now,
            )
            session.add(ticket)
            session.flush()
            record(session, ticket, EventKind.RECEIVED, message.channel, now, message_id=message.id)
            record(session, ticket, EventKind.CLASSIFIED, BOT, now, category=Category.OTHER.value, confidence=0.0,
                   reasons=[reason], unreadable=True, error_class=error)
            decision = RouteDecision(role=Role.FRONT_DESK, reasons=(f"{UNREADABLE} → front_desk",))
            # Nothing read it, so it is filed as `other`; but it may be anything, so it runs on the front desk's
            # clock (the booking SLA and ladder), nudged like any ticket nobody has answered.
            apply_route(session, ticket, decision, now, config, sla_as=Category.BOOKING)
            post_card(session, ticket, config, now, note=NOTE)
        message.processed_at = now
        message.ticket_id = ticket.id
        message.claimed_until, message.claimed_by = None, None
        return ticket.id
