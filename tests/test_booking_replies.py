"""Booking replies answer what the patient asked (issue 7, point 1), through the real SMS webhook.

The clinic here books Monday to Friday at 10:00 and 14:30, so "Tuesday 2:30" can be one of the slots offered.
The clock starts Tuesday Nov 24 2026, 10:30 in New York (lead time 60 min: the first slot is today's 14:30).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from bot.config.loader import load_config
from bot.respond.booking_intent import BookingIntent, PartOfDay, read_booking
from tests.conftest import HERE, TZ, Clinic, local, running_clinic

OLIVIA = "+12125550101"  # next appointment Tue Dec 1 10:00 in the directory
HARPER = "+12125550102"  # tier 1: Jess is her named human
SOFIA = "+12125550103"  # Spanish
DANIEL = "+12125550104"
STRANGER = "+12125550199"
SLOTS = (time(10), time(14, 30))


@pytest.fixture
def booking_clinic(tmp_path: Path) -> Iterator[Clinic]:
    """The `clinic` fixture's clinic, with weekday slots at 10:00 and 14:30."""
    base = load_config(HERE / "data_clinic.yml")
    slots = {day: SLOTS for day in ("mon", "tue", "wed", "thu", "fri")}
    config = base.model_copy(update={"booking": base.booking.model_copy(update={"weekly_slots": slots})})
    with running_clinic(tmp_path, config) as running:
        yield running


def one_text(clinic: Clinic, body: str, sender: str) -> str:
    """Send one SMS, deliver everything, return the one text the patient got back."""
    before = len(clinic.texts_to(sender))
    assert clinic.sms(body, sender=sender).status_code == 200
    clinic.deliver()
    texts = clinic.texts_to(sender)[before:]
    assert len(texts) == 1, texts
    return texts[0]


def cards(clinic: Clinic) -> list[str]:
    return [card for channel, card in clinic.poster.posts if channel == "front-desk"]


def slots_in(text: str, language: str) -> int:
    """How many offered slots a reply lists (each has a day/month date)."""
    days = ("Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun ") if language == "en" else (
        "lun ", "mar ", "mié ", "jue ", "vie ", "sáb ", "dom ")
    return sum(text.count(day) for day in days)


# --- Cancellations go to the front desk, never get slots, never auto-resolve -------------------------------------

@pytest.mark.parametrize(("body", "sender", "wants", "passed_on"), [
    ("I need to cancel my appointment on the 28th", OLIVIA,
     "Wants to: cancel the appointment on Sat Nov 28 (the directory has Tue Dec 1 10:00 AM)", "passed it on"),
    ("please cancel my botox on Dec 1, something came up", OLIVIA,
     "Wants to: cancel the appointment on Tue Dec 1 10:00 AM", "passed it on"),
    ("I can't make it to my appointment tomorrow, sorry", DANIEL,
     "Wants to: cancel the appointment on Wed Nov 25", "passed it on"),
    ("necesito cancelar mi cita del 28", SOFIA, "Wants to: cancel the appointment on Sat Nov 28", "recepción"),
    ("hola, quiero cancelar mi cita del jueves por favor", STRANGER,
     "Wants to: cancel the appointment on Thu Nov 26", "recepción"),
])
def test_a_cancellation_is_passed_to_the_front_desk_with_the_appointment(
        booking_clinic: Clinic, body: str, sender: str, wants: str, passed_on: str) -> None:
    text = one_text(booking_clinic, body, sender)
    assert passed_on in text and slots_in(text, "en") + slots_in(text, "es") == 0
    [ticket] = booking_clinic.tickets()
    assert ticket.category == "booking" and ticket.status == "open" and ticket.role == "front_desk"
    assert ticket.booking is not None and ticket.booking["intent"] == "cancel"
    assert ticket.first_response_at is None  # "passed on" is not the clinic's answer: the SLA still runs
    [card] = cards(booking_clinic)
    assert wants in card
    assert "auto_replied" not in booking_clinic.events(ticket.id)


