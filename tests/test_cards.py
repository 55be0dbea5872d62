"""Cards by category, through the real path: signed webhooks in, Block Kit out to the Slack stand-in (issue 7, point 5).

Adverse and clinical cards lead with the patient's words, then the callback number, the recent visit and
provider, the photos, then the rest; billing leads with balance and invoice; the front desk with the
appointment. Photos are fetched from Twilio with the account's auth and uploaded into the card's thread.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from typing import Any

import pytest

from bot.outbox.queue import OutboxKind
from tests.conftest import TWILIO_TOKEN, Clinic, local
from tests.slack_clinic import DOCTOR, SlackClinic
from tests.standins import twilio_media_bytes

MEDIA_BASE = "https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages"


def body(card: dict[str, Any]) -> list[str]:
    """The card's body in order, one string per block: a quote, a line, or the fields joined by " | "."""
    found = []
    for block in card["blocks"][1:]:
        if block["type"] == "section" and "fields" in block:
            found.append(" | ".join(f["text"].replace("\n", ": ") for f in block["fields"]))
        elif block["type"] == "section" and not block["text"]["text"].startswith("<@"):
            found.append(block["text"]["text"])
    return found


def the_card(clinic: SlackClinic, channel: str) -> dict[str, Any]:
    [posted] = clinic.slack.messages(channel)
    current = clinic.slack.message(channel, posted["ts"])
    assert current is not None
    return current


def index_of(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines) if needle in line)


def media(*items: tuple[str, str]) -> dict[str, str]:
    form = {"NumMedia": str(len(items))}
    for i, (url, content_type) in enumerate(items):
        form[f"MediaUrl{i}"], form[f"MediaContentType{i}"] = url, content_type
    return form


def why(card: dict[str, Any]) -> str:
    return next(e["text"] for b in card["blocks"] if b["type"] == "context" for e in b["elements"]
                if e["text"].startswith("Why:"))


# --- adverse events and clinical questions: the words first ---------------------------------------------------

@pytest.mark.parametrize(("text", "sender", "name", "phone", "tier", "symptom"), [
    # the seen example: the card used to lead with lifetime value and balance, and had no callback number
    ("My upper lip is really swollen and hurts since the filler yesterday", "+12125550101", "Olivia Bennett",
     "+1 212-555-0101", "Gold", "swollen"),
    ("Tengo el labio muy hinchado y me duele desde ayer, me pusieron relleno", "+12125550103", "Sofía Ramírez",
     "+1 212-555-0103", "Gold", "hinchado"),
    ("My forehead is drooping 3 days after botox, is that normal?", "+12125550102", "Harper Collins",
     "+1 212-555-0102", "Platinum", "drooping"),
])
def test_an_adverse_event_card_leads_with_the_words_then_the_callback(
    slack_clinic: SlackClinic, text: str, sender: str, name: str, phone: str, tier: str, symptom: str,
) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    card = the_card(slack_clinic, "clinical")
    assert card["blocks"][0]["text"]["text"].startswith("🔴 Adverse event")
    lines = body(card)
    assert lines[0] == "> " + text  # the patient's words lead
    assert lines[1] == f"*Call back*: {phone} | *Patient*: {name}"
    assert lines[2] == "*Last visit*: " + lines[2].split(": ", 1)[1].split(" | ")[0] + " | *Provider*: Dr. Lee"
    rest = lines[3]
    assert f"*Tier*: {tier}" in rest and "*Lifetime value*" in rest and "*Balance*" in rest
    assert index_of(lines, "Lifetime value") > index_of(lines, "Call back") > index_of(lines, text[:10])
    # cues a nurse can use: the symptom, not "since", "after", "days", "desde"
    cues = why(card)
    assert cues.startswith(f"Why: “{symptom}”")  # the words, not the classifier's arithmetic
    assert "likelihood" not in cues and "cues:" not in cues
    for filler in ("“since”", "“after”", "“days”", "“desde”", "“since the”"):
        assert filler not in cues
    # the push text still carries nothing about the patient
    assert card["text"].endswith("Adverse event ticket #1") and phone not in card["text"]


