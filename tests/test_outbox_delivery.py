"""The outbox against Slack and Twilio stand-ins: leases, pacing across workers, vendor weather, reconciling after
a crash, SLA clocks that start at delivery, dead letters, and one bad row never stopping the batch."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import ManualClock
from bot.flows.chat import thread_line
from bot.flows.deliver import deliveries, failure_hook
from bot.outbox.queue import OutboxKind, enqueue
from bot.outbox.worker import LEASE, MAX_ATTEMPTS, Delivery, OutboxWorker
from bot.storage.db import Database
from bot.storage.models import ChatPostRow, OutboxPaceRow, OutboxRow, TicketRow
from handlers.cli import main
from handlers.jobs import Jobs
from integrations.slack.poster import SlackPoster, web_client
from integrations.twilio_sms import TwilioSms
from tests.conftest import CLINIC_NUMBER, TWILIO_TOKEN, Clinic, local
from tests.slack_clinic import SlackClinic, running_slack_clinic
from tests.standins import Answer

BILLING_SMS = "why was i charged $480 twice?? i paid at checkout"


def second_worker(clinic: SlackClinic, table: Callable[[dict[str, Delivery]], dict[str, Delivery]] | None = None
                  ) -> OutboxWorker:
    """Another instance's worker on the same database, with its own Slack and Twilio clients."""
    service = clinic.service
    poster = SlackPoster(web_client("xoxb-test", f"{clinic.slack.url}/api/"))
    sms = TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, clinic.twilio.url)
    kinds = deliveries(service.config, clinic.clock, {OutboxKind.REPLY_SMS: sms}, poster)
    return OutboxWorker(service.db, clinic.clock, table(kinds) if table else kinds, failure_hook(service.config))


def queue(clinic: SlackClinic | Clinic, kind: str, target: str, count: int = 1, **payload: Any) -> list[int]:
    with clinic.service.db.transaction() as session:
        return [enqueue(session, kind, target, clinic.clock.now(), payload={"text": f"line {n}", **payload}).id
                for n in range(count)]


def drain(clinic: SlackClinic, until: Callable[[], bool], *, limit: timedelta = timedelta(hours=6)) -> None:
    """Run the outbox as `serve`'s loop does: deliver, then jump the clock to the next due time."""
    end = clinic.clock.now() + limit
    while not until():
        clinic.service.run_outbox()
        if until():
            return
        due = clinic.service.outbox.next_due()
        assert due is not None and due <= end, f"nothing left to deliver, or it never became due: {_rows(clinic)}"
        clinic.clock.set(max(due, clinic.clock.now()))


def _rows(clinic: SlackClinic) -> list[tuple[Any, ...]]:
    with clinic.service.db.transaction() as session:
        return [(r.id, r.kind, r.target, r.status, r.attempts, r.failures, r.last_error)
                for r in session.scalars(select(OutboxRow))]


def row(clinic: SlackClinic | Clinic, row_id: int) -> OutboxRow:
    with clinic.service.db.transaction() as session:
        found = session.get(OutboxRow, row_id)
        assert found is not None
        return found


def posted(clinic: SlackClinic, channel: str) -> list[dict[str, Any]]:
    return [c.args for c in clinic.slack.calls("chat.postMessage") if not c.failed and c.args["channel"] == channel]


def ticket_card(clinic: SlackClinic) -> OutboxRow:
    [card] = clinic.outbox(OutboxKind.CHAT_CARD)
    return card


# --- claims and pacing ------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db_clinic(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SlackClinic]:
    """The Slack clinic on SQLite, and on PostgreSQL (skipped with the reason when no server is reachable)."""
    url = postgres_url(f"outbox_{request.node.name[5:30].lower()}") if request.param == "postgresql" else None
    with running_slack_clinic(tmp_path, database_url=url) as clinic:
        yield clinic


