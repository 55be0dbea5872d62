"""Delivery: what each outbox kind does through the ports, and what is recorded when it lands or fails."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cards.build import build_card
from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import TicketStatus
from bot.flows.chat import post_card, refresh_cards, thread_line
from bot.outbox.errors import permanent, transient
from bot.outbox.queue import OutboxKind, OutboxStatus, enqueue
from bot.outbox.worker import Delivery
from bot.ports import ChatPoster, PatientMessenger, PostRef
from bot.storage.models import ChatPostRow, OutboxRow, TicketRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.store import move, record

CHAT_PACE_SECONDS = 1.0  # Slack allows about one message a second per channel


def ticket_text(ticket: TicketRow) -> str:
    """Every message the patient sent on this ticket, oldest first."""
    return "\n\n".join(m.body for m in ticket.messages)


def current_card(session: Session, ticket_id: int) -> ChatPostRow | None:
    return session.scalars(
        select(ChatPostRow).where(ChatPostRow.ticket_id == ticket_id, ChatPostRow.kind == "card",
                                  ChatPostRow.current.is_(True)).order_by(ChatPostRow.id.desc())
    ).first()


def deliveries(
    config: ClinicConfig, clock: Clock, messengers: Mapping[str, PatientMessenger], poster: ChatPoster
) -> dict[str, Delivery]:
    def card_for(session: Session, ticket: TicketRow, post: ChatPostRow | None = None, note: str = "") -> Any:
        moved_to = None
        if post is not None and post.kind == "card" and not post.current and post.role != ticket.role:
            moved_to = config.channels.for_role_name(ticket.role)
        return build_card(ticket, ticket_text(ticket), config, clock.now(), note=note or (post.note if post else ""),
                          moved_to=moved_to)

    def send_card(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket = _ticket(session, row)
        ref = poster.post_card(row.target, card_for(session, ticket, note=str(row.payload.get("note", ""))))
        return {"channel": ref.channel, "ts": ref.ts}

    def send_page(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket = _ticket(session, row)
        member = config.staff_member(row.target)
        to = member.chat_user if member and member.chat_user else row.target
        ref = poster.post_card(to, card_for(session, ticket))
        return {"channel": ref.channel, "ts": ref.ts}

    def send_update(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket = _ticket(session, row)
        post = session.get(ChatPostRow, int(row.payload["post_id"]))
        if post is None:
            return {"skipped": "post not found"}
        poster.update_card(PostRef(post.channel, post.ts), card_for(session, ticket, post))
        return {"channel": post.channel, "ts": post.ts}

    def send_thread(session: Session, row: OutboxRow) -> dict[str, Any]:
        pinned = row.payload.get("post_id")
        post = session.get(ChatPostRow, int(pinned)) if pinned else current_card(session, int(row.ticket_id or 0))
        if post is None:
            if _card_pending(session, int(row.ticket_id or 0)):
                raise transient("the card is not posted yet", retry_after=5)
            return {"skipped": "the ticket has no card"}
        ref = poster.post_text(post.channel, str(row.payload["text"]), thread=PostRef(post.channel, post.ts))
        return {"channel": ref.channel, "ts": ref.ts}

    def send_alert(session: Session, row: OutboxRow) -> dict[str, Any]:
        ref = poster.post_text(row.target, str(row.payload.get("text", "")))
        return {"channel": ref.channel, "ts": ref.ts}

    def send_file(session: Session, row: OutboxRow) -> dict[str, Any]:
        post = session.get(OutboxRow, int(row.payload["after"]))
        if post is None or post.status == OutboxStatus.FAILED.value:
            raise permanent("the post this file belongs to was never delivered")
        if post.status != OutboxStatus.SENT.value:
            raise transient("waiting for the post this file belongs to", retry_after=2)
        poster.post_file(str(post.result["channel"]), str(row.payload["filename"]),
                         base64.b64decode(str(row.payload["data_b64"])), str(row.payload.get("title", "")))
        return {"channel": post.result["channel"]}

    table: dict[str, Delivery] = {
        kind: Delivery(send=_reply_sender(messenger), on_sent=_reply_sent) for kind, messenger in messengers.items()
    }
    table[OutboxKind.CHAT_CARD] = Delivery(send=send_card, on_sent=_posted("card"), pace_seconds=CHAT_PACE_SECONDS)
    table[OutboxKind.CHAT_PAGE] = Delivery(send=send_page, on_sent=_posted("page"), pace_seconds=CHAT_PACE_SECONDS)
    table[OutboxKind.CHAT_UPDATE] = Delivery(send=send_update, pace_seconds=CHAT_PACE_SECONDS)
    table[OutboxKind.CHAT_THREAD] = Delivery(send=send_thread, pace_seconds=CHAT_PACE_SECONDS)
    table[OutboxKind.CHAT_ALERT] = Delivery(send=send_alert, pace_seconds=CHAT_PACE_SECONDS)
    table[OutboxKind.CHAT_POST] = Delivery(send=send_alert, pace_seconds=CHAT_PACE_SECONDS)
    table[OutboxKind.CHAT_FILE] = Delivery(send=send_file, pace_seconds=CHAT_PACE_SECONDS)
    return table


def _card_pending(session: Session, ticket_id: int) -> bool:
    return session.scalars(select(OutboxRow.id).where(
        OutboxRow.ticket_id == ticket_id, OutboxRow.kind == OutboxKind.CHAT_CARD.value,
        OutboxRow.status == OutboxStatus.PENDING.value)).first() is not None


def _ticket(session: Session, row: OutboxRow) -> TicketRow:
    ticket = session.get(TicketRow, row.ticket_id) if row.ticket_id else None
    if ticket is None:
        raise LookupError(f"outbox row {row.id} has no ticket")
    return ticket


def _reply_sender(messenger: PatientMessenger) -> Callable[[Session, OutboxRow], dict[str, Any]]:
    def send(session: Session, row: OutboxRow) -> dict[str, Any]:
        provider_id = messenger.send(row.target, str(row.payload["text"]), idempotency_key=f"outbox-{row.id}")
        return {"provider_id": provider_id}

    return send


def _reply_sent(session: Session, row: OutboxRow, now: datetime) -> None:
    if not row.ticket_id:
        return
    ticket = _ticket(session, row)
    by = str(row.payload.get("by", BOT))
    response = bool(row.payload.get("response", True))
    record(session, ticket, EventKind.REPLY_SENT, by, now, outbox_id=row.id, channel=row.kind,
           provider_id=row.result.get("provider_id"), response=response)
    if response and ticket.first_response_at is None:
        ticket.first_response_at = now
    if by != BOT:
        thread_line(session, ticket, f"Reply sent by {row.payload.get('by_name') or by}", now)


def _posted(kind: str) -> Callable[[Session, OutboxRow, datetime], None]:
    def on_sent(session: Session, row: OutboxRow, now: datetime) -> None:
        ticket = _ticket(session, row)
        channel, ts = str(row.result["channel"]), str(row.result["ts"])
        session.add(ChatPostRow(ticket_id=ticket.id, kind=kind, role=str(row.payload.get("role", "")),
                                channel=channel, ts=ts, created_at=now, current=True,
                                note=str(row.payload.get("note", ""))[:300]))
        record(session, ticket, EventKind.POSTED if kind == "card" else EventKind.PAGED, BOT, now,
               channel=channel, ts=ts, **({"provider": row.target} if kind == "page" else {}))

    return on_sent


def failure_hook(config: ClinicConfig) -> Callable[[Session, OutboxRow, datetime], None]:
    """A delivery given up on is never silent: an audit event, an alert to managers, and a human takes over."""

    def on_failed(session: Session, row: OutboxRow, now: datetime) -> None:
        ticket = session.get(TicketRow, row.ticket_id) if row.ticket_id else None
        if ticket is not None:
            record(session, ticket, EventKind.DELIVERY_FAILED, BOT, now,
                   outbox_id=row.id, outbox_kind=row.kind, attempts=row.attempts, reason=row.last_error)
        if row.kind == OutboxKind.CHAT_ALERT:
            return  # an alert about an alert would loop; the audit log and the error log keep it
        number = f" for ticket #{ticket.id}" if ticket else ""
        enqueue(session, OutboxKind.CHAT_ALERT, config.channels.managers, now, ticket_id=row.ticket_id,
                payload={"text": f"⚠️ Delivery failed: {row.kind}{number} after {row.attempts} tries "
                         f"({row.last_error[:120]})."})
        if ticket is None or not row.kind.startswith("reply."):
            return
        if ticket.status == TicketStatus.AUTO_RESOLVED.value:
            # The bot's answer never reached the patient: the ticket goes back to a human.
            move(session, ticket, TicketStatus.OPEN, event=EventKind.ROUTED, actor=BOT, at=now,
                 data={"reopened": "auto-reply could not be delivered"}, resolved_at=None)
            post_card(session, ticket, config, now)
        else:
            refresh_cards(session, ticket, now)  # the card shows the failed reply

    return on_failed
