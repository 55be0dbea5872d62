"""Instagram and Facebook Messenger DMs end to end: signed Meta deliveries into the real app on a loopback port,
triage, and replies through a local Send API stand-in inside (and outside) Meta's messaging window."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config.loader import load_config
from bot.domain import Role
from bot.flows.actions import Actor, TicketActions
from bot.flows.dm_window import DmContext
from bot.outbox.errors import DeliveryError
from bot.settings import MetaSettings, TwilioSettings
from bot.storage.models import TicketEventRow
from handlers.doctor.meta import check_meta
from handlers.doctor.report import Status
from handlers.logs import redact_text
from handlers.meta import sign
from handlers.wiring import patient_messengers
from integrations.email_smtp import SmtpSettings
from integrations.meta import messaging_fields
from tests.conftest import HERE, Clinic
from tests.meta_standin import (
    APP_SECRET,
    IG_ACCOUNT_ID,
    PAGE_ID,
    PAGE_TOKEN,
    VERIFY_TOKEN,
    MetaClinic,
    SendApi,
    delivery,
    meta_settings,
    running_meta_clinic,
    text_event,
)

AVA, BEN, CARA = "2900000000000001", "2900000000000002", "6400000000000003"
BILLING = "why was I charged twice for my last visit??"
JESS = Actor(id="jess", name="Jess", roles=frozenset(Role), staff_id="jess")


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaClinic]:
    with running_meta_clinic(tmp_path, load_config(HERE / "data_clinic.yml")) as running:
        yield running


def staff_reply(meta: MetaClinic, ticket_id: int, text: str, submission: str = "s-1") -> None:
    clinic = meta.clinic
    outcome = TicketActions(clinic.service.db, clinic.service.config, clinic.clock).reply(
        ticket_id, JESS, text, submission_id=submission)
    assert outcome.ok, outcome.notice


def failed_reasons(clinic: Clinic, ticket_id: int) -> list[str]:
    with clinic.service.db.transaction() as session:
        return [str(e.data.get("reason")) for e in session.query(TicketEventRow).filter_by(
            ticket_id=ticket_id, kind="delivery_failed")]


# --- the handshake ------------------------------------------------------------------------------------------------

def test_the_handshake_answers_the_challenge_as_text(meta: MetaClinic) -> None:
    response = meta.clinic.http.get("/inbound/meta", params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert (response.status_code, response.text) == (200, "1158201444")
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(("params", "status", "reason"), [
    ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, 403, "does not match"),
    ({"hub.mode": "subscribe", "hub.verify_token": "tëst-☃", "hub.challenge": "1"}, 403, "does not match"),
    ({"hub.mode": "subscribe", "hub.challenge": "1"}, 400, "required"),
    ({}, 400, "required"),
    ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, 400, "subscribe"),
    ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "<script>"}, 400, "challenge"),
])
def test_a_wrong_or_incomplete_handshake_is_refused(meta: MetaClinic, params: dict[str, str], status: int,
                                                    reason: str) -> None:
    response = meta.clinic.http.get("/inbound/meta", params=params)
    assert response.status_code == status and reason in response.json()["error"]


def test_without_meta_settings_both_methods_say_what_is_missing(clinic: Clinic) -> None:
    get = clinic.http.get("/inbound/meta", params={"hub.mode": "subscribe", "hub.verify_token": "x",
                                                    "hub.challenge": "1"})
    body = json.dumps(delivery([text_event(AVA, "hi")])).encode()
    post = clinic.http.post("/inbound/meta", content=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)})
    assert (get.status_code, post.status_code) == (403, 403)
    assert "META_VERIFY_TOKEN" in get.json()["error"] and "META_APP_SECRET" in post.json()["error"]
    assert clinic.inbound() == []


# --- refused deliveries -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("signature", [
    "",  # no header
    "sha256=" + "0" * 64,
    sign("another-app-secret", b"x"),
    "sha1=abc",
    "sha256=zz",
    "sha256=ünïcode".encode(),
])
def test_a_missing_or_bad_signature_is_401_and_stores_nothing(meta: MetaClinic, signature: str | bytes) -> None:
    response = meta.post(delivery([text_event(AVA, "what are your hours?")]), signature=signature)
    assert response.status_code == 401 and "X-Hub-Signature-256" in response.json()["error"]
    assert meta.clinic.inbound() == []


def test_a_signature_over_another_body_is_refused(meta: MetaClinic) -> None:
    body = json.dumps(delivery([text_event(AVA, "hello")])).encode()
    response = meta.post(body.replace(b"hello", b"hijack"), signature=sign(APP_SECRET, body))
    assert response.status_code == 401 and meta.clinic.inbound() == []


def test_an_oversized_delivery_is_413(meta: MetaClinic) -> None:
    response = meta.post(delivery([text_event(AVA, "x" * 20_000)]))
    assert response.status_code == 413 and "limit" in response.json()["error"]
    assert meta.clinic.inbound() == []


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b'{"object": "page", "entry": [NaN]}', "not valid JSON"),
    (b"\xff\xfe", "UTF-8"),
    (b"[]", "JSON object"),
    (json.dumps({"object": "whatsapp_business_account", "entry": []}).encode(), "object"),
    (json.dumps({"object": "page"}).encode(), "entry"),
    (json.dumps({"object": "page", "entry": [{"messaging": {"x": 1}}]}).encode(), "entry[0].messaging"),
    (json.dumps(delivery([{**text_event(AVA, "hi"), "sender": {"id": "+12125550101"}}])).encode(), "sender.id"),
    (json.dumps(delivery([{**text_event(AVA, "hi"), "recipient": {}}])).encode(), "recipient.id"),
    (json.dumps(delivery([{**text_event(AVA, "hi"), "message": {"text": "no mid"}}])).encode(), "mid"),
    (json.dumps(delivery([{**text_event(AVA, "hi"), "message": {"mid": "m_1", "text": 7}}])).encode(), "text"),
    (json.dumps(delivery([text_event(AVA, "a\x00b")])).encode(), "NUL"),
    (json.dumps(delivery([text_event(AVA, "", attachments=[
        {"type": "image", "payload": {"url": "javascript:alert(1)"}}])])).encode(), "payload.url"),
    (json.dumps(delivery([text_event(AVA, "", attachments=[{"payload": {}}])])).encode(), "type"),
])
def test_a_malformed_delivery_is_400_with_the_reason_and_stores_nothing(meta: MetaClinic, body: bytes,
                                                                        reason: str) -> None:
    response = meta.post(body)
    assert response.status_code == 400 and reason in response.json()["error"], response.text
    assert meta.clinic.inbound() == []


def test_one_bad_message_refuses_the_whole_delivery(meta: MetaClinic) -> None:
    """Meta sends the delivery again: storing its good half now would only make the retry look partial."""
    good, bad = text_event(AVA, "what are your hours?"), {**text_event(BEN, "hi"), "sender": {"id": "x"}}
    assert meta.post(delivery([good, bad])).status_code == 400
    assert meta.clinic.inbound() == []


def test_a_wrong_content_type_is_415(meta: MetaClinic) -> None:
    assert meta.post(delivery([text_event(AVA, "hi")]), headers={"Content-Type": "text/plain"}).status_code == 415
    assert meta.clinic.inbound() == []


# --- accepted deliveries ------------------------------------------------------------------------------------------

def test_two_entries_with_three_messages_become_three_tickets_once(meta: MetaClinic) -> None:
    clinic = meta.clinic
    body = delivery([text_event(AVA, "what are your hours?", mid="m_ava1"),
                     text_event(BEN, BILLING, mid="m_ben1")],
                    [text_event(CARA, "do you do lip filler? how much is it", mid="m_cara1", to=IG_ACCOUNT_ID)])
    body["entry"][1]["id"] = IG_ACCOUNT_ID
    response = meta.post(body)
    assert response.status_code == 200 and response.json() == {"status": "accepted", "messages": 3,
                                                                "duplicates": 0}
    stored = clinic.inbound()
    assert [(m.channel, m.sender, m.provider_message_id, m.recipient) for m in stored] == [
        ("dm", AVA, "m_ava1", f"messenger:{PAGE_ID}"), ("dm", BEN, "m_ben1", f"messenger:{PAGE_ID}"),
        ("dm", CARA, "m_cara1", f"messenger:{IG_ACCOUNT_ID}")]
    assert all(m.processed_at is None for m in stored)  # answered before triage: it runs off the request path
    assert clinic.triage() == 3
    tickets = clinic.tickets()
    assert [(t.channel, t.sender) for t in tickets] == [("dm", AVA), ("dm", BEN), ("dm", CARA)]
    assert tickets[1].category == "billing"
    # Meta delivers again (it did not hear our 200): absorbed.
    again = meta.post(body)
    assert again.status_code == 200 and again.json()["duplicates"] == 3
    assert len(clinic.inbound()) == 3 and clinic.triage() == 0 and len(clinic.tickets()) == 3


def test_an_instagram_delivery_keeps_its_platform(meta: MetaClinic) -> None:
    body = delivery([text_event(CARA, "hola, ¿cuál es su horario?", to=IG_ACCOUNT_ID)], kind="instagram",
                    account=IG_ACCOUNT_ID)
    assert meta.post(body).status_code == 200
    [message] = meta.clinic.inbound()
    assert message.recipient == f"instagram:{IG_ACCOUNT_ID}"


def test_a_long_instagram_message_id_is_stored_by_its_digest_and_still_once(meta: MetaClinic) -> None:
    mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1NjE5NTk1NTcyOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTg0Mj" * 2
    body = delivery([text_event(CARA, "hi there", mid=mid)], kind="instagram")
    assert meta.post(body).status_code == 200 and meta.post(body).json()["duplicates"] == 1
    [message] = meta.clinic.inbound()
    assert message.provider_message_id.startswith("sha256:") and len(message.provider_message_id) <= 128


def test_echoes_receipts_and_reactions_are_answered_and_ignored(meta: MetaClinic) -> None:
    receipts: list[dict[str, Any]] = [
        text_event(AVA, "Open weekdays 9 to 5.", echo=True),
        {"sender": {"id": AVA}, "recipient": {"id": PAGE_ID}, "timestamp": 1, "read": {"watermark": 1}},
        {"sender": {"id": AVA}, "recipient": {"id": PAGE_ID}, "timestamp": 1,
         "delivery": {"mids": ["m_1"], "watermark": 1}},
        {"sender": {"id": AVA}, "recipient": {"id": PAGE_ID}, "timestamp": 1,
         "reaction": {"mid": "m_1", "action": "react", "emoji": "❤️", "reaction": "love"}},
        {"sender": {"id": AVA}, "recipient": {"id": PAGE_ID}, "timestamp": 1,
         "message": {"mid": "m_gone", "is_deleted": True}},
        {"sender": {"id": AVA}, "recipient": {"id": PAGE_ID}, "timestamp": 1,
         "postback": {"title": "Get started", "payload": "GET_STARTED"}},
    ]
    response = meta.post(delivery(receipts))
    assert response.status_code == 200 and response.json()["messages"] == 0
    assert meta.post({"object": "instagram", "entry": [{"id": IG_ACCOUNT_ID, "changes": [{"field": "comments"}]}]}
                     ).status_code == 200
    assert meta.clinic.inbound() == []


def test_an_attachment_is_kept_as_a_reference_and_never_fetched(meta: MetaClinic) -> None:
    clinic = meta.clinic
    url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1790&signature=abc"
    meta.dm("my lip is swollen since the filler yesterday, photo attached", psid=AVA,
            attachments=[{"type": "image", "payload": {"url": url}},
                         {"type": "location", "payload": {"coordinates": {"lat": 1, "long": 2}}}])
    [message] = clinic.inbound()
    assert message.media == [{"url": url, "content_type": "", "type": "image", "source": "meta"}]
    clinic.deliver()
    assert clinic.outbox("chat.media") == []  # nothing tries to download it into the card's thread
    cards = [text for _, text in clinic.poster.posts if "lip is swollen" in text]
    assert cards and "📎 1 attachment in the DM" in cards[0]
    assert meta.send_api.sends == [] or all(url not in r.body.decode() for r in meta.send_api.sends)


def test_an_attachment_alone_is_a_message(meta: MetaClinic) -> None:
    meta.dm("", psid=BEN, attachments=[{"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/1.jpg"}}])
    [ticket] = meta.clinic.tickets()
    assert ticket.channel == "dm"


# --- replies ------------------------------------------------------------------------------------------------------

def test_a_question_by_dm_is_answered_by_dm_within_the_window(meta: MetaClinic) -> None:
    clinic = meta.clinic
    meta.dm("what are your hours?", psid=AVA)
    clinic.deliver()
    [ticket] = clinic.tickets()
    assert (ticket.category, ticket.status) == ("faq", "auto_resolved")
    [sent] = meta.send_api.sent_to(AVA)
    assert sent["messaging_type"] == "RESPONSE" and "tag" not in sent
    assert sent["recipient"] == {"id": AVA} and sent["message"]["text"].startswith("Open weekdays 9 to 5.")
    [request] = meta.send_api.sends
    assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert request.path == "/v21.0/me/messages"
    [reply] = clinic.outbox("reply.dm")
    assert reply.status == "sent" and reply.result["provider_id"].startswith("m_standin")
    assert "reply_sent" in clinic.events(ticket.id)
    assert clinic.texts_to(AVA) == []  # nothing went out by any other channel


def test_a_staff_reply_three_days_later_goes_with_the_human_agent_tag(meta: MetaClinic) -> None:
    clinic = meta.clinic
    meta.dm(BILLING, psid=BEN)
    clinic.deliver()
    [ticket] = clinic.tickets()
    assert ticket.category == "billing" and meta.send_api.sent_to(BEN) == []
    clinic.clock.advance(timedelta(days=3))
    staff_reply(meta, ticket.id, "We refunded the second charge, sorry about that.")
    clinic.deliver()
    [sent] = meta.send_api.sent_to(BEN)
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert clinic.outbox("reply.dm")[0].status == "sent"


def test_a_staff_reply_eight_days_later_fails_visibly(meta: MetaClinic) -> None:
    clinic = meta.clinic
    meta.dm(BILLING, psid=BEN)
    clinic.deliver()
    [ticket] = clinic.tickets()
    clinic.clock.advance(timedelta(days=8))
    staff_reply(meta, ticket.id, "Sorry for the wait, we refunded it.")
    clinic.deliver()
    clinic.deliver()  # the card update and the managers' alert the failure queued
    [reply] = clinic.outbox("reply.dm")
    assert reply.status == "failed" and reply.attempts == 1  # permanent: not retried into a closed window
    assert meta.send_api.sent_to(BEN) == []  # never sent for Meta to refuse
    [reason] = failed_reasons(clinic, ticket.id)
    assert "last wrote 8 days ago" in reason and "reach the patient another way" in reason
    note = ("A reply could not be delivered: Meta's reply window has closed (the patient last wrote 8 days ago): "
            "reach the patient another way.")
    assert any(note in text for _, text in clinic.poster.updates), clinic.poster.updates
    alerts = [text for channel, text in clinic.poster.posts if "Delivery failed: reply.dm" in text]
    assert alerts and "reach the patient another way" in alerts[0]


def test_the_bots_own_reply_after_a_day_is_not_tagged_as_a_person(meta: MetaClinic) -> None:
    """An automatic answer that could only leave a day late (Meta was down): the human-agent tag is for people,
    so it fails, and the ticket goes back to a human, who may still answer with the tag."""
    clinic = meta.clinic
    meta.dm("what are your hours?", psid=AVA)
    clinic.clock.advance(timedelta(hours=30))
    clinic.deliver()
    clinic.deliver()
    [reply] = clinic.outbox("reply.dm")
    assert reply.status == "failed" and meta.send_api.sent_to(AVA) == []
    [ticket] = clinic.tickets()
    assert ticket.status == "open"
    assert "last wrote 30 hours ago" in failed_reasons(clinic, ticket.id)[0]
    assert any("for the bot's replies: a staff reply from the card can still go within 7 days" in text
               for _, text in clinic.poster.posts)  # the card posted again for a human says so
    staff_reply(meta, ticket.id, "We are open weekdays 9 to 5.")
    clinic.deliver()
    [sent] = meta.send_api.sent_to(AVA)
    assert sent["tag"] == "HUMAN_AGENT"


@pytest.mark.parametrize(("code", "subcode"), [(10, 2018278), (100, 2018109), (10, None)])
def test_metas_own_window_refusal_fails_with_the_same_note(meta: MetaClinic, code: int, subcode: int | None) -> None:
    clinic = meta.clinic
    meta.send_api.fail_next(400, code, subcode, message="(#10) This message is sent outside of allowed window.")
    meta.dm("what are your hours?", psid=AVA)
    clinic.deliver()
    clinic.deliver()
    [reply] = clinic.outbox("reply.dm")
    assert reply.status == "failed" and "outside of allowed window" not in reply.last_error  # Meta's words stay out
    assert any("Meta's reply window has closed: reach the patient another way" in text
               for _, text in clinic.poster.posts + clinic.poster.updates)


def test_a_refused_page_token_says_which_setting_to_check(meta: MetaClinic) -> None:
    clinic = meta.clinic
    meta.send_api.fail_next(401, 190, message="Error validating access token")
    meta.dm("what are your hours?", psid=AVA)
    clinic.deliver()
    clinic.deliver()
    [reply] = clinic.outbox("reply.dm")
    assert reply.status == "failed" and reply.attempts == 1
    assert any("check META_PAGE_TOKEN" in text for _, text in clinic.poster.posts)


@pytest.mark.parametrize(("status", "code"), [(429, None), (400, 613), (400, 4), (403, 32)])
def test_a_rate_limit_is_waited_out_and_the_reply_goes_once(meta: MetaClinic, status: int, code: int | None) -> None:
    clinic = meta.clinic
    meta.send_api.fail_next(status, code, message="Calls to this api have exceeded the rate limit.",
                            headers={"Retry-After": "7"})
    meta.dm("what are your hours?", psid=AVA)
    clinic.deliver()
    [reply] = clinic.outbox("reply.dm")
    assert reply.status == "pending" and reply.next_attempt_at == clinic.clock.now() + timedelta(seconds=7)
    clinic.clock.advance(timedelta(seconds=7))
    clinic.deliver()
    [reply] = clinic.outbox("reply.dm")
    assert reply.status == "sent"
    assert len(meta.send_api.sent_to(AVA)) == 2  # the refused try and the one that landed
    [ticket] = clinic.tickets()
    assert clinic.events(ticket.id).count("reply_sent") == 1


def test_a_server_error_is_retried(meta: MetaClinic) -> None:
    clinic = meta.clinic
    meta.send_api.fail_next(500, 2, message="Service temporarily unavailable")
    meta.dm("what are your hours?", psid=AVA)
    clinic.deliver()
    assert clinic.outbox("reply.dm")[0].status == "pending"
    clinic.clock.advance(timedelta(seconds=5))
    clinic.deliver()
    assert clinic.outbox("reply.dm")[0].status == "sent"


@pytest.mark.parametrize(("age", "by_staff", "expected"), [
    (timedelta(hours=24), False, {"messaging_type": "RESPONSE"}),
    (timedelta(hours=24, seconds=1), True, {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}),
    (timedelta(days=7), True, {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}),
    (timedelta(days=7, seconds=1), True, None),
    (timedelta(hours=24, seconds=1), False, None),
])
def test_the_window_edges(age: timedelta, by_staff: bool, expected: dict[str, str] | None) -> None:
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    context = DmContext(last_inbound=now - age, by_staff=by_staff)
    if expected is None:
        with pytest.raises(DeliveryError) as raised:
            messaging_fields(context, now)
        assert not raised.value.transient and "reply window has closed" in raised.value.reason
    else:
        assert messaging_fields(context, now) == expected


def test_no_stored_dm_means_no_window() -> None:
    with pytest.raises(DeliveryError, match="no DM from the patient"):
        messaging_fields(DmContext(last_inbound=None, by_staff=True), datetime(2026, 11, 24, tzinfo=UTC))


# --- follow-ups, and what the log never says ----------------------------------------------------------------------

def test_thanks_by_dm_joins_the_open_ticket_quietly(meta: MetaClinic) -> None:
    """As tests/test_follow_ups.py's SMS case: a follow-up from the same sender joins their open ticket."""
    clinic = meta.clinic
    meta.dm(BILLING, psid=BEN)
    meta.dm("ok thanks", psid=BEN)
    [ticket] = clinic.tickets()
    assert [m.ticket_id for m in clinic.inbound()] == [ticket.id, ticket.id]
    events = clinic.events(ticket.id)
    assert events.count("follow_up") == 1 and "linked" not in events and "raised" not in events