@pytest.mark.parametrize(("text", "sender"), [
    ("Is it safe to get a facial while pregnant?", "+12125550101"),
    ("¿Puedo tomar ibuprofeno antes del relleno?", "+12125550103"),
])
def test_a_clinical_card_has_the_same_order(slack_clinic: SlackClinic, text: str, sender: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    lines = body(the_card(slack_clinic, "clinical"))
    assert lines[0] == "> " + text
    assert lines[1].startswith("*Call back*: +1 212-555-01")
    assert lines[2].startswith("*Last visit*: ") and "*Provider*: Dr. Lee" in lines[2]


@pytest.mark.clinic_yaml("privacy:\n  card_detail: initials\n")
def test_with_initials_only_the_callback_number_is_not_shown(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("My upper lip is really swollen and hurts since the filler yesterday", sender="+12125550101")
    slack_clinic.sms("Tengo el labio muy hinchado y me duele desde ayer", sender="+12125550103")
    slack_clinic.deliver()
    for card in slack_clinic.slack.messages("clinical"):
        shown = json.dumps(card["blocks"], ensure_ascii=False)
        assert "Call back" not in shown and "212" not in shown and "Lifetime value" not in shown
        lines = body(card)
        assert lines[0].startswith("> ")  # the words still lead
        assert lines[1] in ("*Patient*: O.B.", "*Patient*: S.R.") and lines[2] == "*Tier*: Gold"


@pytest.mark.clinic_yaml("privacy:\n  card_detail: none\n")
def test_with_no_detail_neither_callback_nor_photo_is_shown(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("my lip looks like this since the filler, it hurts", sender="+12125550101",
                     extra=media((f"{MEDIA_BASE}/MM1/Media/ME1", "image/jpeg")))
    slack_clinic.deliver()
    card = the_card(slack_clinic, "clinical")
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert "Call back" not in shown and "212" not in shown and "photo" not in shown.lower()
    assert slack_clinic.slack.files == {} and slack_clinic.slack.thread("clinical", card["ts"]) == []
    assert not [r for r in slack_clinic.twilio.requests if r.method == "GET"]  # nothing fetched either


# --- billing: balance and invoice first; front desk: the appointment first ------------------------------------

@pytest.mark.parametrize(("text", "sender", "first"), [
    ("Why was my card charged twice for the peel? Invoice 10234", "+12125550104",
     "*Balance*: $480.00 | *Invoice*: 10234"),
    ("Me cobraron dos veces, factura #A-5531", "+12125550103", "*Balance*: $120.00 | *Invoice*: A-5531"),
    ("I was billed $480 but my balance should be zero", "+12125550104", "*Balance*: $480.00"),
])
def test_a_billing_card_leads_with_balance_and_invoice(slack_clinic: SlackClinic, text: str, sender: str,
                                                        first: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    lines = body(the_card(slack_clinic, "billing"))
    assert lines[0] == first
    assert lines[1] == "> " + text
    assert "*Patient*" in lines[2] and "*Call back*" in lines[2]


@pytest.mark.parametrize("text", ["Do you sell gift cards?", "¿Venden tarjetas de regalo?",
                                  "Do you offer laser hair removal?"])
def test_a_front_desk_card_leads_with_the_appointment(slack_clinic: SlackClinic, text: str) -> None:
    slack_clinic.sms(text, sender="+12125550101")  # Olivia: next appointment Tue Dec 1, 10:00
    slack_clinic.deliver()
    lines = body(the_card(slack_clinic, "front-desk"))
    assert lines[0] == "*Next appointment*: Tue Dec 01 10:00"
    assert lines[1] == "> " + text
    assert "*Patient*: Olivia Bennett" in lines[2] and "*Tier*: Gold" in lines[2]


# --- photos: fetched with Twilio's auth, uploaded into the card's thread, never a link --------------------------

def _photo_files(clinic: SlackClinic, channel: str, ts: str) -> list[dict[str, Any]]:
    return [f for f in clinic.slack.files.values() if f.get("channel") == channel and f.get("thread_ts") == ts]


@pytest.mark.parametrize(("first", "sender"), [
    ("my lip looks like this since the filler yesterday, it hurts", "+12125550101"),
    ("Mire, así tengo el labio hinchado desde ayer", "+12125550103"),
])
def test_a_photo_goes_into_the_cards_thread_and_a_photo_only_follow_up_is_not_blank(
    slack_clinic: SlackClinic, first: str, sender: str,
) -> None:
    one, two = f"{MEDIA_BASE}/MM1/Media/ME1", f"{MEDIA_BASE}/MM2/Media/ME2"
    slack_clinic.sms(first, sender=sender, extra=media((one, "image/jpeg")))
    slack_clinic.deliver()
    card = the_card(slack_clinic, "clinical")
    assert "📷 1 photo from the patient, in the thread of the card in #clinical" in body(card)
    [photo] = _photo_files(slack_clinic, "clinical", card["ts"])
    assert photo["title"] == "Photo 1 from the patient (ticket #1)" and photo["name"] == "ticket-1-photo-1.jpg"
    assert slack_clinic.slack.uploads[photo["id"]] == twilio_media_bytes("/2010-04-01/Accounts/ACtest/Messages/"
                                                                         "MM1/Media/ME1")
    # fetched from Twilio's API base (here the stand-in) with HTTP basic auth: account SID and auth token
    [fetch] = [r for r in slack_clinic.twilio.requests if r.method == "GET"]
    assert fetch.path == "/2010-04-01/Accounts/ACtest/Messages/MM1/Media/ME1"
    assert fetch.headers["authorization"] == "Basic " + base64.b64encode(f"ACtest:{TWILIO_TOKEN}".encode()).decode()
    # the photo is in the thread of the role's card, not in the page DM, and no link to it went anywhere
    assert [r.get("subtype") for r in slack_clinic.slack.thread("clinical", card["ts"])] == ["file_share"]
    assert all(f.get("channel") == "clinical" for f in slack_clinic.slack.files.values())
    assert "api.twilio.com" not in json.dumps([c.args for c in slack_clinic.slack.calls()])
    assert len(slack_clinic.slack.messages(DOCTOR)) == 1

    slack_clinic.sms("", sender=sender, extra=media((two, "image/png")))  # a photo and no words
    slack_clinic.deliver()
    card = the_card(slack_clinic, "clinical")
    quote = body(card)[0]
    assert quote.endswith("> 📷 Photo (in the thread)")  # not a blank quote
    assert "📷 2 photos from the patient, in the thread of the card in #clinical" in body(card)
    files = _photo_files(slack_clinic, "clinical", card["ts"])
    assert [f["name"] for f in files] == ["ticket-1-photo-1.jpg", "ticket-1-photo-2.jpg"]  # as Twilio served them
    slack_clinic.deliver()
    assert len(slack_clinic.slack.files) == 2  # each photo once, however often the card changes


def test_two_photos_in_one_message(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("", sender="+12125550101", extra=media((f"{MEDIA_BASE}/MM3/Media/ME1", "image/jpeg"),
                                                            (f"{MEDIA_BASE}/MM3/Media/ME2", "image/jpeg")))
    slack_clinic.deliver()
    [channel] = [c for c in ("front-desk", "clinical", "billing") if slack_clinic.slack.messages(c)]
    card = the_card(slack_clinic, channel)
    assert "> 📷 2 photos (in the thread)" in body(card)
    assert len(_photo_files(slack_clinic, channel, card["ts"])) == 2


def test_a_media_url_of_another_host_or_account_is_never_fetched(slack_clinic: SlackClinic) -> None:
    from bot.outbox.errors import DeliveryError
    from integrations.twilio_media import TwilioMedia

    fetcher = TwilioMedia("ACtest", TWILIO_TOKEN, slack_clinic.twilio.url)
    for url in ("https://evil.example/2010-04-01/Accounts/ACother/Messages/MM1/Media/ME1",
                "https://api.twilio.com/2010-04-01/Accounts/ACother/Messages/MM1/Media/ME1",
                "https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages.json"):
        with pytest.raises(DeliveryError):
            fetcher.fetch(url)
    assert slack_clinic.twilio.requests == []
    # a URL of this account on any host is fetched from the configured base only
    elsewhere = MEDIA_BASE.replace("api.twilio.com", "elsewhere.example")
    assert fetcher.fetch(f"{elsewhere}/MM9/Media/ME9").content_type == "image/jpeg"
    assert slack_clinic.twilio.requests[0].path.endswith("/MM9/Media/ME9")


# --- the web form: name, phone and email are all kept -------------------------------------------------------------

@pytest.mark.parametrize(("form", "shown"), [
    # the seen example: with an email, the name and the phone were dropped
    ({"id": "f-1", "message": "My lips are swollen and hurt since the filler yesterday", "name": "Ana Torres",
      "email": "Ana.Torres@Example.com", "phone": "(212) 555-0177"},
     ["Patient: Ana Torres (new, not in the directory)", "Call back: +1 212-555-0177",
      "Email: ana.torres@example.com"]),
    ({"id": "f-2", "message": "Tengo la cara hinchada y me arde desde ayer", "name": "José Pérez",
      "email": "jose@example.com", "phone": "212 555 0178"},
     ["Patient: José Pérez (new, not in the directory)", "Call back: +1 212-555-0178", "Email: jose@example.com"]),
    # a known patient's email with another number: the number they gave now is the one to call
    ({"id": "f-3", "message": "my lip is swollen and sore since the filler", "name": "Liv Bennett",
      "email": "olivia@example.com", "phone": "+1 212 555 0188"},
     ["Patient: Olivia Bennett", "Name given: Liv Bennett", "Call back: +1 212-555-0188",
      "Email: olivia@example.com"]),
])
def test_a_web_form_keeps_name_phone_and_email(clinic: Clinic, form: dict[str, str], shown: list[str]) -> None:
    assert clinic.web(form).status_code == 200
    clinic.deliver()
    [message] = clinic.inbound()
    assert message.sender == form["email"].lower()  # the reply address
    assert message.sender_name == form["name"]
    assert message.sender_email == form["email"].lower() and message.sender_phone.startswith("+1212555")
    [card] = [text for channel, text in clinic.poster.posts if channel == "clinical"]
    for line in shown:
        assert line in card, line


def test_a_web_form_reply_still_goes_by_email(clinic: Clinic) -> None:
    clinic.web({"id": "f-4", "message": "what are your hours?", "name": "Ana Torres", "email": "ana@example.com",
                "phone": "(212) 555-0177"})
    clinic.web({"id": "f-5", "message": "¿cuál es su horario?", "name": "José Pérez", "phone": "212 555 0178"})
    clinic.deliver()
    assert [(r.kind, r.target) for r in clinic.outbox() if r.kind.startswith("reply.")] == [
        (OutboxKind.REPLY_EMAIL, "ana@example.com"), (OutboxKind.REPLY_SMS, "+12125550178")]
    assert clinic.texts_to("+12125550177") == []  # the phone given beside an email is for staff, not for replies


# --- point 11: a delivery failure says what failed, never the vendor's text ----------------------------------------

def test_a_refused_number_alert_names_the_failure_not_twilios_text(clinic: Clinic) -> None:
    from tests.standins import Answer

    vendor = "The 'To' number +12125550199 is not a valid phone number."
    clinic.twilio.script.append(Answer(400, {"code": 21211, "message": vendor}))
    clinic.sms("what are your hours?", sender="+12125550199")
    clinic.deliver()
    clinic.deliver()  # the alert and the card the failure queued
    [alert] = [text for channel, text in clinic.poster.posts if channel == "managers"]
    assert alert == "⚠️ Delivery failed: reply.sms for ticket #1 after 1 try: the SMS provider refused the number."
    [card] = [text for channel, text in clinic.poster.posts if channel == "front-desk"]
    assert "⚠️ A reply could not be delivered: the SMS provider refused the number." in card
    for text in (alert, card):
        assert "21211" not in text and "not a valid" not in text
    assert "5550199" not in alert
    # the vendor's text is kept where staff with access look: the outbox row and the audit log
    [reply] = clinic.outbox("reply.sms")
    assert "21211" in reply.last_error and vendor[:20] in reply.last_error


def test_an_unreachable_provider_and_a_missing_transport_are_named(clinic: Clinic) -> None:
    from datetime import timedelta

    from tests.standins import Answer

    clinic.twilio.script.extend(Answer(503, {"message": "Service unavailable for +12125550199"}) for _ in range(6))
    clinic.sms("¿cuál es su horario?", sender="+12125550199")
    clinic.web({"id": "f-6", "message": "what are your hours?", "email": "someone@example.com"})
    for _ in range(8):
        clinic.deliver()
        clinic.clock.advance(timedelta(hours=3))
    alerts = sorted(text for channel, text in clinic.poster.posts if channel == "managers")
    assert alerts == [
        "⚠️ Delivery failed: reply.email for ticket #2 after 1 try: email sending is not set up.",
        "⚠️ Delivery failed: reply.sms for ticket #1 after 6 tries: the SMS provider was unreachable.",
    ]


# --- point 9: words --------------------------------------------------------------------------------------------------

def test_durations_on_cards_read_as_words(slack_clinic: SlackClinic) -> None:
    from handlers.jobs import Jobs

    slack_clinic.sms("why was i charged $480 twice?? i paid at checkout", sender="+12125550104")  # due 11:00
    slack_clinic.deliver()
    slack_clinic.clock.set(local(2026, 11, 24, 12, 48))
    Jobs(slack_clinic.service).sweep_sla()
    slack_clinic.deliver()
    assert "SLA: overdue by 1 h 48 min" in json.dumps(the_card(slack_clinic, "billing")["blocks"],
                                                      ensure_ascii=False)


@pytest.mark.parametrize(("when", "expected"), [
    # open, and due before closing: no closure note (the bug: "clinic closed until then" while open)
    (local(2026, 11, 24, 10, 30), "SLA: due in 30 min"),
    # open but closing before the due time
    (local(2026, 11, 24, 16, 50), "SLA: due Wed 09:20 (clinic closes 17:00, reopens Wed 09:00)"),
    # closed now
    (local(2026, 11, 24, 20, 0), "SLA: due Wed 09:30 (clinic closed until Wed 09:00)"),
    (local(2026, 11, 28, 11, 0), "SLA: due Mon 09:30 (clinic closed until Mon 09:00)"),  # a Saturday
])
def test_the_closed_note_only_when_the_clinic_is_closed(slack_clinic: SlackClinic, when: Any, expected: str) -> None:
    slack_clinic.clock.set(when)
    slack_clinic.sms("why was i charged $480 twice?? i paid at checkout", sender="+12125550104")
    slack_clinic.deliver()
    shown = json.dumps(the_card(slack_clinic, "billing")["blocks"], ensure_ascii=False)
    assert expected in shown
    if "due in" in expected:
        assert "closed" not in shown


def test_the_spanish_after_hours_acknowledgement_speaks_of_a_health_professional(clinic: Clinic) -> None:
    clinic.clock.set(local(2026, 11, 24, 21, 0))
    clinic.sms("¿Puedo tomar ibuprofeno antes del relleno?", sender="+12125550103")
    clinic.sms("Is it safe to get a facial while pregnant?", sender="+12125550101")
    clinic.deliver()
    [spanish] = clinic.texts_to("+12125550103")
    assert "un profesional de la salud" in spanish and "proveedor" not in spanish
    [english] = clinic.texts_to("+12125550101")
    assert "We are closed right now" in english


def test_no_patient_facing_spanish_text_says_proveedor() -> None:
    from pathlib import Path

    from bot.config.loader import load_config
    from bot.config.models import Templates

    demo = load_config(Path(__file__).parents[1] / "bot" / "demo" / "clinic.yml")
    texts = [demo.templates, Templates()]
    spanish = [t.booking_reply["es"] for t in texts] + [t.after_hours_ack["es"] for t in texts]
    spanish += [text for t in texts for text in t.staff_replies.get("es", {}).values()]
    spanish += [entry.answer["es"] for entry in demo.faq if "es" in entry.answer]
    assert len(spanish) >= 10
    for text in spanish:
        assert "proveedor" not in text.lower(), text


def test_safety_reasons_read_as_words_on_the_card() -> None:
    from bot.cards.build import card_reasons

    assert card_reasons([
        "cues: “swollen”, “filler”", "safety: current symptom reported ('swelling')",
        "safety: adverse-event likelihood 0.34 ≥ 0.22", "safety: medical likelihood 0.41 ≥ 0.3",
        "safety: provider question ('antibiotics'), medical likelihood 0.12", "something new",
    ]) == (
        "“swollen”, “filler”", "reports a current symptom (“swelling”)",
        "paged to be safe: it may be an adverse event", "sent to clinical to be safe: it may be a medical question",
        "a question for a provider (“antibiotics”)", "something new",
    )


@pytest.mark.parametrize(("text", "shown", "not_shown"), [
    ("My forehead is drooping 3 days after botox, is that normal?", ["drooping", "botox"],
     ["after", "days", "normal"]),
    ("me pusieron relleno el jueves y desde ayer tengo el labio hinchado y morado", ["hinchado", "morado"],
     ["desde", "ayer", "jueves"]),
    ("when can I work out after microneedling? no redness or anything", ["microneedling"],
     ["redness", "after", "anything"]),
    ("ya no tengo hinchazón pero quiero saber cuándo puedo hacer ejercicio", ["ejercicio"],
     ["hinchazón", "pero", "quiero saber"]),
    # shown as the patient wrote them, accents included
    ("hola! necesito cambiar mi cita de láser para la próxima semana por favor", ["láser", "próxima"],
     ["laser", "proxima", "semana"]),
])
def test_cues_are_phrases_a_nurse_can_use(text: str, shown: list[str], not_shown: list[str]) -> None:
    from bot.classify.model import default_model

    [cues] = [r for r in default_model().classify(text).reasons if r.startswith("cues: ")]
    for phrase in shown:
        assert f"“{phrase}”" in cues, cues
    for phrase in not_shown:
        assert f"“{phrase}”" not in cues, cues


def test_a_photo_twilio_will_not_hand_over_is_noted_without_its_text(slack_clinic: SlackClinic) -> None:
    from tests.standins import Answer

    slack_clinic.twilio.by_path["/Media/"] = deque(
        [Answer(404, {"code": 20404, "message": "Media ME1 for +12125550101 not found"})])
    slack_clinic.sms("mi labio está así desde ayer, me duele", sender="+12125550103",
                     extra=media((f"{MEDIA_BASE}/MM1/Media/ME1", "image/jpeg")))
    slack_clinic.deliver()
    slack_clinic.deliver()
    card = json.dumps(the_card(slack_clinic, "clinical")["blocks"], ensure_ascii=False)
    assert "⚠️ A photo from the patient could not be shown: the photo transfer refused it." in card
    [alert] = slack_clinic.slack.messages("managers")
    assert alert["text"] == ("⚠️ Delivery failed: chat.media for ticket #1 after 1 try: "
                             "the photo transfer refused it.")
    assert "20404" not in card + alert["text"] and "5550101" not in card + alert["text"]
    assert slack_clinic.slack.files == {}