def test_pacing_holds_across_two_workers_and_never_holds_up_other_channels_or_sms(
        shared_db_clinic: SlackClinic) -> None:
    clinic, other = shared_db_clinic, second_worker(shared_db_clinic)
    burst = queue(clinic, OutboxKind.CHAT_POST, "front-desk", 5)
    [billing] = queue(clinic, OutboxKind.CHAT_POST, "billing")
    [text] = queue(clinic, OutboxKind.STAFF_SMS, "+12125550177")
    first = clinic.service.outbox.claim()
    # One row per paced channel, and the SMS: the burst does not fill the batch.
    assert sorted(c.row_id for c in first) == sorted([burst[0], billing, text])
    assert other.claim() == []  # the other instance gets nothing: leased, or its channel is paced
    for claim in first:
        clinic.service.outbox.deliver(claim)
    assert clinic.service.outbox.next_due() == clinic.clock.now() + timedelta(seconds=1)  # the pace time, not a tick
    sent_at: list[datetime] = [clinic.clock.now()]
    for index, expected in enumerate(burst[1:]):
        clinic.clock.advance(timedelta(milliseconds=999))
        assert clinic.service.outbox.claim() == [] and other.claim() == []  # not before its second is up
        clinic.clock.advance(timedelta(milliseconds=1))
        claimer = (other, clinic.service.outbox)[index % 2]  # the instances take turns
        [claim] = claimer.claim()
        assert claim.row_id == expected
        assert clinic.service.outbox.claim() == [] and other.claim() == []  # one per second, whoever claims
        claimer.deliver(claim)
        sent_at.append(clinic.clock.now())
    assert [args["text"] for args in posted(clinic, "front-desk")] == [f"line {n}" for n in range(5)]
    assert len(posted(clinic, "billing")) == 1
    assert [r.form["To"] for r in clinic.twilio.requests if r.path.endswith("/Messages.json")] == ["+12125550177"]
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(sent_at))


def test_a_429_is_obeyed_for_the_whole_channel_and_is_not_a_failed_try(slack_clinic: SlackClinic) -> None:
    clinic = slack_clinic
    clinic.slack.fail_next("chat.postMessage", 429, retry_after=7)
    first, second = queue(clinic, OutboxKind.CHAT_POST, "front-desk", 2)
    start = clinic.clock.now()
    clinic.service.run_outbox()
    limited = row(clinic, first)
    assert limited.status == "pending" and limited.attempts == 1 and limited.failures == 0
    assert limited.next_attempt_at == start + timedelta(seconds=7)
    with clinic.service.db.transaction() as session:
        assert session.get(OutboxPaceRow, "front-desk").next_at == start + timedelta(seconds=7)  # type: ignore[union-attr]
    clinic.clock.advance(timedelta(seconds=6))
    assert clinic.service.run_outbox() == 0  # nothing to that channel before Slack said
    assert clinic.service.outbox.next_due() == start + timedelta(seconds=7)
    drain(clinic, lambda: row(clinic, second).status == "sent")
    assert row(clinic, first).status == "sent" and row(clinic, first).failures == 0


def test_a_twilio_429_does_not_use_up_a_replys_retries(clinic: Clinic) -> None:
    clinic.twilio.script.extend([Answer(429, {"message": "slow"}, {"Retry-After": "3"})] * (MAX_ATTEMPTS + 2))
    [text] = queue(clinic, OutboxKind.STAFF_SMS, "+12125550177")  # type: ignore[arg-type]
    for _ in range(MAX_ATTEMPTS + 2):
        clinic.deliver()
        clinic.clock.advance(timedelta(seconds=3))
    assert row(clinic, text).status == "pending" and row(clinic, text).failures == 0
    clinic.deliver()
    assert row(clinic, text).status == "sent" and row(clinic, text).failures == 0
    assert row(clinic, text).attempts == MAX_ATTEMPTS + 3  # every try was made; none counted against it


# --- outages ----------------------------------------------------------------------------------------------------

