"""The write path under load: the SQLite write gate, group-committed intake, and vendor calls outside writes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.domain import Channel
from bot.flows.intake import InboundMessage, accept, accept_all
from bot.storage.db import Database
from bot.storage.gate import URGENT_STREAK, GateTimeout, WriteGate, urgent_writes
from bot.storage.models import InboundMessageRow, OutboxRow
from handlers.intake_writer import IntakeWriter
from tests.conftest import CLINIC_NUMBER, TWILIO_TOKEN, Clinic
from tests.dburl import db_url
from tests.standins import Answer, Recorded, twilio_default

WHEN = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def message(sid: str, sender: str = "+12125550101", body: str = "what are your hours") -> InboundMessage:
    return InboundMessage(channel=Channel.SMS, provider_message_id=sid, sender=sender, body=body, received_at=WHEN)


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for another thread to reach a state (a synchronisation, not a timing assumption)."""
    reached = threading.Event()
    for _ in range(2000):
        if condition():
            return
        reached.wait(0.005)
    raise AssertionError(f"never reached: {what}")


def waiting_on(gate: WriteGate, urgent: int, normal: int) -> Callable[[], bool]:
    return lambda: gate.waiting() == (urgent, normal)


def recording(gate: WriteGate, order: list[str]) -> Callable[[str, bool], None]:
    """A writer that notes its name once it holds the gate."""

    def writer(name: str, urgent: bool) -> None:
        with gate.held(urgent):
            order.append(name)

    return writer


def test_the_gate_lets_an_urgent_writer_in_before_background_writers_that_came_first() -> None:
    gate, order = WriteGate(), []
    gate.acquire(False)  # held, so everyone started below queues
    writer = recording(gate, order)
    background = [threading.Thread(target=writer, args=(f"background-{n}", False)) for n in range(2)]
    for n, thread in enumerate(background):
        thread.start()
        until(waiting_on(gate, 0, n + 1), "background writers queued")
    webhook = threading.Thread(target=writer, args=("webhook", True))
    webhook.start()
    until(waiting_on(gate, 1, 2), "the webhook queued behind them")
    gate.release()
    for thread in [*background, webhook]:
        thread.join(5)
    assert order == ["webhook", "background-0", "background-1"]  # urgent first, then first come first served


def test_background_writers_are_never_starved_by_a_stream_of_urgent_ones() -> None:
    gate, order = WriteGate(), []
    gate.acquire(False)  # held, so everyone started below queues
    writer = recording(gate, order)
    threads = [threading.Thread(target=writer, args=("background", False))]
    threads[0].start()
    until(waiting_on(gate, 0, 1), "the background writer queued")
    for n in range(URGENT_STREAK + 2):
        threads.append(threading.Thread(target=writer, args=(f"urgent-{n}", True)))
        threads[-1].start()
        until(waiting_on(gate, n + 1, 1), "urgent writers queued")
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order.index("background") == URGENT_STREAK  # after a streak, the waiting background writer goes


def test_the_gate_is_reentrant_and_a_writer_that_never_ends_is_reported() -> None:
    gate = WriteGate(timeout=0.05)
    with gate.held(False), gate.held(True):  # a nested transaction on the same thread
        result: list[BaseException] = []

        def other() -> None:
            try:
                gate.acquire(True)
            except GateTimeout as exc:
                result.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(5)
    assert result and "write lock" in str(result[0])
    assert gate.waiting() == (0, 0)
    with gate.held(False):  # free again, and nobody left queued
        pass


def test_urgent_writes_reach_the_gate_from_the_request_path() -> None:
    gate = WriteGate()
    seen: list[str] = []
    gate.acquire(False)

    def background() -> None:
        with gate.held():
            seen.append("background")

    def request() -> None:
        with urgent_writes(), gate.held():
            seen.append("request")

    first = threading.Thread(target=background)
    first.start()
    until(waiting_on(gate, 0, 1), "background queued")
    second = threading.Thread(target=request)
    second.start()
    until(waiting_on(gate, 1, 1), "request queued")
    gate.release()
    first.join(5)
    second.join(5)
    assert seen == ["request", "background"]


