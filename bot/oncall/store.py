"""On-call overrides in the database, and who is on call right now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.oncall.rota import OnCall, Override, as_utc, on_call
from bot.storage.models import OnCallOverrideRow


def _override(row: OnCallOverrideRow) -> Override:
    return Override(provider=row.provider, starts_at=row.starts_at, until=row.until, set_by=row.set_by,
                    created_at=row.created_at)


def active_overrides(session: Session, when: datetime) -> list[Override]:
    """Overrides whose [starts_at, until) contains `when`, oldest created first (the last one wins)."""
    when = as_utc(when, "when")
    rows = session.scalars(
        select(OnCallOverrideRow)
        .where(OnCallOverrideRow.starts_at <= when, OnCallOverrideRow.until > when)
        .order_by(OnCallOverrideRow.created_at, OnCallOverrideRow.id)
    )
    return [_override(row) for row in rows]


def add_override(session: Session, *, provider: str, until: datetime, set_by: str, now: datetime) -> OnCallOverrideRow:
    """Record that `provider` (a staff id) covers from `now` until `until`. Flushed, not committed."""
    now = as_utc(now, "now")
    until = as_utc(until, "until")
    if not provider:
        raise ValueError("an on-call override needs a provider")
    if until <= now:
        raise ValueError(f"until ({until.isoformat()}) must be after now ({now.isoformat()})")
    row = OnCallOverrideRow(provider=provider, starts_at=now, until=until, set_by=set_by, created_at=now)
    session.add(row)
    session.flush()
    return row


def end_overrides(session: Session, *, now: datetime) -> int:
    """End every override in force now (the rota applies again). The rows stay, as the record of who covered."""
    now = as_utc(now, "now")
    rows = session.scalars(select(OnCallOverrideRow).where(
        OnCallOverrideRow.starts_at <= now, OnCallOverrideRow.until > now)).all()
    for row in rows:
        row.until = now
    session.flush()
    return len(rows)


def current_on_call(session: Session, config: ClinicConfig, when: datetime) -> OnCall:
    return on_call(config, active_overrides(session, when), when)
