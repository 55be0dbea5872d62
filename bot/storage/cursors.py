"""Where a polled channel left off: read before a poll, written in the transaction that stores what it read.

A mailbox poll stores its messages and moves its cursor in one commit, so a process that dies after the fetch
either kept both or neither: the next poll reads the same messages again, and intake stores each once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.storage.models import ChannelCursorRow


def read_cursor(session: Session, name: str) -> dict[str, Any] | None:
    row = session.get(ChannelCursorRow, name)
    return dict(row.state) if row is not None else None


def write_cursor(session: Session, name: str, state: dict[str, Any], now: datetime) -> None:
    row = session.get(ChannelCursorRow, name)
    if row is None:
        session.add(ChannelCursorRow(name=name, state=dict(state), updated_at=now))
    else:
        row.state = dict(state)
        row.updated_at = now
