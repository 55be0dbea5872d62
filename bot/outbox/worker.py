"""Delivers due outbox rows. Safe with any number of workers and instances on one database.

- A row is claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite write transactions are
  serialised) and its `leased_until` stays set until the outcome is written. The vendor call itself runs in a
  read-only snapshot, outside any write transaction: the outcome is written in a short one after it.
  A worker that dies mid-delivery leaves the lease; after it expires another worker takes the row over and,
  because the outcome of the last try is unknown, first asks the destination whether it landed (`reconcile`).
- Pacing per destination (`outbox_pace`) is claimed in the same transaction with a conditional UPDATE/INSERT,
  so it holds across instances; the due query takes at most one row per paced destination, so a burst to one
  channel never fills the batch and holds up other channels or patient replies.
- A 429 (and a line waiting for its card) is not a failed try; cards, pages and chat lines are retried until
  they are delivered, replies to patients a bounded number of times; one row's crash never stops the batch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from bot.clock import Clock
from bot.outbox.errors import DeliveryError
from bot.outbox.queue import OutboxStatus
from bot.storage.db import Database
from bot.storage.models import OutboxPaceRow, OutboxRow, UtcDateTime

log = logging.getLogger(__name__)

# Bounded retries (replies to patients, staff texts): about four minutes in all, then a visible failure.
BACKOFF = tuple(timedelta(seconds=s) for s in (5, 15, 30, 60, 120))
MAX_ATTEMPTS = len(BACKOFF) + 1
# Cards, pages and chat lines: seconds apart at first, then every few minutes until the messenger takes them.
FOREVER = tuple(timedelta(seconds=s) for s in (2, 5, 10, 20, 30, 60))
RETRY_FOREVER_EVERY = timedelta(minutes=3)
RATE_LIMITED_WAIT = timedelta(seconds=5)  # a 429 without Retry-After
LEASE = timedelta(seconds=45)
BATCH = 20  # rows claimed at once: small, so a claimed row is sent well inside its lease


@dataclass(frozen=True)
class Delivery:
    """One kind of outbound action: how to send it, and what to record once it is sent or given up."""

    send: Callable[[Session, OutboxRow], dict[str, Any]]
    on_sent: Callable[[Session, OutboxRow, datetime], None] | None = None
    pace_seconds: float = 0.0  # at most one send per target in this long, across instances (chat rate limits)
    until_delivered: bool = False  # transient failures are retried forever (cards, pages), not given up
    first: bool = False  # goes before the other rows to its (paced) destination: cards and pages
    # After a try whose outcome is unknown (its worker died): the result if it did land, else None.
    reconcile: Callable[[Session, OutboxRow], dict[str, Any] | None] | None = None


FailureHook = Callable[[Session, OutboxRow, datetime], None]


@dataclass(frozen=True)
class Claim:
    row_id: int
    attempt: int
    unknown: bool  # the previous try's worker never wrote its outcome


class OutboxWorker:
    def __init__(
        self, db: Database, clock: Clock, deliveries: Mapping[str, Delivery], on_failed: FailureHook
    ) -> None:
        self._db = db
        self._clock = clock
        self._deliveries = deliveries
        self._on_failed = on_failed
        self._paced = sorted(kind for kind, d in deliveries.items() if d.pace_seconds)
        self._first = [kind for kind in self._paced if deliveries[kind].first]
        # The claim's look-ups, built once (building them costs more than running them); bound per claim.
        now: BindParameter[datetime] = bindparam("b_now", type_=UtcDateTime())
        limit: BindParameter[int] = bindparam("b_limit", type_=Integer)
        due = and_(OutboxRow.status == OutboxStatus.PENDING.value, OutboxRow.next_attempt_at <= now)
        self._unpaced_due = (select(OutboxRow.id).where(due, OutboxRow.kind.not_in(self._paced))
                             .order_by(OutboxRow.id).limit(limit))
        paced_now = exists().where(OutboxPaceRow.target == OutboxRow.target, OutboxPaceRow.next_at > now)
        first = func.min(OutboxRow.id)
        self._paced_due = [
            select(OutboxRow.target, first).where(due, OutboxRow.kind.in_(kinds), ~paced_now)
            .group_by(OutboxRow.target).order_by(first).limit(limit)
            for kinds in (self._first, [k for k in self._paced if k not in self._first]) if kinds
        ]

    @property
    def kinds(self) -> frozenset[str]:
        """The outbox kinds this worker can deliver (a reply channel with no transport is missing)."""
        return frozenset(self._deliveries)

    def run_due(self, limit: int = 100) -> int:
        """Claim and try due rows until none is due (or `limit` were tried); returns how many were tried."""
        tried = 0
        while tried < limit:
            claims = self.claim(min(BATCH, limit - tried))
            if not claims:
                break
            for claim in claims:
                self.deliver(claim)
            tried += len(claims)
        return tried

    def next_due(self) -> datetime | None:
        """When the next pending row may go (its retry time, or its destination's pace time), or None."""
        due: Any = OutboxRow.next_attempt_at
        if self._paced:
            due = case((and_(OutboxRow.kind.in_(self._paced), OutboxPaceRow.next_at > OutboxRow.next_attempt_at),
                        OutboxPaceRow.next_at), else_=OutboxRow.next_attempt_at)
        with self._db.transaction() as session:
            value = session.execute(
                select(func.min(due)).select_from(OutboxRow)
                .outerjoin(OutboxPaceRow, OutboxPaceRow.target == OutboxRow.target)
                .where(OutboxRow.status == OutboxStatus.PENDING.value)).scalar()
        return value if isinstance(value, datetime) else None

    def claim(self, limit: int = BATCH) -> list[Claim]:
        """Lease up to `limit` due rows, at most one per paced destination whose pace allows a send now."""
        now = self._clock.now()
        due = and_(OutboxRow.status == OutboxStatus.PENDING.value, OutboxRow.next_attempt_at <= now)
        values = {"b_now": now, "b_limit": limit}
        with self._db.transaction() as session:
            ids = list(session.scalars(self._unpaced_due, values))
            # One row per destination whose pace allows a send now: its oldest card or page, else its oldest
            # other row (a line waiting for its card never takes the card's turn).
            picked: dict[str, int] = {}
            for statement in self._paced_due:
                for target, row_id in session.execute(statement, values):
                    picked.setdefault(target, row_id)
            ids += picked.values()
            ids = sorted(ids)[:limit]
            if not ids:
                return []
            rows = session.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids), due).order_by(OutboxRow.id)
                                   .with_for_update(skip_locked=True, of=OutboxRow)).all()
            claims = []
            for row in sorted(rows, key=lambda r: (r.target, r.id)):  # pace rows locked in one order everywhere
                delivery = self._deliveries.get(row.kind)
                if delivery and delivery.pace_seconds and not _take_pace(session, row.target, now,
                                                                         delivery.pace_seconds):
                    continue  # another worker just sent to this destination
                claims.append(Claim(row.id, row.attempts + 1, unknown=row.leased_until is not None))
                row.attempts += 1
                row.next_attempt_at = now + LEASE
                row.leased_until = now + LEASE
            return sorted(claims, key=lambda c: c.row_id)

    def deliver(self, claim: Claim) -> None:
        try:
            self._deliver(claim)
        except Exception:
            # The database failed under this row (its outcome is unknown: the lease expires and it is
            # reconciled); the rest of the batch goes on.
            log.exception("outbox: delivering #%s failed", claim.row_id, extra={"outbox_id": claim.row_id})

    def _deliver(self, claim: Claim) -> None:
        # The vendor call runs in a read-only snapshot (it only reads: the ticket, its card, the opt-outs), so no
        # write lock is held while Slack or Twilio answers; the outcome is written in a short transaction after.
        # The lease makes the row ours for the whole call; a crash in between leaves it leased with the outcome
        # unknown, and the next claim reconciles first.
        with self._db.read() as session:
            row = session.get(OutboxRow, claim.row_id)
            if not _still_ours(row, claim, self._clock.now()):
                return  # the lease ran out before its turn (or another worker took it over): not ours to send
            assert row is not None
            delivery = self._deliveries.get(row.kind)
            outcome: dict[str, Any] | DeliveryError | None = None
            if delivery is None:
                outcome = DeliveryError(f"no transport configured for {row.kind}", transient=False)
            elif claim.unknown and delivery.reconcile is not None:
                outcome = _reconciled(delivery, session, row)
            if outcome is None:
                assert delivery is not None
                outcome = _attempt(delivery, session, row)
        with self._db.transaction() as session:
            row = session.scalars(select(OutboxRow).where(OutboxRow.id == claim.row_id)
                                  .with_for_update()).first()
            now = self._clock.now()
            if row is None or row.attempts != claim.attempt or row.leased_until is None:
                # Taken over after our lease ran out mid-call: the new holder reconciles before sending again.
                log.warning("outbox: #%s's lease ran out during its delivery; its new holder checks whether it "
                            "landed", claim.row_id, extra={"outbox_id": claim.row_id})
                return
            row.leased_until = None
            if delivery is None:
                assert isinstance(outcome, DeliveryError)
                self._fail(session, row, now, outcome.reason)
                return
            if isinstance(outcome, DeliveryError):
                self._failed_try(session, row, delivery, now, outcome)
                return
            row.status = OutboxStatus.SENT.value
            row.sent_at = now
            row.result = outcome
            row.last_error = ""
            if delivery.on_sent:
                _guarded("recording", row, lambda: delivery.on_sent(session, row, now), session)  # type: ignore[misc]

    def _failed_try(self, session: Session, row: OutboxRow, delivery: Delivery, now: datetime,
                    error: DeliveryError) -> None:
        if error.counts:
            row.failures += 1
        internal = error.reason.startswith("internal error")
        bounded = internal or not delivery.until_delivered
        if not error.transient or (bounded and error.counts and row.failures >= MAX_ATTEMPTS):
            self._fail(session, row, now, error.reason)
            return
        if error.retry_after is not None:
            wait = timedelta(seconds=error.retry_after)
        elif not error.counts:
            wait = RATE_LIMITED_WAIT
        elif bounded:
            wait = BACKOFF[min(max(row.failures - 1, 0), len(BACKOFF) - 1)]
        else:
            wait = FOREVER[row.failures - 1] if 0 < row.failures <= len(FOREVER) else RETRY_FOREVER_EVERY
        row.next_attempt_at = now + wait
        row.last_error = error.reason
        if error.maybe_sent and delivery.reconcile is not None:
            row.leased_until = now  # an expired lease: the outcome is unknown, so the next claim reconciles first
        if delivery.pace_seconds and error.rate_limited:
            _hold_pace(session, row.target, now + wait)  # the destination said wait: every row to it waits
        elif delivery.pace_seconds and not error.counts:
            _free_pace(session, row.target, now, delivery.pace_seconds)  # nothing was sent: the slot is free
        log.info("outbox: %s #%s failed (attempt %s), retrying in %s: %s", row.kind, row.id, row.attempts, wait,
                 _loggable(error.reason), extra={"outbox_id": row.id, "kind": row.kind, "attempt": row.attempts,
                                                 "failures": row.failures})

    def _fail(self, session: Session, row: OutboxRow, now: datetime, reason: str) -> None:
        row.status = OutboxStatus.FAILED.value
        row.last_error = reason
        row.leased_until = None
        row.next_attempt_at = now  # when it was given up on (`outbox retry` makes it due from then)
        log.warning("outbox: gave up on %s #%s after %s attempt(s): %s", row.kind, row.id, row.attempts,
                    _loggable(reason), extra={"outbox_id": row.id, "kind": row.kind, "attempts": row.attempts})
        _guarded("alerting about", row, lambda: self._on_failed(session, row, now), session)


