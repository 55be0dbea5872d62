"""Pages by phone: the text and the spoken words. Category and ticket number only, never a patient detail."""

from __future__ import annotations

from bot.config.models import ClinicConfig
from bot.domain import Category
from bot.storage.models import TicketRow


def _label(ticket: TicketRow) -> str:
    if ticket.category == Category.ADVERSE_EVENT.value:
        return "Adverse-event"
    return ticket.category.replace("_", " ").capitalize()


def page_text(ticket: TicketRow, config: ClinicConfig) -> str:
    """The page by SMS. Category and ticket number only: a lock screen may show it to anyone nearby."""
    return (f"{_label(ticket)} page: ticket #{ticket.id}, acknowledge: reply {ticket.id} "
            f"or open {config.paging.messenger}")


def call_text(ticket: TicketRow, config: ClinicConfig) -> str:
    """What the voice call says (twice): the clinic, the category, the ticket number; no patient detail."""
    return (f"{config.clinic.name} {_label(ticket).lower()} page, ticket {ticket.id}. "
            f"Reply {ticket.id} by text or open {config.paging.messenger} to acknowledge.")
