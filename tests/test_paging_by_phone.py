"""Pages leave the chat app: a text (and on a configured ladder step a call) to the provider's phone, and the
provider acknowledges by replying to the text. Real webhooks in, Slack and Twilio played by local stand-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cards.model import ActionId
from bot.config.loader import ConfigError, load_config
from bot.flows.staff_texts import parse_command
from bot.storage.models import InboundMessageRow, TicketEventRow, TicketRow
from handlers.jobs import Jobs
from handlers.slack.ids import ModalCallback
from handlers.slack.modals import REASON_BLOCK, REASON_INPUT, TARGET_BLOCK, TARGET_INPUT
from tests.conftest import local
from tests.slack_clinic import CLINICAL_USER, DOCTOR, SlackClinic, stored
from tests.standins import Answer

DR_LEE_PHONE, NURSE_PHONE = "+12125550181", "+12125550182"  # tests/data_clinic.yml
PATIENT = "+12125550101"  # Olivia Bennett in the directory
ADVERSE = {
    "en": "my lip has been swelling more since the filler yesterday and now it's turning purple",
    "en2": "my eyelid is drooping since botox on monday and i can barely open my eye",
    "es": "se me está hinchando mucho el labio desde el relleno de ayer y ahora está morado",
    "es2": "tengo la cara roja y me arde mucho despues del peeling, me salieron ampollas",
}
CONFIG_HEAD = "clinic:\n  name: Test\nbooking:\n  link: https://book.example\nstaff:\n"
BILLING_SMS = "why was i charged $480 twice?? i paid at checkout"
CALL_ON_SECOND_STEP = """
escalation:
  manager: boss
  page_ladder:
    - {after_minutes: 5, notify: backup}
    - {after_minutes: 10, notify: manager, call: true}