def test_a_card_is_posted_after_a_long_outage_and_its_thread_line_waits_for_it(slack_clinic: SlackClinic) -> None:
    clinic = slack_clinic
    outage = MAX_ATTEMPTS + 30  # well past a reply's retries: about an hour and a half of Slack answering 500
    for _ in range(outage):
        clinic.slack.fail_next("chat.postMessage", 500)
    clinic.sms(BILLING_SMS, sender="+12125550104")
    with clinic.service.db.transaction() as session:
        ticket = session.scalars(select(TicketRow)).one()
        line = thread_line(session, ticket, "Reply sent by Jess", clinic.clock.now()).id
    start = clinic.clock.now()
    drain(clinic, lambda: row(clinic, line).status != "pending", limit=timedelta(hours=3))
    card = ticket_card(clinic)
    assert card.status == "sent" and card.failures == outage
    assert card.sent_at is not None and card.sent_at - start > timedelta(hours=1)
    assert row(clinic, line).status == "sent" and row(clinic, line).failures == 0  # waited, never failed
    [message] = clinic.slack.messages("billing")
    assert [r["text"] for r in clinic.slack.thread("billing", message["ts"])] == ["Reply sent by Jess"]
    assert not [a for a in clinic.outbox(OutboxKind.CHAT_ALERT)]  # no false "Delivery failed"
    # Retries are seconds apart at first, minutes apart later: never the old 30 min / 2 h backoff.
    tries = [c for c in clinic.slack.calls("chat.postMessage") if c.args["channel"] == "billing"]
    assert len(tries) == outage + 2


def test_no_sla_step_fires_before_the_card_is_posted_and_the_clock_starts_then(slack_clinic: SlackClinic) -> None:
    clinic, jobs = slack_clinic, Jobs(slack_clinic.service)
    for _ in range(MAX_ATTEMPTS + 12):  # Slack down for about 45 minutes
        clinic.slack.fail_next("chat.postMessage", 500)
    clinic.sms(BILLING_SMS, sender="+12125550104")  # Tuesday 10:30, billing: due 11:00
    clinic.clock.set(local(2026, 11, 24, 11, 1))
    assert ticket_card(clinic).status == "pending"
    assert jobs.sweep_sla() == 0  # nobody has seen the card: nothing to nudge about
    drain(clinic, lambda: ticket_card(clinic).status == "sent", limit=timedelta(hours=2))
    card = ticket_card(clinic)
    assert card.sent_at is not None
    late = card.sent_at - card.created_at
    assert late > timedelta(minutes=30)
    clinic.clock.set(local(2026, 11, 24, 11, 0) + late - timedelta(seconds=1))
    assert jobs.sweep_sla() == 0  # 30 minutes after the card was posted, not after the message came in
    clinic.clock.set(local(2026, 11, 24, 11, 0) + late)
    assert jobs.sweep_sla() == 1
    clinic.deliver()
    [message] = clinic.slack.messages("billing")
    assert [r["text"] for r in clinic.slack.thread("billing", message["ts"])] == [
        "⏰ Unclaimed, due now — <!subteam^S0BILL>"]  # in the card's thread, not "no card"


# --- reconciling after a crash ----------------------------------------------------------------------------------

class Crash(BaseException):
    """The process dying between Slack answering ok and the row being marked sent."""


def test_a_card_posted_by_a_worker_that_died_is_found_and_not_posted_again(shared_db_clinic: SlackClinic) -> None:
    clinic = shared_db_clinic

    def dies_after_posting(table: dict[str, Delivery]) -> dict[str, Delivery]:
        def die(session: Session, row: OutboxRow, now: datetime) -> None:
            raise Crash

        return {**table, OutboxKind.CHAT_CARD: dataclasses.replace(table[OutboxKind.CHAT_CARD], on_sent=die)}

    doomed = second_worker(clinic, dies_after_posting)
    clinic.sms(BILLING_SMS, sender="+12125550104")
    claims = [c for c in doomed.claim() if row(clinic, c.row_id).kind == OutboxKind.CHAT_CARD]
    with pytest.raises(Crash):
        doomed.deliver(claims[0])
    [message] = clinic.slack.messages("billing")  # it landed at Slack, tagged with its outbox id
    card = ticket_card(clinic)
    assert message["metadata"] == {"event_type": "triage_outbox", "event_payload": {"outbox_id": str(card.id)}}
    assert card.status == "pending" and card.leased_until is not None  # the row never heard
    clinic.clock.advance(LEASE - timedelta(seconds=1))
    clinic.service.run_outbox()
    assert ticket_card(clinic).attempts == 1  # still leased by the dead worker
    clinic.clock.advance(timedelta(seconds=1))
    clinic.deliver()
    card = ticket_card(clinic)
    assert card.status == "sent" and card.result == {"platform": "slack", "conversation": "billing",
                                                   "message_id": message["ts"]}
    assert len(posted(clinic, "billing")) == 1  # found in the channel's history: not posted twice
    history = clinic.slack.calls("conversations.history")
    assert history and history[-1].args.get("include_all_metadata") in ("true", "1", True)
    with clinic.service.db.transaction() as session:
        assert [p.message_id for p in session.scalars(select(ChatPostRow))] == [message["ts"]]  # recorded as posted


