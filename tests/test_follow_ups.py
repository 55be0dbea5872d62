"""Follow-ups and messages with several requests (issue 7, point 6), through the signed SMS webhook into the real
app; the cards are read back from the Slack stand-in."""

from __future__ import annotations

import pytest

from bot.storage.models import TicketRow
from tests.conftest import Clinic
from tests.slack_clinic import SlackClinic, blocks

OLIVIA, SOFIA, DANIEL = "+12125550101", "+12125550103", "+12125550104"
ADVERSE_EN = "my lip has been swelling more since the filler yesterday and now it's turning purple"
ADVERSE_ES = "me salió un sarpullido en la barbilla desde el peeling y se está extendiendo, me arde mucho"
CLINICAL_ES = "tengo diabetes tipo 2, ¿puedo hacerme microneedling?"
BILLING_EN = "why was i charged $480 twice?? i paid at checkout"
BILLING_ES = "¿por qué me cobraron dos veces la consulta? ya pagué en la recepción"


def tickets(sc: SlackClinic) -> list[TicketRow]:
    from sqlalchemy import select

    with sc.service.db.transaction() as session:
        return list(session.scalars(select(TicketRow).order_by(TicketRow.id)))


@pytest.mark.parametrize(("first", "sender", "first_channel", "follow_up", "category", "channel"), [
    # The example: the booking went onto the adverse-event card and the front desk never saw it.
    (ADVERSE_EN, OLIVIA, "clinical", "Thursday 11am works, please book me", "booking", "front-desk"),
    (ADVERSE_ES, SOFIA, "clinical", "el jueves a las 11 me viene bien, resérvame por favor", "booking", "front-desk"),
    (ADVERSE_EN, OLIVIA, "clinical", "why was I charged twice for my last visit?", "billing", "billing"),
    (CLINICAL_ES, SOFIA, "clinical", "¿por qué me cobraron dos veces la consulta?", "billing", "billing"),
])
def test_a_different_less_severe_request_opens_its_own_linked_ticket(
        slack_clinic: SlackClinic, first: str, sender: str, first_channel: str, follow_up: str, category: str,
        channel: str) -> None:
    slack_clinic.sms(first, sender=sender)
    slack_clinic.deliver()
    [first_card] = slack_clinic.slack.messages(first_channel)
    slack_clinic.sms(follow_up, sender=sender)
    slack_clinic.deliver()
    one, two = tickets(slack_clinic)
    assert two.category == category and two.related_ticket_id == one.id and two.status == "open"
    assert one.category != category  # the first ticket is neither lowered nor raised
    [second_card] = [m for m in slack_clinic.slack.messages(channel) if m["ts"] != first_card["ts"]]
    assert f"Related: #1 {one.category.replace('_', ' ')}" in blocks(second_card)
    first_now = slack_clinic.slack.message(first_channel, first_card["ts"])
    assert f"Related: #2 {category}" in blocks(first_now)
    assert follow_up not in blocks(first_now)  # not folded into the first card
    thread = [m["text"] for m in slack_clinic.slack.thread(first_channel, first_card["ts"])]
    assert f"🔗 The patient also wrote about {category}: ticket #2" in thread
    # The bot does not answer a patient the nurses are looking after (the on-call provider's page text aside).
    assert [r for r in slack_clinic.twilio.requests if r.form.get("To") == sender] == []


@pytest.mark.parametrize(("first", "sender", "question", "answer"), [
    (BILLING_EN, DANIEL, "what are your hours?", "Open weekdays 9 to 5."),
    (BILLING_ES, SOFIA, "hola, ¿cuál es su horario?", "Abrimos entre semana de 9 a 5."),
])
def test_a_routine_question_beside_an_open_billing_ticket_is_answered_on_its_own_ticket(
        clinic: Clinic, first: str, sender: str, question: str, answer: str) -> None:
    clinic.sms(first, sender=sender)
    clinic.sms(question, sender=sender)
    clinic.deliver()
    billing, faq = clinic.tickets()
    assert (billing.category, billing.status) == ("billing", "open")
    assert (faq.category, faq.status, faq.related_ticket_id) == ("faq", "auto_resolved", billing.id)
    [text] = clinic.texts_to(sender)
    assert text.startswith(answer)


@pytest.mark.parametrize(("first", "sender", "follow_up"), [
    (ADVERSE_EN, OLIVIA, "ok thanks"),
    (ADVERSE_ES, SOFIA, "gracias"),
    (BILLING_ES, SOFIA, "vale, gracias"),
    (BILLING_EN, DANIEL, "ok"),
])
def test_thanks_and_ok_join_the_open_ticket_quietly(clinic: Clinic, first: str, sender: str, follow_up: str) -> None:
    clinic.sms(first, sender=sender)
    clinic.sms(follow_up, sender=sender)
    [ticket] = clinic.tickets()
    assert [m.ticket_id for m in clinic.inbound()] == [ticket.id, ticket.id]
    events = clinic.events(ticket.id)
    assert events.count("follow_up") == 1 and "linked" not in events and "raised" not in events