@pytest.mark.sqlite_only
def test_a_read_on_sqlite_never_waits_for_an_open_write(tmp_path: Path) -> None:
    db = Database(db_url(tmp_path))
    accept(db, message("SMold"))
    inside, finish = threading.Event(), threading.Event()

    def slow_write() -> None:
        with db.transaction() as session:
            session.add(InboundMessageRow(channel="sms", provider_message_id="SMnew", sender="+12125550102",
                                          body="x", received_at=WHEN))
            session.flush()
            inside.set()
            finish.wait(10)

    writer = threading.Thread(target=slow_write)
    writer.start()
    assert inside.wait(10)
    with db.read() as session:  # the writer holds the write lock: a read goes on, and sees only what is committed
        assert session.scalar(select(func.count()).select_from(InboundMessageRow)) == 1
    finish.set()
    writer.join(10)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessageRow)) == 2
    db.dispose()


def test_accept_all_stores_each_message_once_and_answers_in_order(tmp_path: Path) -> None:
    db = Database(db_url(tmp_path))
    first = accept(db, message("SM1"))
    answers = accept_all(db, [message("SM2"), message("SM1"), message("SM3"), message("SM2")])
    assert [a.duplicate for a in answers] == [False, True, False, True]
    assert answers[1].message_id == first.message_id and answers[0].message_id == answers[3].message_id
    with db.read() as session:
        stored = dict(session.execute(select(InboundMessageRow.provider_message_id, InboundMessageRow.id)).all())
    assert stored == {"SM1": first.message_id, "SM2": answers[0].message_id, "SM3": answers[2].message_id}
    db.dispose()


def test_the_intake_writer_stores_a_burst_once_per_message_from_many_threads(tmp_path: Path) -> None:
    db = Database(db_url(tmp_path))
    writer = IntakeWriter(db)
    writer.start()
    sids = [f"SM{n:03d}" for n in range(120)]
    burst = sids + sids[:30]  # Twilio retrying 30 of them at once

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda sid: writer.submit(message(sid, f"+1212555{int(sid[2:]):04d}")).result(10),
                                burst))
    writer.stop()
    assert writer.alive is False
    by_sid: dict[str, set[int]] = {}
    for sid, answer in zip(burst, answers, strict=True):
        by_sid.setdefault(sid, set()).add(answer.message_id)
    assert all(len(ids) == 1 for ids in by_sid.values())  # a retry gets the stored message's id
    assert sum(not a.duplicate for a in answers) == 120  # each stored once; every other copy is a duplicate
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessageRow)) == 120
    refused = writer.submit(message("SMlate"))
    with pytest.raises(RuntimeError, match="not running"):
        refused.result(1)
    db.dispose()


def test_a_webhook_is_stored_while_a_delivery_waits_for_the_vendor(clinic: Clinic) -> None:
    """The outbox calls Twilio outside any write transaction: a patient's text arriving while Twilio is slow to
    answer is stored at once, not held behind the delivery (on SQLite it used to wait for the write lock)."""
    assert clinic.sms("what are your hours", sender="+12125550101").status_code == 200  # answered by the bot
    during: list[int] = []

    def slow_twilio(recorded: Recorded) -> Answer:
        if recorded.method == "POST" and recorded.path.endswith("/Messages.json") and not during:
            form = {"MessageSid": "SMduring", "From": "+12125550188", "To": CLINIC_NUMBER,
                    "Body": "is parking free?", "NumMedia": "0"}
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{clinic.url}/inbound/sms", form)
            with httpx.Client(base_url=clinic.url, timeout=10) as other:
                during.append(other.post("/inbound/sms", data=form,
                                         headers={"X-Twilio-Signature": signature}).status_code)
        return twilio_default(recorded)

    clinic.twilio.default = slow_twilio
    assert clinic.service.run_outbox() >= 1
    assert during == [200]
    with clinic.service.db.read() as session:
        reply = session.scalars(select(OutboxRow).where(OutboxRow.kind == "reply.sms")).one()
        assert (reply.status, reply.failures) == ("sent", 0)  # Twilio's answer was not lost to a timeout
        assert session.scalar(select(func.count()).select_from(InboundMessageRow)
                              .where(InboundMessageRow.provider_message_id == "SMduring")) == 1