# --- Days ruled out are never offered -----------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "sender", "language", "offered", "never"), [
    # the demo's message: a move, later this week, Tuesday ruled out (it is Tuesday today)
    ("Hi! Can I move my Botox appt to later this week? Tues doesnt work anymore", OLIVIA, "en",
     ["Wed 11/25 10:00 AM", "Wed 11/25 2:30 PM", "Thu 11/26 10:00 AM"], "Tue "),
    ("Can I book a facial? not Monday or Tuesday please", DANIEL, "en",
     ["Wed 11/25 10:00 AM", "Wed 11/25 2:30 PM", "Thu 11/26 10:00 AM"], "Mon "),
    ("I can't do Wednesday, anything else this week?", STRANGER, "en",
     ["Tue 11/24 2:30 PM", "Thu 11/26 10:00 AM", "Thu 11/26 2:30 PM"], "Wed "),
    ("no puedo el martes, ¿tienen algo otro día?", SOFIA, "es",
     ["mié 25/11 10:00", "mié 25/11 14:30", "jue 26/11 10:00"], "mar "),
    ("Hola, ¿puedo reagendar mi cita? los miércoles no puedo", STRANGER, "es",
     ["mar 24/11 14:30", "jue 26/11 10:00", "jue 26/11 14:30"], "mié "),
])
def test_a_day_ruled_out_is_never_offered(booking_clinic: Clinic, body: str, sender: str, language: str,
                                          offered: list[str], never: str) -> None:
    text = one_text(booking_clinic, body, sender)
    for slot in offered:
        assert slot in text
    assert never not in text and slots_in(text, language) == 3
    [ticket] = booking_clinic.tickets()
    assert ticket.status == "auto_resolved" and ticket.booking is not None
    assert len(ticket.booking["offered"]) == 3  # held for the patient's pick


# --- Days and parts of day asked for are what is offered ----------------------------------------------------------

@pytest.mark.parametrize(("body", "sender", "language", "offered"), [
    ("¿tienen algo el jueves?", SOFIA, "es", ["jue 26/11 10:00", "jue 26/11 14:30", "jue 3/12 10:00"]),
    ("quiero una cita para depilación láser, tienen algo el viernes por la tarde?", STRANGER, "es",
     ["vie 27/11 14:30", "vie 4/12 14:30"]),
    ("can i come in thursday afternoon for a hydrafacial?", DANIEL, "en",
     ["Thu 11/26 2:30 PM", "Thu 12/3 2:30 PM"]),
    ("can I book something Monday morning?", STRANGER, "en", ["Mon 11/30 10:00 AM", "Mon 12/7 10:00 AM"]),
    ("can I book an appointment on Dec 3?", STRANGER, "en", ["Thu 12/3 10:00 AM", "Thu 12/3 2:30 PM"]),
])
def test_the_day_asked_for_is_the_day_offered(booking_clinic: Clinic, body: str, sender: str, language: str,
                                              offered: list[str]) -> None:
    text = one_text(booking_clinic, body, sender)
    for slot in offered:
        assert slot in text
    assert slots_in(text, language) == len(offered)  # nothing else slipped in


@pytest.mark.parametrize(("body", "sender", "language", "offered"), [
    ("can i get a consultation for sculptra sometime next week? mornings best", STRANGER, "en",
     ["Mon 11/30 10:00 AM", "Tue 12/1 10:00 AM", "Wed 12/2 10:00 AM"]),
    ("next week, mornings best", OLIVIA, "en", ["Mon 11/30 10:00 AM", "Tue 12/1 10:00 AM", "Wed 12/2 10:00 AM"]),
    ("can I book laser hair removal for next week? afternoons please", DANIEL, "en",
     ["Mon 11/30 2:30 PM", "Tue 12/1 2:30 PM", "Wed 12/2 2:30 PM"]),
    ("quiero una cita la próxima semana por la mañana", SOFIA, "es",
     ["lun 30/11 10:00", "mar 1/12 10:00", "mié 2/12 10:00"]),
    ("hola, ¿tienen algo la semana que viene por la tarde?", STRANGER, "es",
     ["lun 30/11 14:30", "mar 1/12 14:30", "mié 2/12 14:30"]),
    ("any openings this week in the morning?", OLIVIA, "en",
     ["Wed 11/25 10:00 AM", "Thu 11/26 10:00 AM", "Fri 11/27 10:00 AM"]),
])
def test_next_week_and_part_of_day_are_honoured(booking_clinic: Clinic, body: str, sender: str, language: str,
                                                offered: list[str]) -> None:
    text = one_text(booking_clinic, body, sender)
    for slot in offered:
        assert slot in text
    assert slots_in(text, language) == 3


