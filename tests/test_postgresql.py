"""Several instances on one database: the races SQLite's single writer hides, and migrations run once.

The race tests need PostgreSQL (READ COMMITTED, writers in parallel); on SQLite every write transaction is
serialised (BEGIN IMMEDIATE), so they are skipped there. The migration tests run on both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from bot.domain import Channel, TicketStatus
from bot.flows.intake import InboundMessage, accept
from bot.flows.triage import process
from bot.outbox.queue import OutboxKind, enqueue
from bot.storage.db import Database, at_head, head_revisions
from bot.storage.models import InboundMessageRow, OutboxRow, TicketRow
from handlers.cli import main
from tests.conftest import HERE, Clinic
from tests.dburl import db_url

ROOT = HERE.parent
WAIT = 30  # seconds a thread may wait for the other at a barrier before the test fails


@contextmanager
def paused_before(engine: Engine, statement: str, parties: int) -> Iterator[list[str]]:
    """Hold the first `parties` executions of `statement` until all of them are about to run, so they race."""
    barrier = threading.Barrier(parties, timeout=WAIT)
    seen: list[str] = []
    lock = threading.Lock()

    def before(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not sql.lstrip().upper().startswith(statement):
            return
        with lock:
            seen.append(sql)
            first = len(seen) <= parties
        if first:
            barrier.wait()

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def in_threads(*work: Callable[[], Any]) -> list[Any]:
    results: list[Any] = [None] * len(work)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            results[index] = job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert not errors, errors
    return results


def stored(clinic: Clinic, sid: str, sender: str, body: str) -> int:
    now = clinic.clock.now()
    return accept(clinic.service.db, InboundMessage(Channel.SMS, sid, sender, body, now)).message_id


@pytest.mark.postgresql_only("two transactions inserting at once; SQLite runs one writer at a time")
@pytest.mark.parametrize("sender", ["+12125550177", "+12125550101"], ids=["new-patient", "known-patient"])
def test_two_triages_of_one_patient_at_once_make_one_ticket(clinic: Clinic, sender: str) -> None:
    first = stored(clinic, "SMrace1", sender, "My lips are really swollen and blistering after the filler yesterday")
    second = stored(clinic, "SMrace2", sender, "The swelling after my filler is getting worse and it really hurts")
    service = clinic.service
    with paused_before(service.db.engine, "INSERT INTO TICKETS ", 2) as inserts:
        ids = in_threads(lambda: process(service.db, service.triage, first),
                         lambda: process(service.db, service.triage, second))
    assert len(inserts) == 2  # both saw no open ticket and tried to open one: the index let one through
    tickets = clinic.tickets()
    assert [t.id for t in tickets] == [ids[0]] == [ids[1]]
    assert tickets[0].status == TicketStatus.OPEN.value and tickets[0].open_key is not None
    assert {m.ticket_id for m in clinic.inbound()} == {ids[0]}
    assert clinic.events(ids[0]).count("follow_up") == 1
    assert len(clinic.outbox(OutboxKind.CHAT_CARD)) == 1


@pytest.mark.postgresql_only("two transactions inserting at once; SQLite runs one writer at a time")
def test_two_instances_queueing_one_dedupe_key_at_once_share_one_row(clinic: Clinic) -> None:
    db, now = clinic.service.db, clinic.clock.now()

    def queue() -> tuple[int, int]:
        with db.transaction() as session:
            row = enqueue(session, OutboxKind.REPLY_SMS, "+12125550177", now, payload={"text": "hi"},
                          dedupe_key="race:1")
            # The transaction goes on after the conflict (a savepoint, not a failed transaction).
            other = enqueue(session, OutboxKind.REPLY_SMS, "+12125550177", now + timedelta(seconds=1),
                            payload={"text": "and this"})
            return row.id, other.id

    with paused_before(db.engine, "INSERT INTO OUTBOX ", 2) as inserts:
        (a, a_other), (b, b_other) = in_threads(queue, queue)
    assert len(inserts) >= 3  # both raced the keyed insert
    assert a == b
    rows = clinic.outbox()
    assert sorted(r.id for r in rows) == sorted({a, a_other, b_other})
    assert [r.dedupe_key for r in rows].count("race:1") == 1


def test_a_conversation_that_closes_frees_the_patient_and_a_reopened_one_never_collides(clinic: Clinic) -> None:
    db, service = clinic.service.db, clinic.service
    sender = "+12125550177"
    first = process(db, service.triage, stored(clinic, "SMo1", sender, "My lips are swollen after the filler"))
    with db.transaction() as session:
        ticket = session.get(TicketRow, first)
        assert ticket is not None and ticket.open_key == f"s:{sender}"
        from bot.tickets.store import move
        move(session, ticket, TicketStatus.RESOLVED, event="resolved", actor="U1", at=clinic.clock.now())
        assert ticket.open_key is None
    second = process(db, service.triage, stored(clinic, "SMo2", sender, "My lips are swollen again today"))
    assert second != first
    with db.transaction() as session:  # reopening the first while the second is open is allowed
        ticket = session.get(TicketRow, first)
        assert ticket is not None
        move(session, ticket, TicketStatus.OPEN, event="reopened", actor="U1", at=clinic.clock.now())
    opened = [t for t in clinic.tickets() if t.status == TicketStatus.OPEN.value]
    assert [t.id for t in opened] == [first, second]
    assert [t.open_key for t in opened] == [None, f"s:{sender}"]


def migrate_process(url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TRIAGE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "handlers.cli", "migrate"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_migrate_commands_at_once_upgrade_once(tmp_path: Path) -> None:
    url = db_url(tmp_path, "fresh", empty=True)
    runs = [migrate_process(url), migrate_process(url)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    head = ", ".join(sorted(head_revisions(Database(url, migrate=False).engine)))
    said = sorted(out.strip().split(": ", 1)[1] for out, _ in outputs)
    assert said == [f"already at {head}", f"upgraded from an empty schema to {head}"], outputs
    database = Database(url, migrate=False)
    try:
        assert at_head(database.engine)
    finally:
        database.dispose()
    again = migrate_process(url)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0 and out.strip().endswith(f"already at {head}")


def test_serve_without_auto_migrate_refuses_an_old_schema_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = db_url(tmp_path, "old", empty=True)
    config = tmp_path / "clinic.yml"
    config.write_text((HERE / "data_clinic.yml").read_text(), encoding="utf-8")
    for key in list(os.environ):
        if key.startswith(("TRIAGE_", "SLACK_", "TWILIO_", "SMTP_")) and key not in ("TRIAGE_TEST_DATABASE",
                                                                                     "TRIAGE_TEST_PG_URL"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    monkeypatch.setenv("TRIAGE_AUTO_MIGRATE", "false")
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("triage-bot serve: database at an empty schema, this version needs ")
    assert "run `triage-bot migrate`" in err[0]
    assert main(["migrate"]) == 0
    assert "upgraded from an empty schema" in capsys.readouterr().out
    with Database(url, migrate=False, require_current=True).transaction() as session:  # now current
        assert session.scalars(select(InboundMessageRow)).all() == []
        assert session.scalars(select(OutboxRow)).all() == []
