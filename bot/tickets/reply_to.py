"""Where a reply to a ticket goes: the channel and address the patient last wrote from.

A patient who texted and then emailed about the same thing is answered by email: the channel they are using
now. The ticket's own `channel`/`sender` are where the conversation began (what the digest counts by)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.outbox.queue import reply_kind
from bot.storage.models import TicketRow


@dataclass(frozen=True)
class ReplyTo:
    channel: str  # the inbound channel: sms, email, web, dm
    address: str  # the patient's address on it
    kind: str  # the outbox kind that sends there: reply.sms, reply.email, reply.dm

    @property
    def sent_on(self) -> str:
        """The channel the reply itself travels on ("email" for a web form that gave one)."""
        return self.kind.split(".", 1)[1]


def reply_to(ticket: TicketRow) -> ReplyTo:
    latest = max(ticket.messages, key=lambda m: (m.received_at, m.id), default=None)
    channel, address = (latest.channel, latest.sender) if latest is not None else (ticket.channel, ticket.sender)
    return ReplyTo(channel, address, reply_kind(channel, address))
