"""Delivery: what each outbox kind does through the ports, and what is recorded when it lands or fails."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.cards.build import build_card
from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import TicketStatus
from bot.outbox.queue import OutboxKind, enqueue
from bot.outbox.worker import Delivery
from bot.ports import ChatPoster, PatientMessenger
from bot.storage.models import OutboxRow, TicketRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.store import move, record


def ticket_text(ticket: TicketRow) -> str:
    """Every message the patient sent on this ticket, oldest first."""
    return "\n\n".join(m.body for m in ticket.messages)


def deliveries(
    config: ClinicConfig, clock: Clock, messengers: Mapping[str, PatientMessenger], poster: ChatPoster
) -> dict[str, Delivery]:
    table: dict[str, Delivery] = {}
    for kind, messenger in messengers.items():
        table[kind] = Delivery(send=_reply_sender(messenger), on_sent=_reply_sent)

    def send_card(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket = _ticket(session, row)
        card = build_card(ticket, ticket_text(ticket), config, clock.now())
        ref = poster.post_card(row.target, card)
        return {"channel": ref.channel, "ts": ref.ts}

    def send_page(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket = _ticket(session, row)
        member = config.staff_member(row.target)
        to = member.chat_user if member and member.chat_user else row.target
        ref = poster.post_text(to, f"Page: adverse event ticket #{ticket.id} needs you. Please acknowledge.")
        return {"channel": ref.channel, "ts": ref.ts}

    def send_alert(session: Session, row: OutboxRow) -> dict[str, Any]:
        ref = poster.post_text(row.target, str(row.payload.get("text", "")))
        return {"channel": ref.channel, "ts": ref.ts}

    table[OutboxKind.CHAT_CARD] = Delivery(send=send_card, on_sent=_posted)
    table[OutboxKind.CHAT_PAGE] = Delivery(send=send_page, on_sent=_paged)
    table[OutboxKind.CHAT_ALERT] = Delivery(send=send_alert)
    return table


def _ticket(session: Session, row: OutboxRow) -> TicketRow:
    ticket = session.get(TicketRow, row.ticket_id) if row.ticket_id else None
    if ticket is None:
        raise LookupError(f"outbox row {row.id} has no ticket")
    return ticket


def _reply_sender(messenger: PatientMessenger) -> Any:
    def send(session: Session, row: OutboxRow) -> dict[str, Any]:
        provider_id = messenger.send(row.target, str(row.payload["text"]), idempotency_key=f"outbox-{row.id}")
        return {"provider_id": provider_id}

    return send


def _reply_sent(session: Session, row: OutboxRow, now: datetime) -> None:
    if not row.ticket_id:
        return
    ticket = _ticket(session, row)
    record(session, ticket, EventKind.REPLY_SENT, str(row.payload.get("by", BOT)), now,
           outbox_id=row.id, channel=row.kind, provider_id=row.result.get("provider_id"))
    if ticket.first_response_at is None:
        ticket.first_response_at = now


def _posted(session: Session, row: OutboxRow, now: datetime) -> None:
    ticket = _ticket(session, row)
    record(session, ticket, EventKind.POSTED, BOT, now, channel=row.result.get("channel"), ts=row.result.get("ts"))


def _paged(session: Session, row: OutboxRow, now: datetime) -> None:
    ticket = _ticket(session, row)
    record(session, ticket, EventKind.PAGED, BOT, now, provider=row.target)


def failure_hook(config: ClinicConfig) -> Any:
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
        if ticket is not None and ticket.status == TicketStatus.AUTO_RESOLVED.value and row.kind.startswith("reply."):
            # The bot's answer never reached the patient: the ticket goes back to a human.
            move(session, ticket, TicketStatus.OPEN, expected_version=ticket.version, resolved_at=None,
                 updated_at=now)
            record(session, ticket, EventKind.ROUTED, BOT, now, reopened="auto-reply could not be delivered")
            enqueue(session, OutboxKind.CHAT_CARD, config.channels.for_role_name(ticket.role), now,
                    ticket_id=ticket.id, payload={"role": ticket.role},
                    dedupe_key=f"card:{ticket.id}:{ticket.role}")

    return on_failed
