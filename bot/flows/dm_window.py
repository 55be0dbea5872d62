"""What a DM reply needs to know about Meta's messaging window, read from the bot's own records.

Meta lets a page answer a person freely for 24 hours after their last message, and a human (not a bot) for up to
7 days with the human-agent tag. The Send API integration decides with two facts it cannot see itself: when the
patient last wrote (the stored inbound DMs) and whether this reply is a staff member's (the outbox row's `by`).
It is handed a `DmHistory` at wiring time, because the outbox calls a messenger with only the address, the text
and an idempotency key (bot/flows/deliver.py), and that key names the outbox row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select

from bot.domain import Channel
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow, OutboxRow
from bot.tickets.events import BOT

# The key bot/flows/deliver.py gives every reply: f"outbox-{row.id}".
OUTBOX_KEY = re.compile(r"outbox-([0-9]{1,18})")


@dataclass(frozen=True)
class DmContext:
    last_inbound: datetime | None  # the patient's latest DM the bot stored, None when there is none
    by_staff: bool  # a staff member's reply (may use the human-agent tag), not the bot's


class DmHistory(Protocol):
    def context(self, address: str, idempotency_key: str) -> DmContext: ...


class StoredDmHistory:
    """`DmHistory` from the database: the inbound messages table and the outbox row being sent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def context(self, address: str, idempotency_key: str) -> DmContext:
        with self._db.read() as session:
            last = session.scalar(select(func.max(InboundMessageRow.received_at)).where(
                InboundMessageRow.channel == Channel.DM.value, InboundMessageRow.sender == address))
            found = OUTBOX_KEY.fullmatch(idempotency_key)
            row = session.get(OutboxRow, int(found[1])) if found else None
            # Unknown row: treated as the bot's, so the human-agent tag is never used for what may be automatic.
            by = str(row.payload.get("by", BOT)) if row is not None else BOT
            return DmContext(last_inbound=_aware(last), by_staff=by != BOT)


def _aware(value: datetime | None) -> datetime | None:
    """`max()` comes back through the column's type on some dialects only: made aware (UTC) either way."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
