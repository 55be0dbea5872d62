"""Triage claims under contention: several claimers, each with its own engine (as separate processes have), on one
database, SQLite and PostgreSQL. Every message is claimed once, one sender's messages in order and never two of
them at the same time.

The PostgreSQL case uses the server named by `TRIAGE_TEST_PG_URL` (a URL to any database on it; default: the
development server on 127.0.0.1:5432) and skips, saying why, when none answers.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.clock import ManualClock
from bot.flows.triage_queue import claim
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow
from tests.dburl import db_url

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SENDERS = [f"+1212555{n:04d}" for n in range(6)]
MESSAGES = 90
CLAIMERS = 4
WORK = 5  # database round trips while a claim is held


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = make_url(os.environ.get("TRIAGE_TEST_PG_URL", PG_DEFAULT))
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 3})
    name = f"triage_claims_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server at {server.render_as_string(hide_password=True)} "
                    f"(set TRIAGE_TEST_PG_URL): {type(exc.orig).__name__}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return db_url(tmp_path)
    return str(request.getfixturevalue("pg_url"))


def test_concurrent_claimers_take_each_message_once_and_each_sender_in_order(url: str) -> None:
    clock = ManualClock(datetime(2026, 11, 24, 15, 30, tzinfo=UTC))
    setup = Database(url)
    with setup.transaction() as session:
        for n in range(MESSAGES):
            session.add(InboundMessageRow(channel="sms", provider_message_id=f"SM{n:04d}",
                                          sender=SENDERS[(n * 7 + n // 5) % len(SENDERS)], body="hello", media=[],
                                          received_at=clock.now()))
    lock = threading.Lock()
    in_flight: set[str] = set()
    claimed: list[tuple[str, int, str]] = []
    overlaps: list[str] = []
    errors: list[BaseException] = []

    def claimer(owner: str) -> None:
        db = Database(url, migrate=False)  # its own engine and connections, as another process has
        try:
            for _ in range(20_000):
                got = claim(db, clock, owner)
                if got is None:
                    with db.transaction() as session:
                        left = session.scalars(select(InboundMessageRow.id).where(
                            InboundMessageRow.processed_at.is_(None))).first()
                    if left is None:
                        return
                    continue  # another claimer holds the senders still pending
                with db.transaction() as session:
                    sender = session.get(InboundMessageRow, got.message_id).sender  # type: ignore[union-attr]
                with lock:
                    if sender in in_flight:
                        overlaps.append(sender)
                    in_flight.add(sender)
                    claimed.append((sender, got.message_id, owner))
                for _ in range(WORK):  # triage's own reads: the claim is held meanwhile
                    with db.transaction() as session:
                        session.get(InboundMessageRow, got.message_id, populate_existing=True)
                with lock:
                    in_flight.discard(sender)  # before the commit that lets the next claimer in
                with db.transaction() as session:
                    done = session.execute(update(InboundMessageRow).where(
                        InboundMessageRow.id == got.message_id, InboundMessageRow.claimed_by == owner,
                        InboundMessageRow.processed_at.is_(None),
                    ).values(processed_at=clock.now(), claimed_until=None, claimed_by=None)).rowcount  # type: ignore[attr-defined]
                    if done != 1:
                        overlaps.append(f"lost claim {got.message_id}")
        except BaseException as exc:  # reported by the test, not swallowed by the thread
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=claimer, args=(f"claimer-{n}",)) for n in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    setup.dispose()
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    assert overlaps == []
    ids = [message_id for _, message_id, _ in claimed]
    assert sorted(ids) == list(range(1, MESSAGES + 1))  # every message, each once
    by_sender: dict[str, list[int]] = defaultdict(list)
    for sender, message_id, _ in claimed:
        by_sender[sender].append(message_id)
    assert all(order == sorted(order) for order in by_sender.values())
    assert len({owner for _, _, owner in claimed}) > 1  # they really did share the work
