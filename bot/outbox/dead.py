"""Dead letters: outbox items given up on (`failed`), listed and put back in the queue by an operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.outbox.failures import failure_class
from bot.outbox.queue import OutboxStatus
from bot.storage.models import OutboxRow


@dataclass(frozen=True)
class DeadLetter:
    id: int
    kind: str
    ticket_id: int | None
    attempts: int
    created_at: datetime
    why: str  # the failure class: never the vendor's text (it may quote a patient's number)

    def line(self) -> str:
        ticket = f"ticket #{self.ticket_id}" if self.ticket_id else "no ticket"
        return (f"#{self.id}  {self.kind:<12} {ticket:<12} {self.attempts} tr{'y' if self.attempts == 1 else 'ies'}"
                f"  queued {self.created_at:%Y-%m-%d %H:%M} UTC  {self.why}")


def failed(session: Session, limit: int = 200) -> list[DeadLetter]:
    rows = session.scalars(select(OutboxRow).where(OutboxRow.status == OutboxStatus.FAILED.value)
                           .order_by(OutboxRow.id).limit(limit))
    return [DeadLetter(r.id, r.kind, r.ticket_id, r.attempts, r.created_at, failure_class(r.kind, r.last_error))
            for r in rows]


def retry(session: Session, outbox_id: int, now: datetime) -> str | None:
    """Put a failed item back in the queue, due now with its retries restored; None, or why it cannot be."""
    row = session.get(OutboxRow, outbox_id)
    if row is None:
        return f"no outbox item #{outbox_id}"
    if row.status != OutboxStatus.FAILED.value:
        return f"outbox item #{outbox_id} is {row.status}, not failed: nothing to retry"
    row.status = OutboxStatus.PENDING.value
    row.failures = 0
    row.next_attempt_at = min(now, row.next_attempt_at)  # due at once (its last try was in the past)
    row.leased_until = None
    return None
