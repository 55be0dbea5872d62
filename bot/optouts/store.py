"""The opt-out record: one row per opt-out, closed (never deleted) when the address opts back in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.storage.models import OptOutRow


def current_opt_out(session: Session, channel: str, address: str) -> OptOutRow | None:
    return session.scalars(select(OptOutRow).where(
        OptOutRow.channel == channel, OptOutRow.address == address, OptOutRow.opted_back_in_at.is_(None))
        .order_by(OptOutRow.id.desc())).first()


def is_opted_out(session: Session, channel: str, address: str) -> bool:
    return current_opt_out(session, channel, address) is not None


def opt_out(session: Session, channel: str, address: str, now: datetime, *, keyword: str,
            message_id: int | None) -> tuple[OptOutRow, bool]:
    """Record the opt-out; returns (the row, whether it is new). A second STOP keeps the first one's time."""
    existing = current_opt_out(session, channel, address)
    if existing is not None:
        return existing, False
    row = OptOutRow(channel=channel, address=address, opted_out_at=now, keyword=keyword, message_id=message_id)
    session.add(row)
    session.flush()
    return row, True


def opt_back_in(session: Session, channel: str, address: str, now: datetime, *, keyword: str,
                message_id: int | None) -> OptOutRow | None:
    """Close the open opt-out, if any; returns it (None when the address was not opted out)."""
    row = current_opt_out(session, channel, address)
    if row is None:
        return None
    row.opted_back_in_at, row.back_in_keyword, row.back_in_message_id = now, keyword, message_id
    return row


def opt_outs_between(session: Session, start: datetime, end: datetime) -> int:
    """How many opt-outs were recorded in [start, end): for the digest, which shows them quietly."""
    return int(session.scalar(select(func.count()).select_from(OptOutRow).where(
        OptOutRow.opted_out_at >= start, OptOutRow.opted_out_at < end)) or 0)