def test_a_try_that_did_not_land_is_sent_after_the_lease(slack_clinic: SlackClinic) -> None:
    clinic = slack_clinic
    [line] = queue(clinic, OutboxKind.CHAT_POST, "front-desk")
    assert [c.row_id for c in second_worker(clinic).claim()] == [line]  # claimed, then the worker died
    clinic.clock.advance(LEASE)
    clinic.service.run_outbox()
    assert row(clinic, line).status == "sent" and len(posted(clinic, "front-desk")) == 1


# --- dead letters -----------------------------------------------------------------------------------------------

def test_dead_letters_are_listed_and_retried_by_the_cli(clinic: Clinic, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRIAGE_DATABASE_URL", clinic.service.settings.database_url)
    clinic.twilio.script.append(Answer(400, {"code": 21211, "message": "Invalid 'To' Phone Number +12125550101"}))
    clinic.sms("need to reschedule my appt tmrw", sender="+12125550101")
    clinic.deliver()
    [reply] = clinic.outbox("reply.sms")
    assert reply.status == "failed"
    assert main(["outbox", "list", "--failed"]) == 0
    out = capsys.readouterr().out
    assert f"#{reply.id}" in out and "reply.sms" in out and "ticket #1" in out and "refused the number" in out
    assert "2125550101" not in out and "reschedule" not in out  # no patient details
    assert main(["outbox", "retry", "999"]) == 1
    assert "no outbox item #999" in capsys.readouterr().err
    assert main(["outbox", "retry", str(reply.id)]) == 0
    assert f"#{reply.id} queued again" in capsys.readouterr().out
    assert main(["outbox", "retry", str(reply.id)]) == 1
    assert "is pending, not failed" in capsys.readouterr().err
    clinic.clock.advance(timedelta(seconds=1))
    clinic.deliver()
    assert clinic.outbox("reply.sms")[0].status == "sent"
    assert main(["outbox", "list", "--failed"]) == 0
    assert "no failed outbox items" in capsys.readouterr().out


def test_an_alert_that_cannot_be_delivered_ends_failed_and_is_logged_as_an_error(
        slack_clinic: SlackClinic, caplog: pytest.LogCaptureFixture) -> None:
    clinic = slack_clinic
    clinic.slack.fail_next("chat.postMessage", 200, error="channel_not_found")
    [alert] = queue(clinic, OutboxKind.CHAT_ALERT, "managers", text="⚠️ Delivery failed: reply.sms for ticket #1")
    with caplog.at_level(logging.ERROR):
        clinic.service.run_outbox()
    assert row(clinic, alert).status == "failed"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "alert" in r.getMessage()]
    assert errors and f"#{alert}" in errors[0].getMessage()
    assert len(clinic.outbox(OutboxKind.CHAT_ALERT)) == 1  # no alert about the alert


# --- one bad row ------------------------------------------------------------------------------------------------

def test_one_crashing_row_never_stops_the_batch(clinic: Clinic) -> None:
    sent: list[str] = []

    def send(session: Session, row: OutboxRow) -> dict[str, Any]:
        if row.target == "crashes-in-send":
            raise RuntimeError("a bug")
        sent.append(row.target)
        return {"ok": True}

    def on_sent(session: Session, row: OutboxRow, now: datetime) -> None:
        if row.target == "crashes-in-on-sent":
            session.add(ChatPostRow(ticket_id=None, kind="card", role="", conversation="x", message_id="1",
                                    created_at=now))
            raise RuntimeError("another bug")

    worker = OutboxWorker(clinic.service.db, clinic.clock, {"test.kind": Delivery(send=send, on_sent=on_sent)},
                          failure_hook(clinic.service.config))
    ids = [queue(clinic, "test.kind", target)[0]  # type: ignore[arg-type]
           for target in ("crashes-in-send", "crashes-in-on-sent", "fine")]
    assert worker.run_due() == 3
    crashed, recorded, fine = (row(clinic, i) for i in ids)
    assert crashed.status == "pending" and crashed.failures == 1 and "internal error" in crashed.last_error
    assert recorded.status == "sent" and fine.status == "sent"  # sent is sent, whatever its bookkeeping did
    assert sent == ["crashes-in-on-sent", "fine"]
    with clinic.service.db.transaction() as session:
        assert session.scalars(select(ChatPostRow)).all() == []  # the crashed bookkeeping was rolled back