def test_a_worse_follow_up_by_dm_raises_the_open_ticket(meta: MetaClinic) -> None:
    clinic = meta.clinic
    meta.dm("my lip has been swelling more since the filler yesterday and now it's turning purple", psid=AVA)
    meta.dm("it's getting worse and now my whole lip is numb", psid=AVA)
    [ticket] = clinic.tickets()
    assert ticket.category == "adverse_event" and clinic.events(ticket.id).count("follow_up") == 1


def test_stop_by_dm_opts_the_sender_out_of_dms_and_a_staff_reply_is_refused_with_the_reason(
        meta: MetaClinic) -> None:
    clinic = meta.clinic
    meta.dm(BILLING, psid=BEN)
    clinic.deliver()
    [ticket] = clinic.tickets()
    clinic.clock.advance(timedelta(minutes=3))  # past the channel's posting pace
    meta.dm("Stop", psid=BEN)
    clinic.deliver()
    assert [m.ticket_id for m in clinic.inbound()] == [ticket.id, None]  # the keyword is no ticket, nor a follow-up
    assert "opted_out" in clinic.events(ticket.id)
    lines = [text for _, text in clinic.poster.posts if "opted out" in text]
    assert lines == ["  ↳ in the thread of #1: 🚫 The patient opted out of Instagram/Facebook messages (STOP): "
                     "the bot will not send them Instagram/Facebook messages"]
    outcome = TicketActions(clinic.service.db, clinic.service.config, clinic.clock).reply(
        ticket.id, JESS, "We refunded it.", submission_id="s-stop")
    assert not outcome.ok and "opted out of Instagram/Facebook messages (STOP)" in outcome.notice
    assert meta.send_api.sent_to(BEN) == []
    meta.dm("start", psid=BEN)
    clinic.deliver()
    staff_reply(meta, ticket.id, "We refunded it.", submission="s-start")
    clinic.deliver()
    assert [s["message"]["text"] for s in meta.send_api.sent_to(BEN)] == ["We refunded it."]


