"""The triage queue: stored messages are claimed with a lease, one sender at a time and in order, and triaged.

A webhook only stores the message (`intake.accept`) and wakes a worker; triage runs here, off the request path.

Claims:
- A message is claimed with a lease (`claimed_until`, `claimed_by`), so no other worker takes one in flight;
  a lease that expired (its instance died) is taken over. Triage itself locks the message row (FOR UPDATE on
  PostgreSQL, the write lock on SQLite) and does nothing for one already processed, so a takeover of a slow
  worker's lease never makes a second ticket.
- Only the oldest unprocessed message of a sender is claimable, and none of a sender while another of theirs is
  claimed: one patient's burst is triaged in order, never concurrently, so it is one ticket and one page.
- On SQLite a claim is one BEGIN IMMEDIATE transaction (writers are serialised). On PostgreSQL (READ COMMITTED)
  the claimer takes a transaction-level advisory lock on the sender (skipping a sender another claimer holds),
  checks the sender's state with a fresh statement, and claims with a conditional UPDATE whose row count says
  whether it won.

Failures: a message whose triage raises is tried again seconds later (`RETRY_DELAYS`); after `MAX_ATTEMPTS` it
becomes a ticket for the front desk marked "could not be read" (`unreadable.py`), and the managers are told.
Logs carry the message id and the exception's class name, never the text.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, and_, bindparam, exists, func, or_, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import Exists

from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.outbox.queue import OutboxKind, enqueue
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow, UtcDateTime

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=15)  # longer than any one triage; an instance that died holds a message this long
RETRY_DELAYS = (timedelta(seconds=2), timedelta(seconds=5), timedelta(seconds=10))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1  # the first try and its retries; then "could not be read"
UNREADABLE_RETRY = timedelta(seconds=30)  # should even the "could not be read" ticket fail, it is tried again
CANDIDATES = 20  # heads of senders looked at per claim
_LOCK_NAMESPACE = 0x7472  # "tr": the first key of the advisory locks taken here (PostgreSQL)


@dataclass(frozen=True)
class Claim:
    message_id: int
    attempts: int  # failures so far

    @property
    def exhausted(self) -> bool:
        return self.attempts >= MAX_ATTEMPTS


def _due(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return and_(
        InboundMessageRow.processed_at.is_(None),
        or_(InboundMessageRow.next_attempt_at.is_(None), InboundMessageRow.next_attempt_at <= now),
        or_(InboundMessageRow.claimed_until.is_(None), InboundMessageRow.claimed_until < now),
    )


def _sender_busy(message_id: BindParameter[int] | InstrumentedAttribute[int],
                 sender: BindParameter[str] | InstrumentedAttribute[str], now: BindParameter[datetime]) -> Exists:
    """Another message of `sender` is older and not processed yet, or is claimed right now."""
    other = aliased(InboundMessageRow)
    return exists().where(
        other.sender == sender,
        other.id != message_id,
        other.processed_at.is_(None),
        or_(other.id < message_id, other.claimed_until >= now),
    )


# The claim's statements are built once (building one costs more than running it on SQLite); bound per call.
_NOW: BindParameter[datetime] = bindparam("b_now", type_=UtcDateTime())
_ID: BindParameter[int] = bindparam("b_id", type_=Integer)
_SENDER: BindParameter[str] = bindparam("b_sender", type_=String)
_OWNER: BindParameter[str] = bindparam("b_owner", type_=String)
_HEADS = (  # due messages that are the oldest unprocessed one of their sender, no other of whose is claimed
    select(InboundMessageRow.id, InboundMessageRow.sender, InboundMessageRow.attempts)
    .where(_due(_NOW), ~_sender_busy(InboundMessageRow.id, InboundMessageRow.sender, _NOW))
    .order_by(InboundMessageRow.id).limit(CANDIDATES)
)
_STILL_HEAD = select(func.count()).select_from(InboundMessageRow).where(
    InboundMessageRow.id == _ID, _due(_NOW), ~_sender_busy(_ID, _SENDER, _NOW))
_TAKE = (update(InboundMessageRow).where(InboundMessageRow.id == _ID, _due(_NOW))
         .values(claimed_until=bindparam("b_until"), claimed_by=_OWNER)
         .execution_options(synchronize_session=False))
_RELEASE = (update(InboundMessageRow).where(InboundMessageRow.id == _ID, InboundMessageRow.claimed_by == _OWNER)
            .values(claimed_until=None, claimed_by=None).execution_options(synchronize_session=False))


def _sender_key(sender: str) -> int:
    return int.from_bytes(hashlib.sha256(sender.encode()).digest()[:4], "big", signed=True)


def _lock_sender(session: Session, sender: str) -> bool:
    """PostgreSQL: hold the sender until this transaction ends; False when another claimer holds them."""
    held = session.execute(text("SELECT pg_try_advisory_xact_lock(:ns, :key)"),
                           {"ns": _LOCK_NAMESPACE, "key": _sender_key(sender)}).scalar()
    return bool(held)


def claim(db: Database, clock: Clock, owner: str, *, lease: timedelta = LEASE,
          release: int | None = None) -> Claim | None:
    """Claim the next message to triage for `owner`, or None when nothing is due.

    `release`: a message this owner has finished with, whose lease is given back in the same transaction.
    """
    now = clock.now()
    with db.transaction() as session:
        if release is not None:
            _give_back(session, release, owner)
        postgres = session.get_bind().dialect.name == "postgresql"
        for message_id, sender, attempts in session.execute(_HEADS, {"b_now": now}).all():
            # On SQLite this transaction holds the database's write lock: the head just read is still the head.
            # On PostgreSQL the sender is locked, then a fresh statement (a fresh snapshot) checks again.
            if postgres and (not _lock_sender(session, sender) or session.execute(
                    _STILL_HEAD, {"b_id": message_id, "b_sender": sender, "b_now": now}).scalar() != 1):
                continue
            won = session.execute(_TAKE, {"b_id": message_id, "b_now": now, "b_until": now + lease,
                                          "b_owner": owner}).rowcount  # type: ignore[attr-defined]
            if won == 1:
                return Claim(message_id, attempts or 0)
    return None


def _give_back(session: Session, message_id: int, owner: str) -> None:
    session.execute(_RELEASE, {"b_id": message_id, "b_owner": owner})


def release(db: Database, message_id: int, owner: str) -> None:
    """Give the lease back (the message was triaged: nothing more to hold)."""
    with db.transaction() as session:
        _give_back(session, message_id, owner)


def failed(db: Database, clock: Clock, config: ClinicConfig, message_id: int, owner: str, error: BaseException) -> int:
    """Count a failed triage, set when it is tried again and release it; returns the failures so far.

    At `MAX_ATTEMPTS` the managers are told (once); the next claim makes the "could not be read" ticket.
    """
    now = clock.now()
    with db.transaction() as session:
        row = session.get(InboundMessageRow, message_id)
        if row is None or row.processed_at is not None:
            return 0
        row.attempts += 1
        row.last_error_class = type(error).__name__[:100]
        if row.attempts < MAX_ATTEMPTS:
            row.next_attempt_at = now + RETRY_DELAYS[row.attempts - 1]
        elif row.attempts == MAX_ATTEMPTS:
            row.next_attempt_at = now  # straight to the "could not be read" ticket
        else:
            row.next_attempt_at = now + UNREADABLE_RETRY
        if row.claimed_by == owner:
            row.claimed_until, row.claimed_by = None, None
        if row.attempts == MAX_ATTEMPTS:
            enqueue(
                session, OutboxKind.CHAT_ALERT, config.channels.managers, now,
                payload={"text": f"⚠️ Inbound message #{message_id} ({row.channel}) could not be triaged "
                         f"after {row.attempts} tries ({row.last_error_class}); it is kept and goes to the "
                         "front desk as a ticket marked \"could not be read\"."},
                dedupe_key=f"triage-failed:{message_id}",
            )
        attempts = row.attempts
    log.warning("triage failed: %s (message %s, attempt %s of %s)", type(error).__name__, message_id, attempts,
                MAX_ATTEMPTS, extra={"message_id": message_id, "error_class": type(error).__name__})
    return attempts


def run_due(
    db: Database, clock: Clock, config: ClinicConfig, owner: str, *,
    triage: Callable[[int], object], unreadable: Callable[[int, int], object], limit: int | None = None,
) -> int:
    """Claim and handle due messages until none is left (or `limit`); returns how many were handled.

    `triage(message_id)` triages one; `unreadable(message_id, attempts)` makes its "could not be read" ticket.
    A message that fails is released with its next attempt in the future, so this always ends.
    """
    done = 0
    finished: int | None = None  # triaged, its lease given back with the next claim (one transaction fewer)
    try:
        while limit is None or done < limit:
            claimed = claim(db, clock, owner, release=finished)
            finished = None
            if claimed is None:
                return done
            try:
                if claimed.exhausted:
                    unreadable(claimed.message_id, claimed.attempts)
                else:
                    triage(claimed.message_id)
            except Exception as exc:  # any failure of one message: counted, retried, never the worker's end
                failed(db, clock, config, claimed.message_id, owner, exc)
                continue
            finished = claimed.message_id
            done += 1
        return done
    finally:
        if finished is not None:
            release(db, finished, owner)
