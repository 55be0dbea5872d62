"""Which open ticket a follow-up belongs to, and the link between a patient's tickets.

A follow-up joins the open ticket it is about (the same category), or the most severe open one when it is
more severe (which raises it) or only `other` ("thanks", "ok"). A different, less severe request ("Thursday
11am works, please book me" while an adverse event is open) gets its own ticket, linked to that one, so the
front desk sees the booking and the nurse sees that there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.cards.model import CardField
from bot.domain import Category
from bot.storage.models import TicketRow


def primary_ticket(open_tickets: Sequence[TicketRow]) -> TicketRow | None:
    """The patient's most severe open ticket (the newest of equals)."""
    return max(open_tickets, key=lambda t: (Category(t.category).severity, t.id), default=None)


def ticket_to_join(open_tickets: Sequence[TicketRow], category: Category) -> TicketRow | None:
    """`open_tickets` newest first. None: the message opens a ticket of its own."""
    same = [t for t in open_tickets if t.category == category.value]
    if same:
        return same[0]
    if not open_tickets:
        return None
    if category is Category.OTHER:
        return open_tickets[0]  # "thanks", "ok": joins the latest conversation quietly
    primary = primary_ticket(open_tickets)
    if primary is not None and category.severity > Category(primary.category).severity:
        return primary
    return None


def _label(category: str) -> str:
    return category.replace("_", " ")


def related_fields(ticket: TicketRow) -> tuple[CardField, ...]:
    """For the card: the linked tickets and the other requests, by number and category only."""
    others = ([ticket.related] if ticket.related is not None else []) + list(ticket.linked)
    fields = [CardField("Related", ", ".join(f"#{t.id} {_label(t.category)}" for t in others))] if others else []
    if ticket.also_asks:
        fields.append(CardField("Also asks", ", ".join(_label(c) for c in ticket.also_asks)))
    return tuple(fields)