@pytest.mark.parametrize(("body", "sender", "wants", "passed_on"), [
    ("can I book a facial on Saturday?", STRANGER, "Wants to: book facial (Sat)", "passed it on"),
    ("any evening appointments next week?", DANIEL, "Wants to: book (evenings, next week)", "passed it on"),
    ("¿tienen algo el sábado por la mañana?", SOFIA, "Wants to: book (Sat, mornings)", "recepción"),
])
def test_when_no_slot_fits_a_person_is_asked_and_none_are_made_up(
        booking_clinic: Clinic, body: str, sender: str, wants: str, passed_on: str) -> None:
    text = one_text(booking_clinic, body, sender)
    assert passed_on in text and slots_in(text, "en") + slots_in(text, "es") == 0
    [ticket] = booking_clinic.tickets()
    assert ticket.status == "open" and ticket.booking is not None
    assert "no open slot fits" in ticket.booking["handed_to_human"]
    [card] = cards(booking_clinic)
    assert wants in card


# --- "Tuesday 2:30 works for me": accepting a slot we offered -----------------------------------------------------

@pytest.mark.parametrize(("ask", "pick", "sender", "slot_shown", "wants"), [
    ("hi can i get a botox appointment sometime this week?", "Tuesday 2:30 works for me", OLIVIA,
     "Tue 11/24 2:30 PM", "Wants to: book the offered slot Tue Nov 24 2:30 PM"),
    ("hi can i get a botox appointment sometime this week?", "the second one please", DANIEL,
     "Wed 11/25 10:00 AM", "Wants to: book the offered slot Wed Nov 25 10:00 AM"),
    ("Can I move my appointment to Wednesday?", "Wednesday 10am works", OLIVIA, "Wed 11/25 10:00 AM",
     "Wants to: move the appointment on Tue Dec 1 10:00 AM (the next one in the directory) "
     "to the offered slot Wed Nov 25 10:00 AM"),
    ("quiero una cita esta semana", "el martes a las 2:30 me sirve", SOFIA, "mar 24/11 14:30",
     "Wants to: book the offered slot Tue Nov 24 2:30 PM"),
    ("quiero una cita esta semana", "el primero", SOFIA, "mar 24/11 14:30",
     "Wants to: book the offered slot Tue Nov 24 2:30 PM"),
])
def test_picking_an_offered_slot_goes_to_a_person_to_book(
        booking_clinic: Clinic, ask: str, pick: str, sender: str, slot_shown: str, wants: str) -> None:
    offer = one_text(booking_clinic, ask, sender)
    assert slot_shown in offer
    booking_clinic.clock.advance(timedelta(minutes=7))
    reply = one_text(booking_clinic, pick, sender)
    # Told it is being confirmed, with the slot they picked, and not offered three new ones.
    assert ("confirming" in reply or "confirmando" in reply) and slot_shown in reply
    assert slots_in(reply, "en") + slots_in(reply, "es") == 1
    first, second = booking_clinic.tickets()
    assert first.status == "auto_resolved"
    assert second.category == "booking" and second.status == "open" and second.role == "front_desk"
    assert second.booking is not None and second.booking["offer_ticket"] == first.id
    assert second.booking["intent"] == "confirm" and second.booking["accepted"]
    assert second.first_response_at is None  # a person still has to book it and answer
    [card] = cards(booking_clinic)
    assert wants in card and f"#{second.id}" in card


