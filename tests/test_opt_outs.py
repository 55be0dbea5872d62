"""STOP is an opt-out: recorded per address, answered with nothing, and nothing more is texted to that number
until START. Through the real signed SMS webhook; Slack played by its stand-in for the card and reply side."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.cards.model import ActionId
from bot.optouts import keyword_of, opt_outs_between
from bot.storage.models import OptOutRow, TicketEventRow
from handlers.slack.ids import ModalCallback
from handlers.slack.modals import MESSAGE_BLOCK, MESSAGE_INPUT
from tests.conftest import Clinic, local
from tests.slack_clinic import CLINICAL_USER, FRONT_DESK_USER, SlackClinic, stored

PATIENT = "+12125550199"  # not in the directory
DANIEL, SOFIA = "+12125550104", "+12125550103"

OPT_OUTS = ["STOP", "stop", "Stop.", "  UNSUBSCRIBE ", "StopAll", "quit!", "End", "CANCEL",
            "BAJA", "baja", "Cancelar", "ALTO!", "parar", "¡Alto!", "no más"]
OPT_INS = ["START", "start", "Unstop", "ALTA", "inicio", "Yes", "sí"]


def opt_outs(clinic: Clinic | SlackClinic) -> list[OptOutRow]:
    with clinic.service.db.transaction() as session:
        return list(session.scalars(select(OptOutRow).order_by(OptOutRow.id)))


def events(clinic: Clinic | SlackClinic, kind: str) -> list[TicketEventRow]:
    with clinic.service.db.transaction() as session:
        return list(session.scalars(select(TicketEventRow).where(TicketEventRow.kind == kind)
                                    .order_by(TicketEventRow.id)))


def managers_posts(clinic: Clinic) -> list[str]:
    return [text for channel, text in clinic.poster.posts if channel == "managers"]


def block_texts(message: dict[str, Any] | None) -> str:
    assert message is not None
    return str(message.get("blocks"))


@pytest.mark.parametrize("body", OPT_OUTS)
def test_stop_is_stored_recorded_and_answered_with_nothing(clinic: Clinic, body: str) -> None:
    response = clinic.sms(body, sender=PATIENT)
    assert response.status_code == 200
    [stored] = clinic.inbound()
    assert stored.body == body and stored.processed_at is not None  # the intake promise: kept like any message
    assert clinic.tickets() == []  # no card, nobody pinged
    clinic.deliver()
    assert clinic.outbox() == [] and clinic.poster.posts == []
    # Twilio's Advanced Opt-Out answers STOP itself: the bot sends nothing at all.
    assert clinic.twilio.requests == []
    [row] = opt_outs(clinic)
    assert (row.channel, row.address, row.opted_back_in_at) == ("sms", PATIENT, None)
    assert row.keyword == keyword_of(body).word and row.message_id == stored.id  # type: ignore[union-attr]


@pytest.mark.parametrize("body", ["Can I cancel my appointment on the 28th?", "stop by tomorrow at 3?",
                                  "quiero cancelar mi cita del jueves", "yes", "sí", "Please STOP texting me promos"])
def test_a_message_that_only_mentions_a_keyword_is_a_patient_message(clinic: Clinic, body: str) -> None:
    clinic.sms(body, sender=PATIENT)
    assert len(clinic.tickets()) == 1
    assert opt_outs(clinic) == []


@pytest.mark.parametrize("stop, question", [("STOP", "what are your hours"), ("BAJA", "cuál es su horario"),
                                            ("Cancelar", "a qué hora abren")])
def test_no_auto_reply_reaches_an_opted_out_number_and_a_human_takes_it(clinic: Clinic, stop: str,
                                                                         question: str) -> None:
    clinic.sms(stop, sender=PATIENT)
    clinic.clock.advance(timedelta(minutes=5))
    clinic.sms(question, sender=PATIENT)  # the bot would answer this from the answer book...
    [ticket] = clinic.tickets()
    assert ticket.status == "auto_resolved"
    clinic.deliver()
    clinic.deliver()
    assert clinic.twilio.requests == []  # ...but nothing is texted to an opted-out number
    [dropped] = events(clinic, "reply_dropped")
    assert dropped.data["reason"] == "opted_out" and dropped.data["by"] == "bot"
    [ticket] = clinic.tickets()
    assert ticket.status == "open"  # the patient's question was not answered: back to a human
    cards = [text for channel, text in clinic.poster.posts if channel == "front-desk"]
    assert len(cards) == 1 and "opted out of texts" in cards[0]
    assert managers_posts(clinic) == []  # a dropped text is not a delivery failure: nothing alerted
    assert "delivery_failed" not in clinic.events(ticket.id)


@pytest.mark.parametrize("stop", ["STOP", "ALTO", "Unsubscribe"])
def test_no_after_hours_acknowledgement_reaches_an_opted_out_number(clinic: Clinic, stop: str) -> None:
    clinic.clock.set(local(2026, 11, 24, 21, 0))  # after hours: medical messages get an acknowledgement
    clinic.sms(stop, sender="+12125550101")
    clinic.sms("Is it safe to get botox if I'm on blood thinners?", sender="+12125550101")
    clinic.deliver()
    clinic.deliver()
    assert clinic.texts_to("+12125550101") == []
    assert [r.status for r in clinic.outbox("reply.sms")] == ["sent"]  # handled, not retried, not failed
    assert [r.result for r in clinic.outbox("reply.sms")] == [{"dropped": "the patient opted out"}]
    assert len(events(clinic, "reply_dropped")) == 1
    assert managers_posts(clinic) == []


@pytest.mark.parametrize("stop, start", [("STOP", "START"), ("BAJA", "ALTA"), ("alto", "Inicio"),
                                         ("quit", "unstop"), ("STOP", "yes"), ("parar", "Sí")])
def test_start_opts_back_in_and_texts_flow_again(clinic: Clinic, stop: str, start: str) -> None:
    clinic.sms(stop, sender=PATIENT)
    clinic.clock.advance(timedelta(minutes=1))
    back_at = clinic.clock.now()
    clinic.sms(start, sender=PATIENT)
    assert clinic.tickets() == []  # START makes no card either
    [row] = opt_outs(clinic)
    assert row.opted_back_in_at == back_at and row.back_in_keyword == keyword_of(start).word  # type: ignore[union-attr]
    clinic.sms("what are your hours", sender=PATIENT)
    clinic.deliver()
    assert clinic.texts_to(PATIENT) == ["Open weekdays 9 to 5. — Test Clinic"]
    assert len(inbound := clinic.inbound()) == 3 and all(m.processed_at for m in inbound)


def test_a_twilio_retry_or_a_second_stop_keeps_one_opt_out(clinic: Clinic) -> None:
    clinic.sms("STOP", sender=PATIENT, sid="SMstop1")
    clinic.sms("STOP", sender=PATIENT, sid="SMstop1")  # Twilio retried the webhook
    clinic.clock.advance(timedelta(hours=1))
    clinic.sms("baja", sender=PATIENT, sid="SMstop2")
    [row] = opt_outs(clinic)
    assert row.opted_out_at == local(2026, 11, 24, 10, 30) and row.keyword == "STOP"
    assert len(clinic.inbound()) == 2  # each distinct message is still stored


def test_opt_outs_are_counted_for_the_digest(clinic: Clinic) -> None:
    for number, word in (("+12125550191", "STOP"), ("+12125550192", "BAJA"), ("+12125550193", "Unsubscribe")):
        clinic.sms(word, sender=number)
    clinic.sms("START", sender="+12125550193")
    day = local(2026, 11, 24, 0, 0).astimezone(UTC)
    with clinic.service.db.transaction() as session:
        assert opt_outs_between(session, day, day + timedelta(days=1)) == 3
        assert opt_outs_between(session, day + timedelta(days=1), day + timedelta(days=2)) == 0


def _reply(clinic: SlackClinic, user: str, ticket_id: int, text: str) -> None:
    clinic.submit(user, ModalCallback.REPLY, ticket_id, {
        MESSAGE_BLOCK: {MESSAGE_INPUT: {"type": "plain_text_input", "value": text}}})


@pytest.mark.parametrize("sender, request_text, stop, channel", [
    (DANIEL, "why was i charged $480 twice?? i paid at checkout", "STOP", "billing"),
    (SOFIA, "me cobraron dos veces la última visita, ¿me pueden devolver el dinero?", "BAJA", "billing"),
    ("+12125550101", "Is it safe to get botox if I'm on blood thinners?", "Cancelar", "clinical"),
])
def test_a_staff_reply_to_an_opted_out_number_is_refused_with_the_reason(
        slack_clinic: SlackClinic, sender: str, request_text: str, stop: str, channel: str) -> None:
    slack_clinic.sms(request_text, sender=sender)
    slack_clinic.deliver()
    [card] = slack_clinic.slack.messages(channel)
    slack_clinic.clock.advance(timedelta(minutes=3))  # 10:33
    slack_clinic.sms(stop, sender=sender)
    slack_clinic.deliver()
    assert len(slack_clinic.slack.messages(channel)) == 1  # STOP makes no card of its own
    word = keyword_of(stop).word  # type: ignore[union-attr]
    reason = f"The patient opted out of texts ({word}) on Tue Nov 24 10:33; reach them another way"
    assert reason in block_texts(slack_clinic.slack.message(channel, card["ts"]))  # the card shows it
    lines = [m["text"] for m in slack_clinic.slack.thread(channel, card["ts"])]
    assert lines == ["🚫 The patient opted out of texts (STOP): the bot will not text them"]
    assert not any("<@" in line or "<!" in line for line in lines)  # quiet: nobody is mentioned
    user = CLINICAL_USER if channel == "clinical" else FRONT_DESK_USER
    _reply(slack_clinic, user, 1, "Hi, about your message...")
    slack_clinic.deliver()
    assert [e["text"] for e in slack_clinic.slack.ephemerals(user=user)] == [f"{reason}."]
    assert slack_clinic.outbox("reply.sms") == []  # refused before anything was queued
    assert [r for r in slack_clinic.twilio.requests if r.form.get("To") == sender] == []
    [refused] = [e for e in events(slack_clinic, "refused") if e.data.get("act") == "reply"]
    assert refused.actor == stored(user) and refused.data["reason"] == "opted_out"
    assert slack_clinic.ticket().status == "open"  # nothing changed


def test_a_staff_reply_queued_just_before_stop_is_dropped_not_alerted(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("why was i charged $480 twice?? i paid at checkout", sender=DANIEL)
    slack_clinic.deliver()
    [card] = slack_clinic.slack.messages("billing")
    _reply(slack_clinic, FRONT_DESK_USER, 1, "Hi Daniel, refund is on its way.")  # queued, not delivered yet
    slack_clinic.sms("STOP", sender=DANIEL)
    slack_clinic.deliver()
    assert [r for r in slack_clinic.twilio.requests if r.form.get("To") == DANIEL] == []
    lines = [m["text"] for m in slack_clinic.slack.thread("billing", card["ts"])]
    assert "Reply not sent: the patient opted out of texts" in lines
    assert slack_clinic.slack.messages("managers") == []
    assert slack_clinic.ticket().first_response_at is None  # nothing reached the patient


@pytest.mark.clinic_yaml("opt_outs:\n  confirm: true\n")
@pytest.mark.parametrize("stop, confirmation", [
    ("STOP", "You will no longer receive texts from Test Clinic. Reply START to resume."),
    ("Unsubscribe", "You will no longer receive texts from Test Clinic. Reply START to resume."),
    ("BAJA", "Ya no recibirá mensajes de texto de Test Clinic. Responda ALTA para reanudar."),
])
def test_the_one_confirmation_text_when_the_clinic_turns_it_on(slack_clinic: SlackClinic, stop: str,
                                                                confirmation: str) -> None:
    slack_clinic.sms(stop)
    slack_clinic.sms(stop)  # a second STOP is not confirmed again
    slack_clinic.sms("what are your hours")
    slack_clinic.deliver()
    assert [r.form["Body"] for r in slack_clinic.twilio.requests] == [confirmation]


def test_the_acknowledge_button_is_unaffected_by_an_opt_out(slack_clinic: SlackClinic) -> None:
    """An opt-out stops texts to the patient, never the clinic's own work on the ticket."""
    slack_clinic.sms("my lip has been swelling more since the filler yesterday and now it's purple", "+12125550101")
    slack_clinic.sms("STOP", "+12125550101")
    slack_clinic.deliver()
    slack_clinic.click(CLINICAL_USER, ActionId.ACKNOWLEDGE, "1")
    assert slack_clinic.ticket().acknowledged_by == stored(CLINICAL_USER)
