"""From a signed webhook to what the patient and the clinic see: auto-answers, routing, follow-ups, pages."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import Clinic, local


def test_booking_is_answered_with_next_slots_and_the_link(clinic: Clinic) -> None:
    clinic.sms("hi can i get a botox appointment sometime this week?", sender="+12125550101")
    assert clinic.deliver() == 1
    [ticket] = clinic.tickets()
    assert ticket.category == "booking" and ticket.status == "auto_resolved"
    [text] = clinic.texts_to("+12125550101")
    # Tuesday 10:30 with a 60-minute lead: today's 14:00, then Wednesday's two slots.
    assert "Hi Olivia!" in text and "Tue 11/24 2:00 PM" in text and "Wed 11/25 10:00 AM" in text
    assert "https://book.test/x" in text
    assert clinic.events(ticket.id) == [
        "received", "matched", "classified", "routed", "auto_replied", "reply_sent"]
    assert ticket.first_response_at == clinic.clock.now()
    assert clinic.poster.posts == []  # nothing for staff to do


def test_faq_is_answered_in_the_patients_language(clinic: Clinic) -> None:
    clinic.sms("hola, ¿cuál es su horario?", sender="+12125550103")
    clinic.deliver()
    [text] = clinic.texts_to("+12125550103")
    assert text.startswith("Abrimos entre semana de 9 a 5.")
    assert clinic.tickets()[0].language == "es"


def test_faq_without_an_answer_goes_to_the_front_desk(clinic: Clinic) -> None:
    clinic.sms("do you guys do brow lamination?", sender="+12125550177")
    clinic.deliver()
    [ticket] = clinic.tickets()
    assert ticket.category == "faq" and ticket.status == "open" and ticket.role == "front_desk"
    assert clinic.texts_to("+12125550177") == []
    [(channel, card)] = clinic.poster.posts
    assert channel == "front-desk" and f"#{ticket.id}" in card


def test_vip_booking_goes_to_their_named_human_not_the_bot(clinic: Clinic) -> None:
    clinic.sms("Can I book a hydrafacial for next Friday afternoon?", sender="+12125550102")
    clinic.deliver()
    [ticket] = clinic.tickets()
    assert ticket.category == "booking" and ticket.status == "open"
    assert ticket.assignee == "jess" and ticket.role == "front_desk"
    assert clinic.texts_to("+12125550102") == []
    [(channel, card)] = clinic.poster.posts
    assert channel == "front-desk" and "Named human: Jess" in card and "Harper Collins" in card


def test_adverse_event_is_routed_to_clinical_and_pages_the_on_call_provider(clinic: Clinic) -> None:
    clinic.sms("my lip has been swelling more since the filler yesterday and now it's turning purple",
               sender="+12125550101")
    clinic.deliver()
    [ticket] = clinic.tickets()
    assert ticket.category == "adverse_event" and ticket.urgency == "critical"
    assert ticket.role == "clinical" and ticket.paged == "dr-lee"
    assert ticket.due_at == clinic.clock.now() + timedelta(minutes=5)
    channels = [channel for channel, _ in clinic.poster.posts]
    assert channels == ["clinical", "UDRLEE"]
    assert clinic.texts_to("+12125550101") == []  # never auto-answered, and in hours no acknowledgement
    assert "paged" in clinic.events(ticket.id) and "posted" in clinic.events(ticket.id)


def test_follow_up_joins_the_open_ticket(clinic: Clinic) -> None:
    clinic.sms("why was i charged $480?", sender="+12125550104")
    clinic.sms("i paid at checkout, have the receipt", sender="+12125550104")
    [ticket] = clinic.tickets()
    assert [m.ticket_id for m in clinic.inbound()] == [ticket.id, ticket.id]
    assert ticket.category == "billing"
    assert clinic.events(ticket.id).count("follow_up") == 1


def test_more_severe_follow_up_raises_the_ticket_and_pages(clinic: Clinic) -> None:
    clinic.sms("Can I book a hydrafacial for next Friday afternoon?", sender="+12125550102")  # VIP: stays open
    clinic.deliver()
    clinic.clock.advance(timedelta(minutes=2))
    clinic.sms("also my cheek is really swollen and hot since the filler on monday, worse today",
               sender="+12125550102")
    clinic.deliver()
    [ticket] = clinic.tickets()
    assert ticket.category == "adverse_event" and ticket.role == "clinical" and ticket.paged == "dr-lee"
    events = clinic.events(ticket.id)
    assert events.index("follow_up") < events.index("raised")
    assert [channel for channel, _ in clinic.poster.posts] == ["front-desk", "clinical", "UDRLEE"]


def test_a_less_severe_follow_up_never_lowers_the_ticket(clinic: Clinic) -> None:
    clinic.sms("there's a hard painful lump in my lip since the filler and it's getting bigger",
               sender="+12125550101")
    clinic.sms("ok thanks", sender="+12125550101")
    clinic.sms("what are your hours?", sender="+12125550101")
    # Issue 7, point 6: "ok thanks" joins quietly; the hours question is a different, less severe request and
    # gets its own ticket, linked to the adverse one (it used to be folded into the adverse ticket).
    ticket, hours = clinic.tickets()
    assert ticket.category == "adverse_event"
    assert "raised" not in clinic.events(ticket.id)
    assert [m.ticket_id for m in clinic.inbound()] == [ticket.id, ticket.id, hours.id]
    assert hours.category == "faq" and hours.related_ticket_id == ticket.id and hours.status == "open"
    assert clinic.texts_to("+12125550101") == []  # not auto-answered while an adverse ticket is open


def test_after_hours_clinical_message_gets_an_acknowledgement_with_911(clinic: Clinic) -> None:
    clinic.clock.set(local(2026, 11, 24, 21, 15))
    clinic.sms("Is it safe to get botox if I'm on blood thinners?", sender="+12125550101")
    clinic.deliver()
    [ticket] = clinic.tickets()
    assert ticket.category == "clinical" and ticket.status == "open" and ticket.role == "clinical"
    [text] = clinic.texts_to("+12125550101")
    assert "911" in text and "closed" in text
    assert "after_hours_ack" in clinic.events(ticket.id)
    assert [channel for channel, _ in clinic.poster.posts] == ["clinical"]
    # The acknowledgement is not a response: the SLA still waits for a provider.
    assert clinic.tickets()[0].first_response_at is None


def test_after_hours_acknowledgement_in_spanish(clinic: Clinic) -> None:
    clinic.clock.set(local(2026, 11, 28, 11, 0))  # Saturday: closed all day
    clinic.sms("tengo diabetes tipo 2, ¿puedo hacerme microneedling?", sender="+12125550103")
    clinic.deliver()
    [text] = clinic.texts_to("+12125550103")
    assert "911" in text and "cerrados" in text


def test_unknown_sender_is_marked_new(clinic: Clinic) -> None:
    clinic.sms("is the swelling after lip filler supposed to last a week? asking before I book", sender="+13055550000")
    [ticket] = clinic.tickets()
    assert ticket.patient_key is None and ticket.patient == {}
    clinic.deliver()
    assert any("New — not in the directory" in card for _, card in clinic.poster.posts)
