"""Outbound replies go through the outbox: retried with backoff against a failing Twilio, never lost silently."""

from __future__ import annotations

from datetime import timedelta

from bot.outbox.worker import BACKOFF, MAX_ATTEMPTS
from tests.conftest import Clinic
from tests.standins import Answer


def test_reply_is_retried_with_backoff_until_twilio_takes_it(clinic: Clinic) -> None:
    clinic.twilio.script.extend([Answer(500, {"message": "boom"}), Answer(503)])
    clinic.sms("need to reschedule my appt tmrw", sender="+12125550101")
    assert clinic.deliver() == 1  # first try: 500
    [reply] = clinic.outbox("reply.sms")
    assert reply.status == "pending" and reply.attempts == 1 and "500" in reply.last_error
    assert clinic.deliver() == 0  # not due yet: no retry before the backoff has passed
    clinic.clock.advance(BACKOFF[0])
    assert clinic.deliver() == 1  # second try: 503
    clinic.clock.advance(BACKOFF[1] - timedelta(seconds=1))
    assert clinic.deliver() == 0
    clinic.clock.advance(timedelta(seconds=1))
    assert clinic.deliver() == 1  # third try: accepted
    [reply] = clinic.outbox("reply.sms")
    assert reply.status == "sent" and reply.attempts == 3 and reply.result["provider_id"].startswith("SM")
    sends = [r for r in clinic.twilio.requests if r.path.endswith("/Messages.json")]
    assert len(sends) == 3
    # Every try carries the same idempotency token, so Twilio can drop a repeat of one that did land.
    assert len({r.headers["i-twilio-idempotency-token"] for r in sends}) == 1
    assert sends[0].headers["authorization"].startswith("Basic ")
    [ticket] = clinic.tickets()
    assert clinic.events(ticket.id).count("reply_sent") == 1


def test_rate_limit_honours_retry_after(clinic: Clinic) -> None:
    clinic.twilio.script.append(Answer(429, {"message": "slow down"}, {"Retry-After": "7"}))
    clinic.sms("need to reschedule my appt tmrw", sender="+12125550101")
    clinic.deliver()
    [reply] = clinic.outbox("reply.sms")
    assert reply.next_attempt_at == clinic.clock.now() + timedelta(seconds=7)
    clinic.clock.advance(timedelta(seconds=7))
    clinic.deliver()
    assert clinic.outbox("reply.sms")[0].status == "sent"


def test_failure_after_the_last_try_is_audited_alerted_and_handed_to_a_human(clinic: Clinic) -> None:
    clinic.twilio.script.extend([Answer(500)] * MAX_ATTEMPTS)
    clinic.sms("need to reschedule my appt tmrw", sender="+12125550101")
    for wait in (timedelta(0), *BACKOFF):
        clinic.clock.advance(wait)
        clinic.deliver()
    clinic.deliver()  # the card and the alert queued by the failure
    [reply] = clinic.outbox("reply.sms")
    assert reply.status == "failed" and reply.attempts == MAX_ATTEMPTS
    [ticket] = clinic.tickets()
    assert ticket.status == "open"  # the bot's answer never arrived, so a human takes it
    events = clinic.events(ticket.id)
    assert "delivery_failed" in events and events[-1] == "posted"
    channels = [channel for channel, _ in clinic.poster.posts]
    assert "managers" in channels and "front-desk" in channels
    alert = next(text for channel, text in clinic.poster.posts if channel == "managers")
    assert f"#{ticket.id}" in alert and "reschedule" not in alert  # no patient message in the alert


def test_a_refused_number_fails_at_once(clinic: Clinic) -> None:
    clinic.twilio.script.append(Answer(400, {"code": 21211, "message": "Invalid 'To' Phone Number"}))
    clinic.sms("need to reschedule my appt tmrw", sender="+12125550101")
    clinic.deliver()
    [reply] = clinic.outbox("reply.sms")
    assert reply.status == "failed" and reply.attempts == 1 and "21211" in reply.last_error


