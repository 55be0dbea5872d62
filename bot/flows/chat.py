"""Keeping the messenger in step with a ticket: cards change in place, quiet lines go to the card's thread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.domain import Role
from bot.mentions import Line, Mention, line_from_json, line_json, plain, trailing
from bot.outbox.queue import OutboxKind, enqueue
from bot.storage.models import ChatPostRow, OutboxRow, TicketRow


def posts_of(session: Session, ticket_id: int) -> list[ChatPostRow]:
    return list(session.scalars(select(ChatPostRow).where(ChatPostRow.ticket_id == ticket_id)
                                .order_by(ChatPostRow.id)))


def refresh_cards(session: Session, ticket: TicketRow, now: datetime) -> None:
    """Re-render every place this ticket's card is shown (role channels and page DMs)."""
    for post in posts_of(session, ticket.id):
        enqueue(session, OutboxKind.CHAT_UPDATE, post.conversation, now, ticket_id=ticket.id,
                payload={"post_id": post.id}, dedupe_key=f"update:{post.id}:v{ticket.version}:{now.isoformat()}")


def share_media(session: Session, ticket: TicketRow, now: datetime) -> None:
    """Every photo of the ticket goes once into the thread of each current role-channel card (not into page DMs:
    the photo is for the role's channel only). Called once a card is posted or updated (a follow-up's photo)."""
    posts = [p for p in posts_of(session, ticket.id) if p.kind == "card" and p.current]
    for post in posts:
        for message in ticket.messages:
            for index, item in enumerate(message.media or []):
                if is_reference_only(item):
                    continue
                enqueue(session, OutboxKind.CHAT_MEDIA, post.conversation, now, ticket_id=ticket.id,
                        payload={"post_id": post.id, "message_id": message.id, "index": index},
                        dedupe_key=f"media:{post.id}:{message.id}:{index}")


def is_reference_only(item: object) -> bool:
    """A DM attachment: a link to Meta's CDN, shown on the card as an attachment, never fetched (the MMS fetcher
    has Twilio's credentials and only Twilio's URLs)."""
    return isinstance(item, dict) and item.get("source") == "meta"


def thread_line(session: Session, ticket: TicketRow, text: str, now: datetime, *,
                post: ChatPostRow | None = None, mentions: Sequence[Mention] = ()) -> OutboxRow:
    """One line in the thread of `post`, else of the ticket's current card. No patient detail in `text`.

    Quiet unless `mentions` are given; the messenger renders them (the core never writes their syntax).
    """
    target = post.conversation if post else ticket.role or Role.FRONT_DESK.value
    payload: dict[str, object] = {"text": text, "post_id": post.id if post else None}
    if mentions:
        payload["mentions"] = [mention.as_json() for mention in mentions]
    return enqueue(session, OutboxKind.CHAT_THREAD, target, now, ticket_id=ticket.id, payload=payload)


def line_payload(line: Line) -> dict[str, object]:
    """A chat post's payload for text with mentions in place: the plain reading, and the line itself."""
    return {"text": plain(line), "line": line_json(line)}


def chat_line(payload: Mapping[str, object]) -> Line:
    """What a chat post or thread line says: its line (mentions in place), else its text and who it pings."""
    line = payload.get("line")
    if isinstance(line, list):
        return line_from_json(line)
    mentions = payload.get("mentions")
    return trailing(str(payload.get("text", "")), Mention.all_from_json(mentions if isinstance(mentions, list) else ()))


def retire_cards(session: Session, ticket: TicketRow) -> None:
    """Cards in channels the ticket has left stop being its current card (they then say where it went)."""
    for post in posts_of(session, ticket.id):
        if post.kind == "card" and post.current and post.role != ticket.role:
            post.current = False


def post_card(session: Session, ticket: TicketRow, config: ClinicConfig, now: datetime, *, note: str = "") -> None:
    role = Role(ticket.role or Role.FRONT_DESK.value)
    enqueue(session, OutboxKind.CHAT_CARD, config.channels.for_role(role), now, ticket_id=ticket.id,
            payload={"role": role.value, "note": note}, dedupe_key=f"card:{ticket.id}:{role.value}:v{ticket.version}")


PAGE_KINDS = (OutboxKind.CHAT_PAGE.value, OutboxKind.PAGE_SMS.value, OutboxKind.PAGE_CALL.value)


def page(session: Session, ticket: TicketRow, provider: str, now: datetime) -> None:
    """Page a provider (staff id): the card by DM, and a text to their phone, because Do Not Disturb silences the DM."""
    enqueue(session, OutboxKind.CHAT_PAGE, provider, now, ticket_id=ticket.id,
            payload={"role": Role.CLINICAL.value}, dedupe_key=f"page:{ticket.id}:{provider}")
    # The phone number is looked up at delivery, so a provider without one is skipped there (and audited).
    enqueue(session, OutboxKind.PAGE_SMS, provider, now, ticket_id=ticket.id,
            dedupe_key=f"page-sms:{ticket.id}:{provider}")


def paged_providers(session: Session, ticket: TicketRow) -> list[str]:
    """Staff ids paged on this ticket so far, first paged first (the primary, then any backup)."""
    targets = session.scalars(select(OutboxRow.target).where(
        OutboxRow.ticket_id == ticket.id, OutboxRow.kind.in_(PAGE_KINDS)).order_by(OutboxRow.id)).all()
    providers = [ticket.paged] if ticket.paged else []
    return list(dict.fromkeys([*providers, *targets]))


def call_paged(session: Session, ticket: TicketRow, step_key: str, now: datetime) -> None:
    """A ladder step with `call: true`: ring every provider paged so far (phones looked up at delivery)."""
    for provider in paged_providers(session, ticket):
        enqueue(session, OutboxKind.PAGE_CALL, provider, now, ticket_id=ticket.id, payload={"step": step_key},
                dedupe_key=f"page-call:{ticket.id}:{provider}:{step_key}")
