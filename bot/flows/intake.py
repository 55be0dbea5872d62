"""Intake: store the raw message once per provider id, before anything else happens to it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain import Channel
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow

MAX_PROVIDER_ID = 128  # inbound_messages.provider_message_id


def stored_provider_id(value: str) -> str:
    """A provider's message id as stored: as it is, or its SHA-256 when longer than the column (an Instagram mid,
    an email's Message-ID can be): still one row per message."""
    value = value.strip()
    return value if len(value) <= MAX_PROVIDER_ID else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class InboundMessage:
    channel: Channel
    provider_message_id: str
    sender: str  # already normalised (E.164 phone or case-folded email)
    body: str
    received_at: datetime
    sender_name: str = ""
    sender_phone: str = ""  # every contact the patient gave, besides the reply address in `sender`
    sender_email: str = ""
    recipient: str = ""
    media: list[dict[str, Any]] = field(default_factory=list)
    reply_ref: dict[str, str] | None = None  # how to answer in the same thread (bot/flows/mail_thread.py)


@dataclass(frozen=True)
class Accepted:
    message_id: int
    duplicate: bool


def accept(db: Database, message: InboundMessage) -> Accepted:
    """Commit the message; a provider retry of the same id finds the stored one and creates nothing."""
    existing = _find(db, message)
    if existing is not None:
        return Accepted(existing, duplicate=True)
    try:
        with db.transaction() as session:
            row = _row(message)
            session.add(row)
            session.flush()
            return Accepted(row.id, duplicate=False)
    except IntegrityError:
        # Two deliveries of the same message raced; the other one stored it.
        found = _find(db, message)
        if found is None:
            raise
        return Accepted(found, duplicate=True)


def accept_all(db: Database, messages: Sequence[InboundMessage], *,
               also: Callable[[Session], None] | None = None) -> list[Accepted]:
    """Commit several messages in one transaction (one disk flush for all: a burst's group commit), each once per
    provider id, in order; the answers line up with `messages`. A race with another instance on one of them
    (the unique index refuses it) falls back to storing them one by one.

    `also` writes more in the same commit (a polled mailbox moves its cursor past what it stored): both or neither
    are kept. In the one-by-one fallback it runs after every message is stored, so a reader that dies between
    reads them again, and each is stored once."""
    key = {id(m): (m.channel.value, m.provider_message_id) for m in messages}
    with db.read() as session:
        stored = dict(_stored(session, set(key.values())))
    fresh: dict[tuple[str, str], InboundMessageRow] = {}
    try:
        with db.transaction() as session:
            for message in messages:
                if key[id(message)] not in stored and key[id(message)] not in fresh:
                    fresh[key[id(message)]] = row = _row(message)
                    session.add(row)
            if also is not None:
                also(session)
            session.flush()
    except IntegrityError:
        one_by_one = [accept(db, message) for message in messages]
        if also is not None:
            with db.transaction() as session:
                also(session)
        return one_by_one
    answers, answered = [], set()
    for message in messages:
        k = key[id(message)]
        if k in stored:
            answers.append(Accepted(stored[k], duplicate=True))
        else:  # a second copy of a message in the same batch is a duplicate of the first
            answers.append(Accepted(fresh[k].id, duplicate=k in answered))
            answered.add(k)
    return answers


def _stored(session: Session, keys: set[tuple[str, str]]) -> Iterator[tuple[tuple[str, str], int]]:
    by_channel: dict[str, list[str]] = {}
    for channel, provider_id in keys:
        by_channel.setdefault(channel, []).append(provider_id)
    for channel, ids in by_channel.items():
        for provider_id, row_id in session.execute(
                select(InboundMessageRow.provider_message_id, InboundMessageRow.id).where(
                    InboundMessageRow.channel == channel, InboundMessageRow.provider_message_id.in_(ids))):
            yield (channel, provider_id), row_id


def _row(message: InboundMessage) -> InboundMessageRow:
    return InboundMessageRow(
        channel=message.channel.value,
        provider_message_id=message.provider_message_id,
        sender=message.sender,
        sender_name=message.sender_name,
        sender_phone=message.sender_phone,
        sender_email=message.sender_email,
        recipient=message.recipient,
        body=message.body,
        media=message.media,
        reply_ref=message.reply_ref,
        received_at=message.received_at,
    )


def _find(db: Database, message: InboundMessage) -> int | None:
    with db.read() as session:
        return session.scalars(
            select(InboundMessageRow.id).where(
                InboundMessageRow.channel == message.channel.value,
                InboundMessageRow.provider_message_id == message.provider_message_id,
            )
        ).first()
