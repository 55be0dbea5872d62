"""Intake: store the raw message once per provider id, before anything else happens to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.domain import Channel
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow


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
            row = InboundMessageRow(
                channel=message.channel.value,
                provider_message_id=message.provider_message_id,
                sender=message.sender,
                sender_name=message.sender_name,
                sender_phone=message.sender_phone,
                sender_email=message.sender_email,
                recipient=message.recipient,
                body=message.body,
                media=message.media,
                received_at=message.received_at,
            )
            session.add(row)
            session.flush()
            return Accepted(row.id, duplicate=False)
    except IntegrityError:
        # Two deliveries of the same message raced; the other one stored it.
        found = _find(db, message)
        if found is None:
            raise
        return Accepted(found, duplicate=True)


def _find(db: Database, message: InboundMessage) -> int | None:
    with db.transaction() as session:
        return session.scalars(
            select(InboundMessageRow.id).where(
                InboundMessageRow.channel == message.channel.value,
                InboundMessageRow.provider_message_id == message.provider_message_id,
            )
        ).first()
