"""What a card and a staff member are told about a patient who opted out of texts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.optouts.store import current_opt_out
from bot.storage.models import TicketRow
from bot.tickets.reply_to import reply_to

# What an opt-out on each channel stops: "opted out of texts", "... of Instagram/Facebook messages".
WHAT_STOPS = {"sms": "texts", "email": "email", "dm": "Instagram/Facebook messages"}


def what_stops(channel: str) -> str:
    return WHAT_STOPS.get(channel, "messages")


def reply_channel(ticket: TicketRow) -> str:
    """The channel a reply to this ticket goes out on ("sms", "email")."""
    return reply_to(ticket).sent_on


def opt_out_notice(session: Session, ticket: TicketRow, config: ClinicConfig) -> str | None:
    """Why nobody may text this ticket's patient, or None when they may."""
    to = reply_to(ticket)
    row = current_opt_out(session, to.sent_on, to.address)
    if row is None:
        return None
    when = row.opted_out_at.astimezone(config.clinic.tz).strftime("%a %b %d %H:%M")
    what = what_stops(row.channel)
    return f"The patient opted out of {what} ({row.keyword or 'STOP'}) on {when}; reach them another way"
