"""Delivers due outbox rows. Safe with several workers on one database: a row is leased before it is tried."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.outbox.errors import DeliveryError
from bot.outbox.queue import OutboxStatus
from bot.storage.db import Database
from bot.storage.models import OutboxRow

log = logging.getLogger(__name__)

BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Delivery:
    """One kind of outbound action: how to send it, and what to record once it is sent or given up."""

    send: Callable[[Session, OutboxRow], dict[str, Any]]
    on_sent: Callable[[Session, OutboxRow, datetime], None] | None = None
    pace_seconds: float = 0.0  # at most one send per target in this long (chat rate limits)


FailureHook = Callable[[Session, OutboxRow, datetime], None]


class OutboxWorker:
    def __init__(
        self, db: Database, clock: Clock, deliveries: Mapping[str, Delivery], on_failed: FailureHook
    ) -> None:
        self._db = db
        self._clock = clock
        self._deliveries = deliveries
        self._on_failed = on_failed
        # Pacing is per process: with several instances each paces its own sends (the API's 429s catch the rest).
        self._last_sent: dict[str, datetime] = {}

    @property
    def kinds(self) -> frozenset[str]:
        """The outbox kinds this worker can deliver (a reply channel with no transport is missing)."""
        return frozenset(self._deliveries)

    def run_due(self, limit: int = 100) -> int:
        """Try every due row once; returns how many were tried."""
        tried = 0
        for row_id, attempts, kind, target in self._due(limit):
            if self._postponed_for_pace(row_id, attempts, kind, target):
                continue
            if self._lease(row_id, attempts):
                self._deliver(row_id)
                tried += 1
        return tried

    def _postponed_for_pace(self, row_id: int, attempts: int, kind: str, target: str) -> bool:
        delivery = self._deliveries.get(kind)
        if delivery is None or not delivery.pace_seconds:
            return False
        last = self._last_sent.get(target)
        ready = last + timedelta(seconds=delivery.pace_seconds) if last else None
        if ready is None or ready <= self._clock.now():
            return False
        with self._db.transaction() as session:
            session.execute(update(OutboxRow).where(OutboxRow.id == row_id, OutboxRow.attempts == attempts)
                            .values(next_attempt_at=ready))
        return True

    def _due(self, limit: int) -> list[tuple[int, int, str, str]]:
        now = self._clock.now()
        with self._db.transaction() as session:
            rows = session.execute(
                select(OutboxRow.id, OutboxRow.attempts, OutboxRow.kind, OutboxRow.target)
                .where(OutboxRow.status == OutboxStatus.PENDING.value, OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.id)
                .limit(limit)
            ).all()
        return [(row.id, row.attempts, row.kind, row.target) for row in rows]

    def _lease(self, row_id: int, attempts: int) -> bool:
        """Claim the next attempt in the database, so two workers never send the same row at once."""
        now = self._clock.now()
        with self._db.transaction() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.attempts == attempts,
                    OutboxRow.status == OutboxStatus.PENDING.value,
                )
                .values(attempts=attempts + 1, next_attempt_at=now + LEASE)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def _deliver(self, row_id: int) -> None:
        with self._db.transaction() as session:
            row = session.get(OutboxRow, row_id)
            assert row is not None
            delivery = self._deliveries.get(row.kind)
            now = self._clock.now()
            if delivery is None:
                self._fail(session, row, now, f"no transport configured for {row.kind}")
                return
            outcome = _attempt(delivery, session, row)
            if isinstance(outcome, DeliveryError):
                if outcome.transient and row.attempts < MAX_ATTEMPTS:
                    self._retry_later(row, now, outcome)
                else:
                    self._fail(session, row, now, outcome.reason)
                return
            if delivery.pace_seconds:
                self._last_sent[row.target] = now
            row.status = OutboxStatus.SENT.value
            row.sent_at = now
            row.result = outcome
            row.last_error = ""
            if delivery.on_sent:
                delivery.on_sent(session, row, now)

    def _retry_later(self, row: OutboxRow, now: datetime, error: DeliveryError) -> None:
        if error.retry_after is not None:
            wait = timedelta(seconds=error.retry_after)
        else:
            wait = BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)]
        row.next_attempt_at = now + wait
        row.last_error = error.reason
        log.info("outbox: %s #%s failed (attempt %s), retrying in %s: %s", row.kind, row.id, row.attempts,
                 wait, _loggable(error.reason), extra={"outbox_id": row.id, "kind": row.kind, "attempt": row.attempts})

    def _fail(self, session: Session, row: OutboxRow, now: datetime, reason: str) -> None:
        row.status = OutboxStatus.FAILED.value
        row.last_error = reason
        log.warning("outbox: gave up on %s #%s after %s attempt(s): %s", row.kind, row.id, row.attempts,
                    _loggable(reason), extra={"outbox_id": row.id, "kind": row.kind, "attempts": row.attempts})
        self._on_failed(session, row, now)


_NUMBERS = re.compile(r"\+?\d[\d ().-]{5,}\d")


def _loggable(reason: str) -> str:
    """A failure's reason for the log, on one line: a vendor's error may quote the patient's phone number."""
    return _NUMBERS.sub("[number]", " ".join(reason.split()))[:300]


def _attempt(delivery: Delivery, session: Session, row: OutboxRow) -> dict[str, Any] | DeliveryError:
    try:
        return delivery.send(session, row)
    except DeliveryError as error:
        return error
    except Exception as exc:
        # A bug in one delivery must not stop the others: retried like an outage, and logged.
        log.exception("outbox delivery crashed", extra={"outbox_id": row.id, "kind": row.kind})
        return DeliveryError(f"internal error: {type(exc).__name__}", transient=True)
