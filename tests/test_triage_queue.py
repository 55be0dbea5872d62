"""Triage off the request path: the webhook answers once the message is stored; a worker claims it and triages it.

Claims are leases on the stored message (never two workers on one, an expired one taken over), one sender at a
time and in order (a burst from one patient is one ticket and one page); a message whose triage keeps failing
becomes a front-desk ticket marked "could not be read"; the model reads a bounded part of a long body.
Triage is driven explicitly here (the worker thread of `serve` is not started in tests).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.classify.model import default_model
from bot.classify.result import Classification
from bot.config.loader import load_config
from bot.digest.render import digest_document
from bot.document import plain_document
from bot.domain import Category
from bot.flows.opt_outs import process_inbound
from bot.flows.reading import READ_LIMIT
from bot.flows.triage_queue import LEASE, MAX_ATTEMPTS, RETRY_DELAYS, claim
from bot.outbox.queue import OutboxKind
from bot.storage.models import InboundMessageRow, TicketRow
from handlers.jobs import Jobs
from handlers.triage_worker import TriageWorkers
from tests.conftest import CLINIC_NUMBER, HERE, TWILIO_TOKEN, Clinic, running_clinic
from tests.slack_clinic import DOCTOR, SlackClinic

ADVERSE = "my lip has been swelling more since the filler yesterday and now it's turning purple"


def post_sms(http: httpx.Client, url: str, sid: str, body: str, sender: str = "+12125550199") -> httpx.Response:
    """The webhook alone, as Twilio calls it: nothing triages after it answers."""
    form = {"MessageSid": sid, "From": sender, "To": CLINIC_NUMBER, "Body": body, "NumMedia": "0"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{url}/inbound/sms", form)
    return http.post("/inbound/sms", data=form, headers={"X-Twilio-Signature": signature})


def stored(clinic: Clinic | SlackClinic) -> list[InboundMessageRow]:
    with clinic.service.db.transaction() as session:
        return list(session.scalars(select(InboundMessageRow).order_by(InboundMessageRow.id)))


def tickets(clinic: Clinic | SlackClinic) -> list[TicketRow]:
    with clinic.service.db.transaction() as session:
        return list(session.scalars(select(TicketRow).order_by(TicketRow.id)))


# --- the ack does not wait for triage ------------------------------------------------------------------------

def test_the_webhook_answers_with_the_message_stored_and_triage_runs_after(clinic: Clinic) -> None:
    woken: list[int] = []
    clinic.service.on_triage = lambda: woken.append(1)
    response = post_sms(clinic.http, clinic.url, "SMack1", "why was i charged twice?", sender="+12125550104")
    assert response.status_code == 200
    [message] = stored(clinic)
    assert message.processed_at is None and message.ticket_id is None
    assert tickets(clinic) == [] and clinic.outbox() == []  # nothing triaged inside the request
    assert woken == [1]  # the triage worker was woken
    assert clinic.service.run_triage() == 1
    [ticket] = tickets(clinic)
    assert ticket.category == "billing" and stored(clinic)[0].ticket_id == ticket.id
    assert [row.kind for row in clinic.outbox()] == [OutboxKind.CHAT_CARD]
    assert clinic.service.run_triage() == 0  # nothing left, nothing done twice


def test_a_provider_retry_of_a_stored_message_creates_nothing_new(clinic: Clinic) -> None:
    assert post_sms(clinic.http, clinic.url, "SMdup", "where do i park?").status_code == 200
    assert post_sms(clinic.http, clinic.url, "SMdup", "where do i park?").status_code == 200
    assert clinic.service.run_triage() == 1
    assert len(stored(clinic)) == 1 and len(tickets(clinic)) == 1


# --- claims ------------------------------------------------------------------------------------------------

def test_a_claimed_message_is_not_taken_by_another_claimer(clinic: Clinic) -> None:
    post_sms(clinic.http, clinic.url, "SMc1", "why was i charged twice?", sender="+12125550104")
    db, clock = clinic.service.db, clinic.clock
    first = claim(db, clock, "instance-a")
    assert first is not None and first.attempts == 0
    assert claim(db, clock, "instance-b") is None
    assert clinic.service.run_triage() == 0  # this instance's worker does not take it either
    assert tickets(clinic) == []
    clock.advance(LEASE - timedelta(seconds=1))
    assert claim(db, clock, "instance-b") is None  # the lease still holds


def test_an_expired_lease_is_taken_over(clinic: Clinic) -> None:
    post_sms(clinic.http, clinic.url, "SMc2", "why was i charged twice?", sender="+12125550104")
    assert claim(clinic.service.db, clinic.clock, "instance-that-died") is not None
    assert clinic.service.run_triage() == 0
    clinic.clock.advance(LEASE + timedelta(seconds=1))
    assert clinic.service.run_triage() == 1  # taken over: triaged once
    [ticket] = tickets(clinic)
    [message] = stored(clinic)
    assert message.ticket_id == ticket.id and message.claimed_by is None


def test_a_triaged_messages_lease_is_given_back_with_the_next_claim_and_at_the_end(clinic: Clinic) -> None:
    for n, sender in enumerate(("+12125550104", "+12125550101", "+12125550102"), start=1):
        post_sms(clinic.http, clinic.url, f"SMr{n}", "why was i charged twice?", sender=sender)
    db, clock = clinic.service.db, clinic.clock
    first = claim(db, clock, "a")
    assert first is not None
    process_inbound(db, clinic.service.triage, first.message_id)
    # The next claim gives the first lease back in its own transaction (one write transaction fewer).
    second = claim(db, clock, "a", release=first.message_id)
    assert second is not None and second.message_id != first.message_id
    held = {m.id: m.claimed_by for m in stored(clinic)}
    assert held[first.message_id] is None and held[second.message_id] == "a"
    assert claim(db, clock, "b", release=second.message_id) is not None  # not b's: a's lease is kept
    assert {m.id: m.claimed_by for m in stored(clinic)}[second.message_id] == "a"
    clock.advance(LEASE + timedelta(seconds=1))
    assert clinic.service.run_triage(limit=1) == 1  # a run that stops at its limit gives its last lease back
    assert [m.claimed_by for m in stored(clinic) if m.processed_at is not None] == [None, None]
    assert clinic.service.run_triage() == 1
    assert all(m.processed_at is not None and m.claimed_by is None and m.claimed_until is None
               for m in stored(clinic))


def test_one_senders_messages_are_claimed_oldest_first_and_one_at_a_time(clinic: Clinic) -> None:
    for n, (body, sender) in enumerate([("why was i charged twice?", "+12125550104"),
                                        ("also the receipt is wrong", "+12125550104"),
                                        ("where do i park?", "+12125550101")], start=1):
        post_sms(clinic.http, clinic.url, f"SMo{n}", body, sender=sender)
    db, clock = clinic.service.db, clinic.clock
    a = claim(db, clock, "a")
    b = claim(db, clock, "b")
    assert a is not None and b is not None
    assert (a.message_id, b.message_id) == (1, 3)  # the second of +...0104 waits for the first
    assert claim(db, clock, "c") is None
    clock.advance(LEASE + timedelta(seconds=1))
    assert clinic.service.run_triage() == 3
    first, second, third = stored(clinic)
    assert third.ticket_id is not None and third.ticket_id != first.ticket_id
    assert first.processed_at is not None and second.processed_at is not None
    assert first.processed_at <= second.processed_at and first.ticket_id == second.ticket_id


def test_a_burst_from_one_patient_is_one_ticket_and_one_page(slack_clinic: SlackClinic) -> None:
    """Three texts a second apart, stored before any is triaged (a burst): one ticket, one page, one card."""
    for n in range(3):
        body = ADVERSE if n == 0 else ["it's getting worse", "please call me back"][n - 1]
        assert post_sms(slack_clinic.http, slack_clinic.url, f"SMb{n}", body, sender="+12125550101").status_code \
            == 200
        slack_clinic.clock.advance(timedelta(seconds=1))
    assert tickets(slack_clinic) == []
    assert slack_clinic.service.run_triage() == 3
    [ticket] = tickets(slack_clinic)
    assert ticket.category == "adverse_event" and ticket.paged
    assert [m.ticket_id for m in stored(slack_clinic)] == [ticket.id] * 3
    slack_clinic.deliver()
    assert len(slack_clinic.outbox(OutboxKind.CHAT_PAGE)) == 1
    assert len(slack_clinic.outbox(OutboxKind.CHAT_CARD)) == 1
    assert len(slack_clinic.outbox(OutboxKind.PAGE_SMS)) == 1
    dms = [c for c in slack_clinic.slack.calls("chat.postMessage") if c.args["channel"] == DOCTOR and not c.failed]
    assert len(dms) == 1  # the follow-ups joined the paged ticket without paging again


def test_texts_a_second_apart_each_triaged_as_it_comes_are_one_ticket_and_one_page(
        slack_clinic: SlackClinic) -> None:
    for body in (ADVERSE, "it's getting worse", "please call me back"):
        slack_clinic.sms(body, sender="+12125550101")  # the webhook, then the worker's triage
        slack_clinic.clock.advance(timedelta(seconds=1))
    [ticket] = tickets(slack_clinic)
    assert ticket.category == "adverse_event"
    slack_clinic.deliver()
    assert len(slack_clinic.outbox(OutboxKind.CHAT_PAGE)) == 1 and len(slack_clinic.outbox(OutboxKind.PAGE_SMS)) == 1


# --- poisoned messages ---------------------------------------------------------------------------------------

class Poisoned(Exception):
    pass


class BrokenOn:
    """The real model, except that it raises for one text (a fault at the model's process edge)."""

    def __init__(self, poison: str) -> None:
        self.poison = poison
        self.model = default_model()

    def classify(self, text: str) -> Classification:
        if self.poison in text:
            raise Poisoned("the model fell over")
        return self.model.classify(text)


@pytest.fixture
def broken_clinic(tmp_path: Path) -> Iterator[Clinic]:
    with running_clinic(tmp_path, load_config(HERE / "data_clinic.yml"), classifier=BrokenOn("zq-poison")) as c:
        yield c


def test_a_message_that_keeps_failing_becomes_a_could_not_be_read_ticket(
        broken_clinic: Clinic, caplog: pytest.LogCaptureFixture) -> None:
    clinic = broken_clinic
    body = "hello zq-poison my new number is here"
    caplog.set_level(logging.INFO)
    assert post_sms(clinic.http, clinic.url, "SMp1", body, sender="+12125550188").status_code == 200
    assert post_sms(clinic.http, clinic.url, "SMp2", "why was i charged twice?", sender="+12125550104") \
        .status_code == 200
    assert clinic.service.run_triage() == 1  # the other patient's message is not held up
    [billing] = tickets(clinic)
    assert billing.category == "billing"
    poisoned = stored(clinic)[0]
    assert poisoned.attempts == 1 and poisoned.processed_at is None and poisoned.last_error_class == "Poisoned"
    assert clinic.service.run_triage() == 0  # not before its next attempt time
    for delay in RETRY_DELAYS:
        clinic.clock.advance(delay)
        before = stored(clinic)[0].attempts
        clinic.service.run_triage()
        assert stored(clinic)[0].attempts == before + 1
    assert stored(clinic)[0].attempts == MAX_ATTEMPTS
    billing_again, unreadable = tickets(clinic)
    assert billing_again.id == billing.id
    assert unreadable.category == Category.OTHER.value and unreadable.role == "front_desk"
    assert any("could not be read" in r for r in unreadable.reasons)
    message = stored(clinic)[0]
    assert message.ticket_id == unreadable.id and message.processed_at is not None and message.body == body
    alerts = clinic.outbox(OutboxKind.CHAT_ALERT)
    assert len(alerts) == 1 and "could not be triaged" in alerts[0].payload["text"]
    assert body not in alerts[0].payload["text"]
    clinic.deliver()
    [card] = [text for channel, text in clinic.poster.posts if body in text]
    assert "could not read" in card
    # Filed as `other` since nothing read it, but owed a look: on the front desk's clock, and nudged.
    assert unreadable.due_at is not None and unreadable.escalation["steps"]
    assert "no answer owed" not in card
    assert clinic.service.run_triage() == 0  # done: never failing forever in silence
    clinic.clock.advance(timedelta(minutes=5))
    assert clinic.service.run_triage() == 0 and len(tickets(clinic)) == 2
    clinic.clock.set(unreadable.due_at + timedelta(hours=3))
    assert Jobs(clinic.service).sweep_sla() > 0
    nudges = [row for row in clinic.outbox(OutboxKind.CHAT_THREAD) if row.ticket_id == unreadable.id]
    assert nudges and "Unclaimed" in nudges[0].payload["text"]
    # Logged as a warning with the class name and message id: never the body, never a traceback at error level.
    failures = [r for r in caplog.records if "triage failed" in r.getMessage()]
    assert len(failures) == MAX_ATTEMPTS and all(r.levelno == logging.WARNING for r in failures)
    assert all("Poisoned" in r.getMessage() and r.exc_info is None for r in failures)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if "zq-poison" in r.getMessage() or "zq-poison" in str(r.__dict__)]
    # The managers' digest counts it apart from the thanks and emoji that are `other` too.
    digest = Jobs(clinic.service).digest()
    assert digest.unreadable == 1
    text = plain_document(digest_document(digest, clinic.service.config))
    assert "Other 1 (1 could not be read)" in text, text