def _still_ours(row: OutboxRow | None, claim: Claim, now: datetime) -> bool:
    return (row is not None and row.status == OutboxStatus.PENDING.value and row.attempts == claim.attempt
            and row.leased_until is not None and row.leased_until > now)


def _take_pace(session: Session, target: str, now: datetime, seconds: float) -> bool:
    """Reserve the next send to `target`: True for exactly one claimer per pace interval, across instances."""
    until = now + timedelta(seconds=seconds)
    result = session.execute(update(OutboxPaceRow).where(OutboxPaceRow.target == target,
                                                         OutboxPaceRow.next_at <= now).values(next_at=until))
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True
    if session.scalars(select(OutboxPaceRow.target).where(OutboxPaceRow.target == target)).first() is not None:
        return False
    try:
        with session.begin_nested():
            session.add(OutboxPaceRow(target=target, next_at=until))
        return True
    except IntegrityError:
        return False  # another worker inserted it first


def _hold_pace(session: Session, target: str, until: datetime) -> None:
    session.execute(update(OutboxPaceRow).where(OutboxPaceRow.target == target, OutboxPaceRow.next_at < until)
                    .values(next_at=until))


def _free_pace(session: Session, target: str, now: datetime, seconds: float) -> None:
    session.execute(update(OutboxPaceRow).where(
        OutboxPaceRow.target == target, OutboxPaceRow.next_at <= now + timedelta(seconds=seconds))
        .values(next_at=now))