"""


def texts_to(clinic: SlackClinic, phone: str) -> list[str]:
    return [r.form["Body"] for r in clinic.twilio.requests
            if r.path.endswith("/Messages.json") and r.form.get("To") == phone]


def calls_to(clinic: SlackClinic, phone: str) -> list[str]:
    return [r.form["Twiml"] for r in clinic.twilio.requests
            if r.path.endswith("/Calls.json") and r.form.get("To") == phone]


def events(clinic: SlackClinic, ticket_id: int = 1, kind: str | None = None) -> list[TicketEventRow]:
    with clinic.service.db.transaction() as session:
        query = select(TicketEventRow).where(TicketEventRow.ticket_id == ticket_id)
        if kind:
            query = query.where(TicketEventRow.kind == kind)
        return list(session.scalars(query.order_by(TicketEventRow.id)))


def counts(clinic: SlackClinic) -> tuple[int, int]:
    """(tickets, stored inbound messages)."""
    with clinic.service.db.transaction() as session:
        return (int(session.scalar(select(func.count()).select_from(TicketRow)) or 0),
                int(session.scalar(select(func.count()).select_from(InboundMessageRow)) or 0))


def thread(clinic: SlackClinic, channel: str = "clinical") -> list[str]:
    [card] = clinic.slack.messages(channel)
    return [reply["text"] for reply in clinic.slack.thread(channel, card["ts"])]


def block_texts(message: dict[str, Any] | None) -> str:
    assert message is not None
    return str(message.get("blocks"))


def at(clinic: SlackClinic, when: object, jobs: Jobs) -> int:
    clinic.clock.set(when)  # type: ignore[arg-type]
    fired = jobs.sweep_sla()
    clinic.deliver()
    return fired


@pytest.mark.parametrize("language", ["en", "en2", "es", "es2"])
def test_a_page_texts_the_on_call_providers_phone_with_no_patient_detail(slack_clinic: SlackClinic,
                                                                          language: str) -> None:
    slack_clinic.sms(ADVERSE[language], sender=PATIENT)
    slack_clinic.deliver()
    assert slack_clinic.slack.messages(DOCTOR)  # the Slack DM as before
    # The issue's text, in English whatever the patient wrote in (staff texts are English).
    assert texts_to(slack_clinic, DR_LEE_PHONE) == ["Adverse-event page: ticket #1, acknowledge: reply 1 or open Slack"]
    assert texts_to(slack_clinic, NURSE_PHONE) == []  # nobody else is paged yet
    assert texts_to(slack_clinic, PATIENT) == []  # and the patient got nothing about it
    [texted] = events(slack_clinic, kind="page_texted")
    assert texted.data["provider"] == "dr-lee" and texted.data["sent"] is True


def test_an_escalation_to_on_call_pages_by_text_too(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("Is it safe to get botox if I'm on blood thinners?", sender=PATIENT)
    slack_clinic.deliver()
    assert texts_to(slack_clinic, DR_LEE_PHONE) == []  # a clinical question pages nobody
    slack_clinic.submit(CLINICAL_USER, ModalCallback.ESCALATE, 1, {
        TARGET_BLOCK: {TARGET_INPUT: {"type": "static_select", "selected_option": {"value": "oncall"}}},
        REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": "needs the doctor now"}},
    })
    slack_clinic.deliver()
    assert texts_to(slack_clinic, DR_LEE_PHONE) == ["Clinical page: ticket #1, acknowledge: reply 1 or open Slack"]


@pytest.mark.parametrize("reply", ["1", "ack 1", "ACK", "Ack #1", "ok", "acknowledge 1."])
def test_the_provider_acknowledges_by_replying_to_the_text(slack_clinic: SlackClinic, reply: str) -> None:
    slack_clinic.sms(ADVERSE["en"], sender=PATIENT)
    slack_clinic.deliver()
    [card] = slack_clinic.slack.messages("clinical")
    [dm] = slack_clinic.slack.messages(DOCTOR)
    before = counts(slack_clinic)
    acked_at = slack_clinic.clock.now()
    slack_clinic.sms(reply, sender=DR_LEE_PHONE)  # through the real, signed Twilio webhook
    slack_clinic.deliver()
    ticket = slack_clinic.ticket()
    assert ticket.acknowledged_by == stored(DOCTOR) and ticket.acknowledged_at == acked_at  # the actor: that provider
    assert counts(slack_clinic) == before  # not a patient message: no ticket, nothing stored as one
    for channel, ts in (("clinical", card["ts"]), (DOCTOR, dm["ts"])):  # the card changed everywhere
        now = slack_clinic.slack.message(channel, ts)
        assert f"Page acknowledged by <@{DOCTOR}>" in block_texts(now)
        assert ActionId.ACKNOWLEDGE.value not in block_texts(now)
    assert thread(slack_clinic) == ["Page acknowledged by Dr. Lee"]
    assert texts_to(slack_clinic, DR_LEE_PHONE)[-1] == "Ticket #1 acknowledged."
    [audit] = events(slack_clinic, kind="staff_sms")
    assert audit.actor == stored(DOCTOR) and audit.data["staff"] == "dr-lee"
    assert [e.actor for e in events(slack_clinic, kind="acknowledged")] == [stored(DOCTOR)]


def test_a_twilio_retry_of_the_acknowledgement_answers_once(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(ADVERSE["es"], sender=PATIENT)
    slack_clinic.deliver()
    from twilio.request_validator import RequestValidator

    from tests.conftest import CLINIC_NUMBER, TWILIO_TOKEN

    form = {"MessageSid": "SMretry1", "From": DR_LEE_PHONE, "To": CLINIC_NUMBER, "Body": "1", "NumMedia": "0"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{slack_clinic.url}/inbound/sms", form)
    for _ in range(2):
        response = slack_clinic.http.post("/inbound/sms", data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200
    slack_clinic.deliver()
    assert texts_to(slack_clinic, DR_LEE_PHONE).count("Ticket #1 acknowledged.") == 1
    assert len(events(slack_clinic, kind="acknowledged")) == 1


def test_unknown_ticket_or_not_theirs_gets_a_clear_answer_and_changes_nothing(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(ADVERSE["en"], sender=PATIENT)  # ticket 1: pages Dr. Lee
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")  # ticket 2: pages nobody
    slack_clinic.deliver()
    before = counts(slack_clinic)
    slack_clinic.sms("99", sender=DR_LEE_PHONE)
    slack_clinic.sms("ack 2", sender=DR_LEE_PHONE)
    slack_clinic.sms("1", sender=NURSE_PHONE)  # the nurse was not paged for ticket 1
    slack_clinic.sms("ACK", sender=NURSE_PHONE)  # ... and has no page at all
    slack_clinic.sms("my lip is swelling", sender=NURSE_PHONE)  # a staff phone never opens a patient ticket
    slack_clinic.deliver()
    assert texts_to(slack_clinic, DR_LEE_PHONE)[1:] == [
        "There is no ticket #99. Reply with the ticket number (e.g. 42) or ACK to acknowledge your latest page.",
        "Ticket #2 has no page for you; nothing was changed.",
    ]
    assert texts_to(slack_clinic, NURSE_PHONE) == [
        "Ticket #1 has no page for you; nothing was changed.",
        "You have no page to acknowledge.",
        "Reply with the ticket number (e.g. 42) or ACK to acknowledge your latest page.",
    ]
    assert counts(slack_clinic) == before
    assert slack_clinic.ticket(1).acknowledged_by is None and slack_clinic.ticket(2).acknowledged_by is None
    assert ActionId.ACKNOWLEDGE.value in block_texts(slack_clinic.slack.messages("clinical")[-1])
    assert [e.data["answer"] for e in events(slack_clinic, 2, "staff_sms")] == [
        "Ticket #2 has no page for you; nothing was changed."]  # audited on the ticket it named


def test_a_page_already_acknowledged_in_slack_says_so_by_text(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(ADVERSE["en2"], sender=PATIENT)
    slack_clinic.deliver()
    slack_clinic.click(CLINICAL_USER, ActionId.ACKNOWLEDGE, "1")
    slack_clinic.sms("1", sender=DR_LEE_PHONE)
    slack_clinic.deliver()
    assert texts_to(slack_clinic, DR_LEE_PHONE)[-1] == "Ticket #1 was already acknowledged by Nurse Kim."
    assert slack_clinic.ticket().acknowledged_by == stored(CLINICAL_USER)


def test_the_backup_paged_by_the_ladder_gets_a_text_and_acknowledging_it_stops_the_ladder(
        slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.clock.set(local(2026, 11, 24, 21, 0))  # after hours
    slack_clinic.sms(ADVERSE["es2"], sender=PATIENT)
    slack_clinic.deliver()
    assert at(slack_clinic, local(2026, 11, 24, 21, 5), jobs) >= 1  # the backup step
    assert texts_to(slack_clinic, NURSE_PHONE) == ["Adverse-event page: ticket #1, acknowledge: reply 1 or open Slack"]
    slack_clinic.clock.set(local(2026, 11, 24, 21, 7))
    slack_clinic.sms("ACK", sender=NURSE_PHONE)  # her latest page
    slack_clinic.deliver()
    assert slack_clinic.ticket().acknowledged_by == stored(CLINICAL_USER)
    assert texts_to(slack_clinic, NURSE_PHONE)[-1] == "Ticket #1 acknowledged."
    at(slack_clinic, local(2026, 11, 24, 21, 30), jobs)
    steps = [e.data["step"] for e in events(slack_clinic, kind="nudged")]
    fired = {":".join(step.split(":")[:3]) for step in steps}  # keys carry the time the plan was made
    assert "adverse_event:page:0" in fired and "adverse_event:page:1" not in fired  # the manager step never fired
    assert not any("Page not acknowledged after 10 min" in line for line in thread(slack_clinic))


def test_the_backups_page_dm_names_only_its_reader_in_the_push_text(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.clock.set(local(2026, 11, 24, 21, 0))
    slack_clinic.sms(ADVERSE["en"], sender=PATIENT)
    slack_clinic.deliver()
    [primary_dm] = slack_clinic.slack.messages(DOCTOR)
    assert primary_dm["text"] == f"<@{DOCTOR}> Adverse event ticket #1"
    at(slack_clinic, local(2026, 11, 24, 21, 5), jobs)
    [backup_dm] = slack_clinic.slack.messages(CLINICAL_USER)
    assert backup_dm["text"] == f"<@{CLINICAL_USER}> Adverse event ticket #1"  # not the primary provider
    slack_clinic.clock.set(local(2026, 11, 24, 21, 6))
    slack_clinic.click(CLINICAL_USER, ActionId.CLAIM, "1")  # any change re-renders the DMs in place
    slack_clinic.deliver()
    updated = [c.args for c in slack_clinic.slack.calls("chat.update") if c.args.get("ts") == backup_dm["ts"]]
    assert updated and all(DOCTOR not in str(args.get("text")) for args in updated)
    [card] = slack_clinic.slack.messages("clinical")
    assert card["text"] == f"<@{DOCTOR}> Adverse event ticket #1"  # the channel card still mentions the paged one


@pytest.mark.clinic_yaml(CALL_ON_SECOND_STEP)
def test_the_second_ladder_step_calls_the_paged_providers(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.clock.set(local(2026, 11, 24, 21, 0))
    slack_clinic.sms(ADVERSE["en"], sender=PATIENT)
    slack_clinic.deliver()
    at(slack_clinic, local(2026, 11, 24, 21, 5), jobs)
    assert calls_to(slack_clinic, DR_LEE_PHONE) == [] and calls_to(slack_clinic, NURSE_PHONE) == []
    at(slack_clinic, local(2026, 11, 24, 21, 10), jobs)
    spoken = ("Test Clinic adverse-event page, ticket 1. Reply 1 by text or open Slack to acknowledge.")
    for phone in (DR_LEE_PHONE, NURSE_PHONE):  # the primary and the backup paged at the first step
        [twiml] = calls_to(slack_clinic, phone)
        assert twiml.endswith(f'<Response><Say loop="2">{spoken}</Say></Response>')
        assert "Olivia" not in twiml and "lip" not in twiml and PATIENT not in twiml
    assert [e.data["provider"] for e in events(slack_clinic, kind="page_called")] == ["dr-lee", "nurse"]
    at(slack_clinic, local(2026, 11, 24, 21, 30), jobs)
    assert len(calls_to(slack_clinic, DR_LEE_PHONE)) == 1  # a step calls once


@pytest.mark.clinic_yaml(CALL_ON_SECOND_STEP)
def test_a_page_acknowledged_by_text_is_never_called(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.clock.set(local(2026, 11, 24, 21, 0))
    slack_clinic.sms(ADVERSE["es"], sender=PATIENT)
    slack_clinic.deliver()
    slack_clinic.clock.set(local(2026, 11, 24, 21, 2))
    slack_clinic.sms("1", sender=DR_LEE_PHONE)
    slack_clinic.deliver()
    at(slack_clinic, local(2026, 11, 24, 21, 5), jobs)
    at(slack_clinic, local(2026, 11, 24, 21, 10), jobs)
    assert [r.path for r in slack_clinic.twilio.requests if r.path.endswith("/Calls.json")] == []
    assert texts_to(slack_clinic, NURSE_PHONE) == []  # nor the backup paged


@pytest.mark.clinic_yaml(CALL_ON_SECOND_STEP)
def test_a_call_queued_before_an_acknowledgement_is_not_placed(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.clock.set(local(2026, 11, 24, 21, 0))
    slack_clinic.sms(ADVERSE["en2"], sender=PATIENT)
    slack_clinic.deliver()
    slack_clinic.clock.set(local(2026, 11, 24, 21, 10))
    jobs.sweep_sla()  # both steps queue their pages and calls, not yet delivered...
    slack_clinic.click(DOCTOR, ActionId.ACKNOWLEDGE, "1", DOCTOR)  # ...when the doctor acknowledges in Slack
    slack_clinic.deliver()
    assert [r for r in slack_clinic.twilio.requests if r.path.endswith("/Calls.json")] == []
    assert {e.data.get("skipped") for e in events(slack_clinic, kind="page_called")} == {
        "the page was acknowledged before this went out"}


def test_a_page_text_twilio_refuses_is_alerted_without_patient_detail(slack_clinic: SlackClinic) -> None:
    slack_clinic.twilio.script.append(Answer(400, {"code": 21211, "message": "Invalid 'To' Phone Number"}))
    slack_clinic.sms(ADVERSE["en"], sender=PATIENT)
    slack_clinic.deliver()
    alerts = [m["text"] for m in slack_clinic.slack.messages("managers")]
    assert len(alerts) == 1 and "page.sms for ticket #1" in alerts[0]
    assert "Olivia" not in alerts[0] and PATIENT not in alerts[0]
    assert [e.data["outbox_kind"] for e in events(slack_clinic, kind="delivery_failed")] == ["page.sms"]


def test_a_page_text_is_retried_through_a_twilio_outage(slack_clinic: SlackClinic) -> None:
    from datetime import timedelta

    slack_clinic.twilio.script.extend([Answer(500, {}), Answer(503, {})])
    slack_clinic.sms(ADVERSE["es2"], sender=PATIENT)
    slack_clinic.deliver()
    slack_clinic.clock.advance(timedelta(seconds=31))
    slack_clinic.deliver()
    slack_clinic.clock.advance(timedelta(minutes=2, seconds=1))
    slack_clinic.deliver()
    assert len([r for r in slack_clinic.twilio.requests if r.form.get("To") == DR_LEE_PHONE]) == 3
    assert len(events(slack_clinic, kind="page_texted")) == 1
    assert slack_clinic.slack.messages("managers") == []


@pytest.mark.parametrize("text, ticket", [("42", 42), ("ack 42", 42), ("ACK", None), ("#7", 7), (" ok ", None),
                                          ("Acknowledge 12!", 12)])
def test_staff_commands_parse(text: str, ticket: int | None) -> None:
    command = parse_command(text)
    assert command is not None and command.ticket_id == ticket


@pytest.mark.parametrize("text", ["", "hello", "42 and 43", "call me", "ack me later", "no"])
def test_anything_else_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize("stop, start", [("STOP", "START"), ("BAJA", "ALTA"), ("unsubscribe", "yes")])
def test_a_provider_who_texts_stop_is_flagged_to_the_managers_and_not_texted(slack_clinic: SlackClinic, stop: str,
                                                                              start: str) -> None:
    slack_clinic.sms(stop, sender=DR_LEE_PHONE)
    slack_clinic.deliver()
    word = stop.upper()
    assert [m["text"] for m in slack_clinic.slack.messages("managers")] == [
        f"⚠️ Dr. Lee texted {word} to the clinic number: page texts cannot reach them until they text START."]
    slack_clinic.sms(ADVERSE["en"], sender=PATIENT)
    slack_clinic.deliver()
    assert texts_to(slack_clinic, DR_LEE_PHONE) == []  # Twilio would refuse it: not sent, not alerted as a failure
    assert slack_clinic.slack.messages(DOCTOR)  # the Slack page still goes
    [texted] = events(slack_clinic, kind="page_texted")
    assert texted.data["sent"] is False and "STOP" in texted.data["skipped"]
    assert len(slack_clinic.slack.messages("managers")) == 1
    slack_clinic.sms(start, sender=DR_LEE_PHONE)
    slack_clinic.deliver()
    assert slack_clinic.slack.messages("managers")[-1]["text"] == (
        f"✅ Dr. Lee texted {start.upper()}: page texts reach them again.")
    assert counts(slack_clinic) == (1, 1)  # only the patient's message made a ticket
    slack_clinic.sms("1", sender=DR_LEE_PHONE)
    slack_clinic.deliver()
    assert texts_to(slack_clinic, DR_LEE_PHONE) == ["Ticket #1 acknowledged."]


@pytest.mark.parametrize("written, stored", [("+1 415 555 0191", "+14155550191"), ("(415) 555-0192", "+14155550192"),
                                             ("+34 612 345 678", "+34612345678")])
def test_staff_phones_are_stored_in_e164(tmp_path: Path, written: str, stored: str) -> None:
    path = tmp_path / "clinic.yml"
    path.write_text(f"{CONFIG_HEAD}  - {{id: dr-lee, name: Dr. Lee, clinical: true, phone: \"{written}\"}}\n")
    assert load_config(path).staff[0].phone == stored


@pytest.mark.parametrize("extra, problem", [
    ('  - {id: dr-lee, name: Dr. Lee, phone: "call me"}\n', "staff.0.phone (line 6)"),
    ('  - {id: dr-lee, name: Dr. Lee, phone: "12"}\n', "staff.0.phone (line 6)"),
    ('  - {id: a, name: A, phone: "+1 415 555 0191"}\n  - {id: b, name: B, phone: "415-555-0191"}\n',
     "same phone number"),
])
def test_a_bad_or_shared_staff_phone_is_a_config_error(tmp_path: Path, extra: str, problem: str) -> None:
    path = tmp_path / "clinic.yml"
    path.write_text(CONFIG_HEAD + extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert problem in str(caught.value)
