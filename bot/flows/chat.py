"""Keeping the messenger in step with a ticket: cards change in place, quiet lines go to the card's thread."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.domain import Role
from bot.outbox.queue import OutboxKind, enqueue
from bot.storage.models import ChatPostRow, TicketRow


def posts_of(session: Session, ticket_id: int) -> list[ChatPostRow]:
    return list(session.scalars(select(ChatPostRow).where(ChatPostRow.ticket_id == ticket_id)
                                .order_by(ChatPostRow.id)))


def refresh_cards(session: Session, ticket: TicketRow, now: datetime) -> None:
    """Re-render every place this ticket's card is shown (role channels and page DMs)."""
    for post in posts_of(session, ticket.id):
        enqueue(session, OutboxKind.CHAT_UPDATE, post.channel, now, ticket_id=ticket.id,
                payload={"post_id": post.id}, dedupe_key=f"update:{post.id}:v{ticket.version}:{now.isoformat()}")


def share_media(session: Session, ticket: TicketRow, now: datetime) -> None:
    """Every photo of the ticket goes once into the thread of each current role-channel card (not into page DMs:
    the photo is for the role's channel only). Called once a card is posted or updated (a follow-up's photo)."""
    posts = [p for p in posts_of(session, ticket.id) if p.kind == "card" and p.current]
    for post in posts:
        for message in ticket.messages:
            for index, _item in enumerate(message.media or []):
                enqueue(session, OutboxKind.CHAT_MEDIA, post.channel, now, ticket_id=ticket.id,
                        payload={"post_id": post.id, "message_id": message.id, "index": index},
                        dedupe_key=f"media:{post.id}:{message.id}:{index}")


def thread_line(session: Session, ticket: TicketRow, text: str, now: datetime, *,
                post: ChatPostRow | None = None) -> None:
    """One quiet line in the thread of `post`, else of the ticket's current card. No patient detail in `text`."""
    target = post.channel if post else ticket.role or Role.FRONT_DESK.value
    enqueue(session, OutboxKind.CHAT_THREAD, target, now, ticket_id=ticket.id,
            payload={"text": text, "post_id": post.id if post else None})


def retire_cards(session: Session, ticket: TicketRow) -> None:
    """Cards in channels the ticket has left stop being its current card (they then say where it went)."""
    for post in posts_of(session, ticket.id):
        if post.kind == "card" and post.current and post.role != ticket.role:
            post.current = False


def post_card(session: Session, ticket: TicketRow, config: ClinicConfig, now: datetime, *, note: str = "") -> None:
    role = Role(ticket.role or Role.FRONT_DESK.value)
    enqueue(session, OutboxKind.CHAT_CARD, config.channels.for_role(role), now, ticket_id=ticket.id,
            payload={"role": role.value, "note": note}, dedupe_key=f"card:{ticket.id}:{role.value}:v{ticket.version}")


def page(session: Session, ticket: TicketRow, provider: str, now: datetime) -> None:
    enqueue(session, OutboxKind.CHAT_PAGE, provider, now, ticket_id=ticket.id,
            payload={"role": Role.CLINICAL.value}, dedupe_key=f"page:{ticket.id}:{provider}")
