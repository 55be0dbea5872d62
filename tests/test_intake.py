"""Signed webhooks into the real app: what is accepted, what is refused, and that refusals write nothing."""

from __future__ import annotations

import json

from twilio.request_validator import RequestValidator

from tests.conftest import TWILIO_TOKEN, Clinic


def test_signed_sms_is_stored_and_becomes_a_ticket(clinic: Clinic) -> None:
    response = clinic.sms("why was i charged twice for my last visit??", sender="+1 (212) 555-0104")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Response>" in response.text
    [message] = clinic.inbound()
    assert message.sender == "+12125550104" and message.processed_at is not None
    [ticket] = clinic.tickets()
    assert ticket.category == "billing" and ticket.role == "billing" and ticket.status == "open"
    assert ticket.patient["name"] == "Daniel Kim" and ticket.patient["balance_cents"] == 48000
    assert clinic.events(ticket.id) == ["received", "matched", "classified", "routed"]


def test_duplicate_webhook_returns_2xx_and_creates_nothing(clinic: Clinic) -> None:
    first = clinic.sms("can someone explain this invoice", sid="SMdup1")
    again = clinic.sms("can someone explain this invoice", sid="SMdup1")
    assert first.status_code == again.status_code == 200
    assert len(clinic.inbound()) == 1
    assert len(clinic.tickets()) == 1


def test_bad_and_missing_signatures_are_refused_without_a_ticket(clinic: Clinic) -> None:
    bad = clinic.sms("hello", signature="bm90IGEgc2lnbmF0dXJl")
    assert bad.status_code == 403 and "does not match" in bad.json()["error"]
    missing = clinic.http.post("/inbound/sms", data={"MessageSid": "SM1", "From": "+12125550101", "Body": "x"})
    assert missing.status_code == 403 and "X-Twilio-Signature" in missing.json()["error"]
    assert clinic.inbound() == [] and clinic.tickets() == []


def test_signature_over_other_params_is_refused(clinic: Clinic) -> None:
    form = {"MessageSid": "SMx", "From": "+12125550101", "To": "+12125550000", "Body": "original"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{clinic.url}/inbound/sms", form)
    tampered = {**form, "Body": "tampered"}
    response = clinic.http.post("/inbound/sms", data=tampered, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert clinic.inbound() == []


def test_malformed_sms_requests_get_clear_4xx(clinic: Clinic) -> None:
    no_sid = clinic.sms("hi", sid="", extra={"MessageSid": ""})
    assert no_sid.status_code == 400 and "MessageSid" in no_sid.json()["error"]
    bad_from = clinic.sms("hi", sender="not-a-number")
    assert bad_from.status_code == 400 and "From" in bad_from.json()["error"]
    empty = clinic.sms("   ")
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    wrong_type = clinic.http.post("/inbound/sms", content=b'{"a":1}', headers={
        "Content-Type": "application/json", "X-Twilio-Signature": "x"})
    assert wrong_type.status_code == 415
    assert clinic.inbound() == [] and clinic.tickets() == []


def test_oversized_bodies_are_refused(clinic: Clinic) -> None:
    huge = clinic.sms("x" * 20_000)
    assert huge.status_code == 413 and "limit" in huge.json()["error"]
    big_web = clinic.web({"id": "f1", "message": "y" * 20_000, "email": "a@example.com"})
    assert big_web.status_code == 413
    assert clinic.inbound() == []


def test_mms_media_is_kept_as_references(clinic: Clinic) -> None:
    media = {"NumMedia": "2", "MediaUrl0": "https://api.twilio.test/m/ME1", "MediaContentType0": "image/jpeg",
             "MediaUrl1": "https://api.twilio.test/m/ME2", "MediaContentType1": "image/png"}
    assert clinic.sms("photo of my receipt, was I double charged?", extra=media).status_code == 200
    [message] = clinic.inbound()
    assert message.media == [
        {"url": "https://api.twilio.test/m/ME1", "content_type": "image/jpeg"},
        {"url": "https://api.twilio.test/m/ME2", "content_type": "image/png"},
    ]


def test_web_form_with_valid_hmac_is_accepted_once(clinic: Clinic) -> None:
    payload = {"id": "form-77", "message": "Is it safe to get botox while breastfeeding?", "name": "Ava",
               "email": "Ava.Stone@Example.com"}
    first = clinic.web(payload)
    assert first.status_code == 200 and first.json() == {"status": "accepted", "duplicate": False}
    again = clinic.web(payload)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    [message] = clinic.inbound()
    assert message.channel == "web" and message.sender == "ava.stone@example.com"
    [ticket] = clinic.tickets()
    assert ticket.category == "clinical" and ticket.role == "clinical"
    assert ticket.patient == {}  # not in the directory: a new patient
    assert clinic.events(ticket.id)[:2] == ["received", "matched"]


def test_web_form_refusals(clinic: Clinic) -> None:
    wrong_secret = clinic.web({"id": "f", "message": "hi", "email": "a@example.com"}, secret="other")
    assert wrong_secret.status_code == 403
    not_json = clinic.web(b"{not json")
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    no_message = clinic.web({"id": "f2", "email": "a@example.com"})
    assert no_message.status_code == 422 and "message" in no_message.json()["error"]
    no_contact = clinic.web({"id": "f3", "message": "hello"})
    assert no_contact.status_code == 422 and "email or a phone" in no_contact.json()["error"]
    bad_email = clinic.web({"id": "f4", "message": "hello", "email": "nope"})
    assert bad_email.status_code == 422
    unsigned = clinic.http.post("/inbound/web", content=json.dumps({"id": "f5"}),
                                headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 403
    assert clinic.inbound() == []


def test_healthz(clinic: Clinic) -> None:
    response = clinic.http.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_a_message_stored_before_a_crash_is_triaged_by_the_sweep(clinic: Clinic) -> None:
    # The process died between storing the message (the 2xx was already sent) and triaging it.
    from bot.storage.models import InboundMessageRow

    with clinic.service.db.transaction() as session:
        session.add(InboundMessageRow(channel="sms", provider_message_id="SMcrash1", sender="+12125550104",
                                      body="why was i charged twice?", media=[], received_at=clinic.clock.now()))
    assert clinic.tickets() == []
    assert clinic.service.sweep() == 1
    [ticket] = clinic.tickets()
    assert ticket.category == "billing" and clinic.inbound()[0].ticket_id == ticket.id
    assert clinic.service.sweep() == 0  # nothing left, nothing done twice