def test_no_transport_for_a_channel_is_a_visible_failure(clinic: Clinic) -> None:
    # The test clinic has no SMTP server: a web-form patient with an email cannot get the bot's answer.
    clinic.web({"id": "f-9", "message": "what are your hours?", "email": "someone@example.com"})
    clinic.deliver()
    [reply] = clinic.outbox("reply.email")
    assert reply.status == "failed" and "no transport" in reply.last_error
    [ticket] = clinic.tickets()
    assert ticket.status == "open" and "delivery_failed" in clinic.events(ticket.id)


def test_two_workers_never_send_the_same_reply_twice(clinic: Clinic) -> None:
    from bot.flows.deliver import deliveries, failure_hook
    from bot.outbox.worker import OutboxWorker
    from integrations.twilio_sms import TwilioSms
    from tests.conftest import CLINIC_NUMBER, TWILIO_TOKEN

    service = clinic.service
    sms = TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, clinic.twilio.url)
    other = OutboxWorker(service.db, clinic.clock,
                         deliveries(service.config, clinic.clock, {"reply.sms": sms}, clinic.poster),
                         failure_hook(service.config))
    clinic.sms("need to reschedule my appt tmrw", sender="+12125550101")
    [claim] = other.claim()
    assert clinic.deliver() == 0  # leased by the other worker: not tried here
    other.deliver(claim)
    assert clinic.deliver() == 0 and other.claim() == []
    assert len(clinic.texts_to("+12125550101")) == 1


def test_a_text_sent_by_a_worker_that_died_before_hearing_back_is_found_not_sent_again(clinic: Clinic) -> None:
    """Twilio takes no idempotency key: after a crash mid-send, the restarted worker asks Twilio's message list."""
    from bot.outbox.worker import LEASE
    from integrations.twilio_sms import TwilioSms
    from tests.conftest import CLINIC_NUMBER, TWILIO_TOKEN

    patient = "+12125550101"
    clinic.sms("what are your hours", sender=patient)  # the bot answers; this one is delivered normally
    assert clinic.deliver() == 1 and len(clinic.texts_to(patient)) == 1
    clinic.sms("what are your hours", sender=patient)  # the same question again: the same answer, a new row
    [claim] = clinic.service.outbox.claim()
    row = next(r for r in clinic.outbox("reply.sms") if r.id == claim.row_id)
    # The worker that held the lease sent it, and died before writing down that it had.
    dead_workers_send = TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, clinic.twilio.url)
    sid = dead_workers_send.send(patient, row.payload["text"], idempotency_key=f"outbox-{row.id}")
    assert len(clinic.texts_to(patient)) == 2
    clinic.clock.advance(LEASE + timedelta(seconds=1))
    assert clinic.deliver() == 1
    assert len(clinic.texts_to(patient)) == 2  # found in Twilio's list: not sent a third time
    reconciled = next(r for r in clinic.outbox("reply.sms") if r.id == claim.row_id)
    assert reconciled.status == "sent" and reconciled.result == {"provider_id": sid, "reconciled": True}
    lists = [r for r in clinic.twilio.requests if r.method == "GET" and "/Messages.json?" in r.path]
    assert len(lists) == 1 and "To=%2B12125550101" in lists[0].path


def test_a_dead_workers_text_that_never_reached_twilio_is_sent_once_after_its_lease(clinic: Clinic) -> None:
    """The first answer's identical text (another row's) is not taken for this one: it goes out."""
    from bot.outbox.worker import LEASE

    patient = "+12125550101"
    clinic.sms("what are your hours", sender=patient)
    assert clinic.deliver() == 1
    clinic.sms("what are your hours", sender=patient)
    assert len(clinic.service.outbox.claim()) == 1  # claimed; its worker dies before calling Twilio
    clinic.clock.advance(LEASE + timedelta(seconds=1))
    assert clinic.deliver() == 1
    texts = clinic.texts_to(patient)
    assert len(texts) == 2 and texts[0] == texts[1]  # the second answer went out, once
    assert all(r.status == "sent" and not r.result.get("reconciled") for r in clinic.outbox("reply.sms"))