def test_a_message_that_cannot_be_read_joins_the_senders_open_ticket(broken_clinic: Clinic) -> None:
    clinic = broken_clinic
    clinic.sms("why was i charged twice?", sender="+12125550104")
    post_sms(clinic.http, clinic.url, "SMp3", "and zq-poison", sender="+12125550104")
    for _ in range(MAX_ATTEMPTS):
        clinic.service.run_triage()
        clinic.clock.advance(max(RETRY_DELAYS))
    [ticket] = tickets(clinic)
    assert [m.ticket_id for m in stored(clinic)] == [ticket.id, ticket.id]
    lines = [row.payload.get("text", "") for row in clinic.outbox(OutboxKind.CHAT_THREAD)]
    assert any("could not read" in line for line in lines)


# --- bounded classification ----------------------------------------------------------------------------------

class Recording:
    def __init__(self) -> None:
        self.model = default_model()
        self.seen: list[int] = []

    def classify(self, text: str) -> Classification:
        self.seen.append(len(text))
        return self.model.classify(text)


def test_a_long_body_is_read_in_part_and_kept_whole(tmp_path: Path) -> None:
    recording = Recording()
    with running_clinic(tmp_path, load_config(HERE / "data_clinic.yml"), classifier=recording) as clinic:
        body = "why was i charged twice? " + "the invoice says something else entirely. " * 300
        assert len(body) > 3 * READ_LIMIT
        assert clinic.sms(body, sender="+12125550104").status_code == 200
        [ticket] = clinic.tickets()
        assert recording.seen and max(recording.seen) <= READ_LIMIT
        [message] = clinic.inbound()
        assert message.body == body  # stored whole
        assert ticket.category == "billing"


