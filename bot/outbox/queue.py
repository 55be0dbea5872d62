"""Writing an outbound action, in the same transaction as the change that caused it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain import Channel
from bot.storage.db import CHAT_PLATFORMS
from bot.storage.models import OutboxRow


class OutboxKind(StrEnum):
    REPLY_SMS = "reply.sms"
    REPLY_EMAIL = "reply.email"
    CHAT_CARD = "chat.card"
    CHAT_PAGE = "chat.page"
    CHAT_ALERT = "chat.alert"
    CHAT_UPDATE = "chat.update"
    CHAT_THREAD = "chat.thread"
    CHAT_POST = "chat.post"  # a plain post in a channel (hand-offs, digests)
    CHAT_FILE = "chat.file"  # a file after a CHAT_POST, in the channel that post landed in
    PAGE_SMS = "page.sms"  # a page by text to a provider's phone (target: staff id)
    PAGE_CALL = "page.call"  # a page by voice call to a provider's phone (target: staff id)
    STAFF_SMS = "staff.sms"  # an answer to a staff member's text command (target: their phone)
    CHAT_MEDIA = "chat.media"  # a patient's MMS photo, fetched with the vendor's auth, into a card's thread


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


# Chat posts that go to every messenger the instance runs (one row each). An update, a photo or a file belongs to a
# post (its row names it) and goes only to that post's messenger.
FANNED_OUT = frozenset({"chat.card", "chat.page", "chat.alert", "chat.thread", "chat.post"})


def chat_platforms(session: Session) -> tuple[str, ...]:
    """The messengers this transaction's chat posts go to, when more than one (else empty: the one messenger)."""
    return tuple(session.info.get(CHAT_PLATFORMS, ()))


def enqueue(
    session: Session,
    kind: str,
    target: str,
    now: datetime,
    *,
    ticket_id: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> OutboxRow:
    """Add an action; with a `dedupe_key` the same action is only ever queued once, across instances too.

    A chat post in an instance that runs several messengers is one row per messenger (see `enqueue_each`);
    this returns the first."""
    return enqueue_each(session, kind, target, now, ticket_id=ticket_id, payload=payload, dedupe_key=dedupe_key)[0]


def enqueue_each(
    session: Session,
    kind: str,
    target: str,
    now: datetime,
    *,
    ticket_id: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> list[OutboxRow]:
    """The rows queued: one, or for a chat post with several messengers one per messenger (its payload names it,
    and its dedupe key carries it). A payload that already names a platform, or a line pinned to a post, is one row."""
    payload = payload or {}
    platforms = chat_platforms(session)
    if len(platforms) < 2 or str(kind) not in FANNED_OUT or payload.get("platform") or payload.get("post_id"):
        return [_enqueue_one(session, kind, target, now, ticket_id, payload, dedupe_key)]
    return [_enqueue_one(session, kind, target, now, ticket_id, {**payload, "platform": platform},
                         f"{dedupe_key}@{platform}" if dedupe_key else None) for platform in platforms]


def _enqueue_one(session: Session, kind: str, target: str, now: datetime, ticket_id: int | None,
                 payload: dict[str, Any], dedupe_key: str | None) -> OutboxRow:
    if dedupe_key is not None:
        existing = session.scalars(select(OutboxRow).where(OutboxRow.dedupe_key == dedupe_key)).first()
        if existing is not None:
            return existing
    row = OutboxRow(
        kind=str(kind),
        target=target,
        ticket_id=ticket_id,
        payload=payload,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        dedupe_key=dedupe_key,
    )
    if dedupe_key is None:
        session.add(row)
        session.flush()
        return row
    # Another transaction (another instance, on PostgreSQL's READ COMMITTED) may queue the same key between
    # our look and our insert: the savepoint keeps our transaction alive, and the row it committed is the one.
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return row
    except IntegrityError:
        found = session.scalars(select(OutboxRow).where(OutboxRow.dedupe_key == dedupe_key)).first()
        if found is None:
            raise
        return found


def reply_kind(channel: str, address: str) -> str:
    """Patients are answered on the channel they used (a web form by email when it gave one)."""
    if channel == Channel.SMS.value:
        return OutboxKind.REPLY_SMS
    if channel == Channel.EMAIL.value:
        return OutboxKind.REPLY_EMAIL
    if channel == Channel.WEB.value:
        return OutboxKind.REPLY_EMAIL if "@" in address else OutboxKind.REPLY_SMS
    return f"reply.{channel}"
