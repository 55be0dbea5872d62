"""Which status changes are allowed. Every change goes through `check_transition`; nothing sets status directly."""

from __future__ import annotations

from bot.domain import TicketStatus as S

ALLOWED: dict[tuple[S, S], str] = {
    (S.OPEN, S.CLAIMED): "claim",
    (S.CLAIMED, S.OPEN): "unclaim",
    (S.OPEN, S.AUTO_RESOLVED): "bot answered",
    (S.OPEN, S.RESOLVED): "resolve",
    (S.CLAIMED, S.RESOLVED): "resolve",
    (S.AUTO_RESOLVED, S.OPEN): "reopen",
    (S.RESOLVED, S.OPEN): "reopen",
}


class TransitionError(Exception):
    pass


class StaleTicket(Exception):
    """Someone else changed the ticket first (optimistic concurrency lost)."""


def check_transition(current: S, target: S) -> str:
    try:
        return ALLOWED[(current, target)]
    except KeyError:
        raise TransitionError(f"a ticket cannot go from {current.value} to {target.value}") from None