def test_a_slot_that_was_not_offered_is_not_taken_as_picked(booking_clinic: Clinic) -> None:
    one_text(booking_clinic, "hi can i get a botox appointment sometime this week?", OLIVIA)
    booking_clinic.clock.advance(timedelta(minutes=3))
    reply = one_text(booking_clinic, "Friday 11am works for me", OLIVIA)
    assert "passed it on" in reply and "confirming" not in reply
    second = booking_clinic.tickets()[1]
    assert second.booking is not None and "accepted" not in second.booking
    assert second.booking["handed_to_human"] == "the time named is not one of the slots offered"
    [card] = cards(booking_clinic)
    assert "Wants to: book Fri Nov 27 11:00 AM" in card


def test_an_offer_older_than_a_week_is_not_picked_from(booking_clinic: Clinic) -> None:
    one_text(booking_clinic, "hi can i get a botox appointment sometime this week?", OLIVIA)
    booking_clinic.clock.advance(timedelta(days=8))
    reply = one_text(booking_clinic, "Tuesday 2:30 works for me", OLIVIA)
    assert "confirming" not in reply
    assert "offer_ticket" not in (booking_clinic.tickets()[1].booking or {})


# --- Running late, questions about an appointment, a named provider: a person answers ----------------------------

@pytest.mark.parametrize(("body", "sender", "intent", "wants", "passed_on"), [
    ("running 10 min late, sorry!", OLIVIA, "running_late",
     "Wants to: say they are running late for the appointment on Tue Dec 1 10:00 AM (the next one in the directory)",
     "passed it on"),
    ("stuck in traffic, be there in 10", DANIEL, "running_late", "Wants to: say they are running late", "passed"),
    ("perdón, voy a llegar unos 15 minutos tarde a mi cita", SOFIA, "running_late",
     "Wants to: say they are running late", "recepción"),
    ("what time is my appointment tomorrow?", OLIVIA, "existing_appointment_question",
     "Wants to: ask about the appointment on Wed Nov 25 (the directory has Tue Dec 1 10:00 AM)", "passed it on"),
    ("¿a qué hora es mi cita?", SOFIA, "existing_appointment_question", "Wants to: ask about an appointment",
     "recepción"),
    ("I'd like to book botox with Dr. Lee next week", DANIEL, "book_new",
     "Wants to: book botox (next week, with Dr. Lee)", "passed it on"),
])
def test_what_a_person_must_handle_is_passed_on(booking_clinic: Clinic, body: str, sender: str, intent: str,
                                                wants: str, passed_on: str) -> None:
    text = one_text(booking_clinic, body, sender)
    assert passed_on in text and slots_in(text, "en") + slots_in(text, "es") == 0
    [ticket] = booking_clinic.tickets()
    assert ticket.status == "open" and ticket.booking is not None and ticket.booking["intent"] == intent
    [card] = cards(booking_clinic)
    assert wants in card


# --- Point 11: a VIP after hours hears that their named human will answer -----------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ("Can I book a hydrafacial for next Friday afternoon?", "Jess will personally get back to you"),
    ("what are your hours on saturday?", "Jess will personally get back to you"),
    ("hola, ¿tienen algo el jueves por la tarde?", "Jess le responderá personalmente"),
])
def test_a_vip_after_hours_gets_an_acknowledgement_naming_their_human(
        booking_clinic: Clinic, body: str, expected: str) -> None:
    booking_clinic.clock.set(local(2026, 11, 24, 21, 15))
    text = one_text(booking_clinic, body, HARPER)
    assert expected in text and ("closed" in text or "cerrados" in text)
    [ticket] = booking_clinic.tickets()
    assert ticket.status == "open" and ticket.assignee == "jess"
    assert "after_hours_ack" in booking_clinic.events(ticket.id)
    assert ticket.first_response_at is None  # Jess's answer is the response, not this
    [card] = cards(booking_clinic)
    assert "Named human: Jess" in card