def _guarded(what: str, row: OutboxRow, step: Callable[[], None], session: Session) -> None:
    """Run a bookkeeping step in a savepoint: if it crashes, the row's own outcome is still written."""
    try:
        with session.begin_nested():
            step()
    except Exception:
        log.exception("outbox: %s %s #%s crashed", what, row.kind, row.id, extra={"outbox_id": row.id})


_NUMBERS = re.compile(r"\+?\d[\d ().-]{5,}\d")


def _loggable(reason: str) -> str:
    """A failure's reason for the log, on one line: a vendor's error may quote the patient's phone number."""
    return _NUMBERS.sub("[number]", " ".join(reason.split()))[:300]


RECONCILE_RETRY_SECONDS = 2.0


def _reconciled(delivery: Delivery, session: Session, row: OutboxRow) -> dict[str, Any] | DeliveryError | None:
    assert delivery.reconcile is not None
    try:
        found = delivery.reconcile(session, row)
    except DeliveryError as error:
        if error.transient:
            # The destination cannot say yet: ask again shortly rather than risk posting it twice.
            return DeliveryError(f"checking whether it landed: {error.reason}", transient=True, counts=False,
                                 maybe_sent=True, retry_after=RECONCILE_RETRY_SECONDS)
        log.info("outbox: could not check whether #%s landed (%s); sending", row.id, _loggable(error.reason),
                 extra={"outbox_id": row.id})
        return None
    except Exception:
        log.exception("outbox: reconciling #%s crashed; sending", row.id, extra={"outbox_id": row.id})
        return None
    if found is not None:
        log.info("outbox: %s #%s had landed before its worker stopped; recorded, not sent again", row.kind,
                 row.id, extra={"outbox_id": row.id, "kind": row.kind})
    return found


def _attempt(delivery: Delivery, session: Session, row: OutboxRow) -> dict[str, Any] | DeliveryError:
    try:
        return delivery.send(session, row)
    except DeliveryError as error:
        return error
    except Exception as exc:
        # A bug in one delivery must not stop the others: retried a bounded number of times, and logged.
        log.exception("outbox delivery crashed", extra={"outbox_id": row.id, "kind": row.kind})
        return DeliveryError(f"internal error: {type(exc).__name__}", transient=True)