def test_secrets_and_message_bodies_stay_out_of_the_log(meta: MetaClinic, caplog: pytest.LogCaptureFixture) -> None:
    clinic = meta.clinic
    secret_words = "my-unique-secret-phrase about the rash"
    caplog.set_level(logging.DEBUG)
    clinic.http.get("/inbound/meta", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                             "hub.challenge": "42"})
    meta.post(delivery([text_event(AVA, "x")]), signature="sha256=" + "1" * 64)
    meta.dm(secret_words, psid=AVA)
    meta.dm("what are your hours?", psid=BEN)
    meta.send_api.fail_next(400, 100, message=f"bad request quoting {secret_words}")
    clinic.deliver()
    clinic.clock.advance(timedelta(days=9))
    staff_reply(meta, clinic.tickets()[0].id, "a staff answer nobody logs")
    clinic.deliver()
    # The server's records and the bot's own calls out; not this test's client logging the URLs it asked for.
    ours = [r for r in caplog.records if not (r.name == "httpx" and "/inbound/meta" in r.getMessage())]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert any("reply.dm" in r.getMessage() for r in ours)  # the flow did log
    for never in (APP_SECRET, VERIFY_TOKEN, PAGE_TOKEN, secret_words, "a staff answer nobody logs",
                  "Open weekdays"):
        assert never not in logged