@pytest.mark.parametrize(("first", "sender", "follow_up"), [
    (ADVERSE_EN, OLIVIA, "it's getting worse and now my whole lip is numb"),
    (ADVERSE_ES, SOFIA, "está peor, ahora tengo toda la barbilla roja e hinchada"),
    (BILLING_ES, SOFIA, "ya pagué, tengo el recibo de la tarjeta"),
])
def test_a_follow_up_about_the_same_thing_joins(clinic: Clinic, first: str, sender: str, follow_up: str) -> None:
    clinic.sms(first, sender=sender)
    clinic.sms(follow_up, sender=sender)
    [ticket] = clinic.tickets()
    assert clinic.events(ticket.id).count("follow_up") == 1


@pytest.mark.parametrize(("first", "sender", "booking", "worse"), [
    (ADVERSE_EN, OLIVIA, "Thursday 11am works, please book me", "it's getting worse and now my whole lip is numb"),
    (ADVERSE_ES, SOFIA, "el jueves a las 11 me viene bien, resérvame por favor",
     "está peor, ahora tengo toda la barbilla roja e hinchada"),
])
def test_with_two_tickets_open_a_follow_up_joins_the_one_it_is_about(clinic: Clinic, first: str, sender: str,
                                                                     booking: str, worse: str) -> None:
    clinic.sms(first, sender=sender)
    clinic.sms(booking, sender=sender)
    clinic.sms(worse, sender=sender)
    adverse, linked = clinic.tickets()
    assert (adverse.category, linked.category) == ("adverse_event", "booking")  # the booking ticket is not raised
    assert [m.ticket_id for m in clinic.inbound()] == [adverse.id, linked.id, adverse.id]


def test_a_more_severe_follow_up_raises_the_open_ticket_in_spanish(clinic: Clinic) -> None:
    clinic.sms(BILLING_ES, sender=SOFIA)
    clinic.sms("además desde el relleno tengo el labio muy hinchado y morado, está peor hoy", sender=SOFIA)
    clinic.deliver()
    [ticket] = clinic.tickets()
    assert (ticket.category, ticket.role, ticket.paged) == ("adverse_event", "clinical", "dr-lee")
    events = clinic.events(ticket.id)
    assert events.index("follow_up") < events.index("raised") < len(events) - 1 - events[::-1].index("routed")


@pytest.mark.parametrize(("text", "sender", "category", "channel", "also"), [
    # The example: the adverse part decides the ticket, the booking part is kept on it.
    ("my lip is still swollen and also can I move my appointment to Friday?", OLIVIA, "adverse_event", "clinical",
     "booking"),
    ("mi labio sigue hinchado y también ¿puedo cambiar mi cita al viernes?", SOFIA, "adverse_event", "clinical",
     "booking"),
    ("my cheek is still numb and red. Also, I think I was charged twice for the visit", OLIVIA, "adverse_event",
     "clinical", "billing"),
    ("tengo la mejilla roja y dura desde el relleno. Además me cobraron dos veces", SOFIA, "adverse_event", "clinical",
     "billing"),
    # A booking with a second question is not half answered by the bot: it goes to the front desk whole.
    ("Hi I want to book Botox next Tues after 4pm. Also is there parking at your place or street only?",
     "+13055550111", "booking", "front-desk", "faq"),
])
def test_a_message_with_two_requests_keeps_both(slack_clinic: SlackClinic, text: str, sender: str, category: str,
                                                channel: str, also: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    [ticket] = tickets(slack_clinic)
    assert ticket.category == category and ticket.also_asks == [also] and ticket.status == "open"
    [card] = slack_clinic.slack.messages(channel)
    assert f"Also asks: {also}" in blocks(card)
    assert [r for r in slack_clinic.twilio.requests if r.form.get("To") == sender] == []


@pytest.mark.parametrize(("text", "sender"), [
    ("I got filler last week. Now my lip is swollen and purple.", OLIVIA),  # telling context is not a request
    ("Thursday 11am works, please book me", "+13055550112"),
    ("hola, tengo cita el viernes. ¿Puedo tomar ibuprofeno antes del relleno?", SOFIA),
])
def test_one_request_with_context_is_one_request(clinic: Clinic, text: str, sender: str) -> None:
    clinic.sms(text, sender=sender)
    [ticket] = clinic.tickets()
    assert ticket.also_asks == []


def test_a_follow_up_with_a_second_request_adds_it_to_the_card(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(ADVERSE_EN, sender=OLIVIA)
    slack_clinic.deliver()
    slack_clinic.sms("still swollen today, and also can I move my appointment to Friday?", sender=OLIVIA)
    slack_clinic.deliver()
    [ticket] = tickets(slack_clinic)
    assert ticket.category == "adverse_event" and ticket.also_asks == ["booking"]
    [card] = slack_clinic.slack.messages("clinical")
    assert "Also asks: booking" in blocks(slack_clinic.slack.message("clinical", card["ts"]))