def test_a_vip_thanks_after_hours_gets_nothing_and_a_stranger_still_gets_slots(booking_clinic: Clinic) -> None:
    booking_clinic.clock.set(local(2026, 11, 24, 21, 15))
    booking_clinic.sms("thank you so much, Jess was amazing today!!", sender=HARPER)
    booking_clinic.deliver()
    assert booking_clinic.texts_to(HARPER) == []
    text = one_text(booking_clinic, "can I book a facial for Thursday?", STRANGER)
    assert "Thu 11/26 10:00 AM" in text


def test_a_vip_in_hours_gets_no_acknowledgement(booking_clinic: Clinic) -> None:
    booking_clinic.sms("Can I book a hydrafacial for next Friday afternoon?", sender=HARPER)
    booking_clinic.deliver()
    assert booking_clinic.texts_to(HARPER) == []
    # Jess sees what Harper wants, and no slots are held for her since the bot offered none.
    [card] = cards(booking_clinic)
    assert "Wants to: book hydrafacial (Fri, afternoons)" in card and "Named human: Jess" in card
    [ticket] = booking_clinic.tickets()
    assert ticket.booking is not None and "offered" not in ticket.booking


def test_a_vip_in_hours_spanish_move_shows_what_they_want(booking_clinic: Clinic) -> None:
    booking_clinic.sms("hola! necesito cambiar mi cita de láser para la próxima semana por favor", sender=HARPER)
    booking_clinic.deliver()
    assert booking_clinic.texts_to(HARPER) == []
    [card] = cards(booking_clinic)
    assert "Wants to: move an appointment (next week)" in card


# --- The reader on its own ---------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=TZ)


@pytest.mark.parametrize(("text", "language", "intent", "check"), [
    ("Tues doesn't work", "en", BookingIntent.BOOK_NEW, lambda p: p.excluded_weekdays == (1,) and not p.weekdays),
    ("I can't do Monday, anything Wednesday?", "en", BookingIntent.BOOK_NEW,
     lambda p: p.weekdays == (2,) and p.excluded_weekdays == (0,)),
    ("anything but Monday", "en", BookingIntent.BOOK_NEW, lambda p: p.excluded_weekdays == (0,)),
    ("cualquier día menos el lunes", "es", BookingIntent.BOOK_NEW, lambda p: p.excluded_weekdays == (0,)),
    ("¿no tienen nada el jueves?", "es", BookingIntent.BOOK_NEW, lambda p: p.weekdays == (3,)),
    ("mornings don't work for me, any afternoon next week?", "en", BookingIntent.BOOK_NEW,
     lambda p: p.parts_of_day == (PartOfDay.AFTERNOON,) and p.excluded_parts_of_day == (PartOfDay.MORNING,)
     and p.week == "next"),
    ("¿tienen algo mañana por la mañana?", "es", BookingIntent.BOOK_NEW,
     lambda p: p.parts_of_day == (PartOfDay.MORNING,) and [d.isoformat() for d in p.dates] == ["2026-11-25"]),
    ("perfecto, el miércoles a las 10 me queda bien", "es", BookingIntent.CONFIRM,
     lambda p: p.weekdays == (2,) and p.at == time(10)),
    ("quisiera una cita con la Dra. Lee para botox", "es", BookingIntent.BOOK_NEW,
     lambda p: p.provider_id == "dr-lee" and p.treatment == "botox"),
    ("running 10 min late", "en", BookingIntent.RUNNING_LATE, lambda p: not p.dates and p.at is None),
])
def test_the_reader(text: str, language: str, intent: BookingIntent, check: object) -> None:
    config = load_config(HERE / "data_clinic.yml")
    read = read_booking(text, language, NOW, TZ, config.staff)
    assert read.intent is intent
    assert callable(check) and check(read.preferences), read.preferences