def test_the_access_log_hides_the_verify_token() -> None:
    """`serve` logs each request's path and query (uvicorn's access log); Meta's handshake puts the token there."""
    line = f'127.0.0.1:5 - "GET /inbound/meta?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=7"'
    assert VERIFY_TOKEN not in redact_text(line) and "hub.challenge=7" in redact_text(line)


def test_the_page_token_from_the_environment_wires_dm_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("META_PAGE_TOKEN", PAGE_TOKEN)
    monkeypatch.setenv("META_GRAPH_URL", "http://127.0.0.1:9/v21.0")
    config = load_config(HERE / "data_clinic.yml")
    wired = patient_messengers(config, TwilioSettings(), SmtpSettings())
    assert "reply.dm" in wired
    monkeypatch.setenv("META_PAGE_TOKEN", "")
    assert "reply.dm" not in patient_messengers(config, TwilioSettings(), SmtpSettings())


# --- triage-bot doctor --------------------------------------------------------------------------------------------

def test_doctor_says_the_page_token_works_for_the_page() -> None:
    with closing(SendApi()) as api:
        check = check_meta(meta_settings(api.url))
    assert check.status is Status.OK and "Glow Med Spa" in check.line and "/inbound/meta" in check.line


def test_doctor_names_a_refused_page_token_and_the_fix() -> None:
    with closing(SendApi()) as api:
        settings = meta_settings(api.url).model_copy(update={"page_token": SecretStr("expired-token")})
        check = check_meta(settings)
    assert check.status is Status.FAIL and "META_PAGE_TOKEN" in check.line and "expired" in check.line
    assert "expired-token" not in check.line


def test_doctor_names_the_missing_meta_variables_and_skips_when_none_is_set() -> None:
    partial = MetaSettings(app_secret=SecretStr(APP_SECRET), page_token=SecretStr(PAGE_TOKEN))
    check = check_meta(partial)
    assert check.status is Status.FAIL and "META_VERIFY_TOKEN not set" in check.line
    assert check_meta(MetaSettings(app_secret=None, verify_token=None, page_token=None)).status is Status.SKIP


def test_doctor_says_when_meta_cannot_be_reached() -> None:
    check = check_meta(meta_settings("http://127.0.0.1:9/v21.0"), timeout=2)
    assert check.status is Status.FAIL and "cannot reach Meta" in check.line and "META_GRAPH_URL" in check.line