def postgres_url(name: str) -> str:
    """A fresh PostgreSQL database on the local server ($TRIAGE_TEST_POSTGRES, else the dev server on loopback)."""
    psycopg = pytest.importorskip("psycopg")
    server = os.environ.get("TRIAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {server.rsplit('@', 1)[-1]} ({type(exc).__name__})")
    base = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def test_claims_are_correct_on_postgresql_with_workers_racing() -> None:
    url = postgres_url("outbox_claims")
    db = Database(url)
    clock = ManualClock(local(2026, 11, 24, 10, 30))

    def send(session: Session, row: OutboxRow) -> dict[str, Any]:
        return {}

    table = {"fast": Delivery(send=send), "paced": Delivery(send=send, pace_seconds=1.0)}
    workers = [OutboxWorker(Database(url, migrate=False), clock, table, lambda s, r, n: None) for _ in range(4)]
    with db.transaction() as session:
        for n in range(60):
            enqueue(session, "fast", f"+1212555{n:04d}", clock.now())
        for _ in range(10):
            enqueue(session, "paced", "one-channel", clock.now())
    claimed: list[list[int]] = [[] for _ in workers]
    go = threading.Barrier(len(workers))

    def race(index: int) -> None:
        go.wait()
        while batch := workers[index].claim(limit=5):
            claimed[index] += [c.row_id for c in batch]

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everything = [i for ids in claimed for i in ids]
    assert len(everything) == len(set(everything)) == 61  # every fast row once, and one paced row in this second
    with db.transaction() as session:
        paced = session.scalars(select(OutboxRow).where(OutboxRow.kind == "paced", OutboxRow.attempts == 1)).all()
    assert len(paced) == 1
    for worker in workers:
        worker._db.dispose()
    db.dispose()


def test_the_serve_loop_delivers_on_a_wake_and_sleeps_until_the_next_pace_time(clinic: Clinic) -> None:
    from bot.outbox.loop import OutboxLoop

    landed = threading.Event()

    def send(session: Session, row: OutboxRow) -> dict[str, Any]:
        return {}

    def on_sent(session: Session, row: OutboxRow, now: datetime) -> None:
        landed.set()

    worker = OutboxWorker(clinic.service.db, clinic.clock,
                          {"paced": Delivery(send=send, on_sent=on_sent, pace_seconds=1.0)},
                          failure_hook(clinic.service.config))
    loop = OutboxLoop(worker, clinic.clock, threads=2)
    assert loop.wait_seconds() == 30.0  # nothing queued: it sleeps until woken (or the idle check)
    loop.start()
    try:
        queue(clinic, "paced", "front-desk", 2)  # type: ignore[arg-type]
        loop.wake()
        assert landed.wait(10), "the woken loop did not deliver"
        assert loop.wait_seconds() == pytest.approx(1.0)  # the second row goes at its pace time, not on a tick
    finally:
        loop.stop()


def test_unreachable_vendors_are_weather_not_failures() -> None:
    import socket

    from bot.outbox.errors import DeliveryError

    with socket.socket() as closed:  # a port nobody listens on: connection refused, like a reset
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(DeliveryError) as slack:
        SlackPoster(web_client("xoxb-test", f"http://127.0.0.1:{port}/api/")).post_text("front-desk", "hi")
    with pytest.raises(DeliveryError) as twilio:
        TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, f"http://127.0.0.1:{port}").send("+12125550177", "hi",
                                                                                         idempotency_key="k")
    for error in (slack.value, twilio.value):
        assert error.transient and error.counts and "unreachable" in error.reason