def test_serve_triage_workers_triage_what_take_stores_and_survive_a_failure(clinic: Clinic) -> None:
    """The worker thread `serve` runs: woken by `take`, it triages the message; an exception does not end it."""
    service = clinic.service
    workers = TriageWorkers(service, workers=1, poll_seconds=0.05)
    original = service.run_triage
    calls, triaged = [0], threading.Event()

    def run_triage(limit: int | None = None, *, wake_outbox: bool = True) -> int:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("database away for a moment")
        count = original(limit, wake_outbox=wake_outbox)
        if count:
            triaged.set()
        return count

    service.run_triage = run_triage  # type: ignore[method-assign]
    service.on_triage = workers.wake
    workers.start()
    try:
        assert post_sms(clinic.http, clinic.url, "SMw1", "why was i charged twice?", "+12125550104") \
            .status_code == 200
        assert triaged.wait(20), "the worker did not triage the stored message"
        assert calls[0] >= 2 and len(tickets(clinic)) == 1 and workers.alive
    finally:
        workers.stop()
    assert not workers.alive


class _FakeTime:
    """The workers' monotonic clock and their stop event's wait, which advances it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return False

    def wait(self, seconds: float) -> bool:
        self.waits.append(round(seconds, 3))
        self.now += seconds
        return False


def test_triage_waits_only_during_a_burst_of_webhooks_and_never_for_long(clinic: Clinic) -> None:
    from handlers import triage_worker

    fake = _FakeTime()
    workers = TriageWorkers(clinic.service, workers=1, monotonic=fake)
    workers._stop = fake  # type: ignore[assignment]
    workers.wake()  # a lone message: triaged at once
    workers._yield_to_intake()
    assert fake.waits == []
    fake.now += 0.01
    workers.wake()  # a second one 10 ms later: a burst, so the worker waits for a quiet moment
    workers._yield_to_intake()
    assert fake.waits == [triage_worker.QUIET_SECONDS]
    fake.waits.clear()

    class Burst:
        """Another webhook during every wait: the worker still goes on after MAX_DEFER_SECONDS."""

        def wait(self, seconds: float) -> bool:
            fake.wait(seconds)
            workers.wake()  # another webhook during every wait
            fake.now += 0.001
            return False

        def is_set(self) -> bool:
            return False

    workers._stop = Burst()  # type: ignore[assignment]
    for _ in range(2):
        fake.now += 0.01
        workers.wake()
    started = fake.now
    workers._yield_to_intake()
    assert fake.now - started <= triage_worker.MAX_DEFER_SECONDS + 0.01
    assert len(fake.waits) > 1
