"""Slack over real HTTP: signed payloads into the Bolt app, a stateful Slack stand-in out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.cards.model import ActionId
from handlers.slack.ids import ModalCallback
from handlers.slack.modals import (
    CATEGORY_BLOCK,
    CATEGORY_INPUT,
    MESSAGE_BLOCK,
    MESSAGE_INPUT,
    REASON_BLOCK,
    REASON_INPUT,
    TARGET_BLOCK,
    TARGET_INPUT,
    TEMPLATE_BLOCK,
    TEMPLATE_INPUT,
)
from tests.slack_clinic import CLINICAL_USER, DOCTOR, FRONT_DESK_USER, SlackClinic, stored

BILLING_SMS = "why was i charged $480 twice?? i paid at checkout"
CLINICAL_SMS = "Is it safe to get botox if I'm on blood thinners?"
ADVERSE_SMS = "my lip has been swelling more since the filler yesterday and now it's turning purple"


def block_texts(message: dict[str, Any]) -> str:
    return str(message.get("blocks"))


def buttons(message: dict[str, Any]) -> list[str]:
    found = []
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            found.append(element["action_id"])
    return found


def test_ticket_is_posted_to_its_role_channel_with_the_card(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.deliver()
    [card] = slack_clinic.slack.messages("billing")
    assert card["text"] == "Billing ticket #1"  # the lock-screen text: no patient detail
    assert "Daniel" not in card["text"]
    blocks = block_texts(card)
    assert card["blocks"][0]["type"] == "header" and "Billing" in card["blocks"][0]["text"]["text"]
    for shown in ("Daniel Kim", "$480.00", "charged", "Why", "SMS", "due in 30 min"):
        assert shown in blocks, shown
    assert buttons(card) == [ActionId.CLAIM, ActionId.REPLY, ActionId.ESCALATE, ActionId.MORE]
    for block in card["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            assert element.get("value", "1") == "1" or element["action_id"] == ActionId.MORE
    assert slack_clinic.slack.messages("front-desk") == []


def test_claim_double_claim_and_unclaim_change_the_card_in_place(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.deliver()
    [posted] = slack_clinic.slack.messages("billing")
    assert slack_clinic.click(FRONT_DESK_USER, ActionId.CLAIM, "1", "billing").status_code == 200
    slack_clinic.deliver()
    card = slack_clinic.slack.message("billing", posted["ts"])
    assert card is not None and f"Claimed by <@{FRONT_DESK_USER}> · 10:30" in block_texts(card)
    assert ActionId.UNCLAIM in buttons(card) and ActionId.CLAIM not in buttons(card)
    assert slack_clinic.ticket().claimed_by == stored(FRONT_DESK_USER)
    # A second claimer is told, privately, and nothing changes.
    slack_clinic.click("UMARCO", ActionId.CLAIM, "1", "billing")
    [ephemeral] = slack_clinic.slack.ephemerals(user="UMARCO")
    assert ephemeral["text"] == f"Already claimed by <@{FRONT_DESK_USER}>."
    assert slack_clinic.ticket().claimed_by == stored(FRONT_DESK_USER)
    # A double click by the same person is harmless.
    slack_clinic.click(FRONT_DESK_USER, ActionId.CLAIM, "1", "billing")
    assert slack_clinic.ticket().version == 3  # routed (2), claimed (3): no further change
    slack_clinic.click(FRONT_DESK_USER, ActionId.UNCLAIM, "1", "billing")
    slack_clinic.deliver()
    card = slack_clinic.slack.message("billing", posted["ts"])
    assert card is not None and "Unclaimed" in block_texts(card) and ActionId.CLAIM in buttons(card)
    assert len(slack_clinic.slack.messages("billing")) == 1  # changed in place, never reposted
    thread = [m["text"] for m in slack_clinic.slack.thread("billing", posted["ts"])]
    assert thread == ["Claimed by Jess", "Unclaimed by Jess"]
    assert not any("<@" in line for line in thread)  # quiet lines: nobody is pinged


def test_reply_modal_sends_sms_through_twilio_and_logs_in_the_thread(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.deliver()
    [posted] = slack_clinic.slack.messages("billing")
    slack_clinic.click(FRONT_DESK_USER, ActionId.REPLY, "1", "billing")
    [opened] = slack_clinic.slack.calls("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == ModalCallback.REPLY and view["private_metadata"] == "1"
    assert "call-me" in str(view["blocks"])  # the clinic's saved replies, in the patient's language
    empty = slack_clinic.submit(FRONT_DESK_USER, ModalCallback.REPLY, 1, {})
    assert empty.json()["response_action"] == "errors"
    slack_clinic.submit(FRONT_DESK_USER, ModalCallback.REPLY, 1, {
        MESSAGE_BLOCK: {MESSAGE_INPUT: {"type": "plain_text_input", "value": "Hi Daniel, refund is on its way."}},
        TEMPLATE_BLOCK: {TEMPLATE_INPUT: {"type": "static_select", "selected_option": None}},
    })
    replied_at = slack_clinic.clock.now()
    slack_clinic.deliver()
    [sent] = [r.form for r in slack_clinic.twilio.requests]
    assert sent["To"] == "+12125550104" and sent["Body"] == "Hi Daniel, refund is on its way."
    thread = [m["text"] for m in slack_clinic.slack.thread("billing", posted["ts"])]
    assert thread == ["Reply sent by Jess"]
    ticket = slack_clinic.ticket()
    assert ticket.status == "claimed" and ticket.claimed_by == stored(FRONT_DESK_USER)
    assert ticket.first_response_at == replied_at
    # Submitting the same modal again (a double click on Send) sends nothing more.
    slack_clinic.submit(FRONT_DESK_USER, ModalCallback.REPLY, 1, {
        MESSAGE_BLOCK: {MESSAGE_INPUT: {"type": "plain_text_input", "value": "Hi Daniel, refund is on its way."}}})
    slack_clinic.deliver()
    assert len(slack_clinic.twilio.requests) == 1


def test_a_failed_reply_shows_on_the_card(slack_clinic: SlackClinic) -> None:
    from tests.standins import Answer

    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.deliver()
    [posted] = slack_clinic.slack.messages("billing")
    slack_clinic.twilio.script.append(Answer(400, {"code": 21610, "message": "Attempt to send to unsubscribed"}))
    slack_clinic.submit(FRONT_DESK_USER, ModalCallback.REPLY, 1, {
        MESSAGE_BLOCK: {MESSAGE_INPUT: {"type": "plain_text_input", "value": "hello"}}})
    slack_clinic.deliver()
    card = slack_clinic.slack.message("billing", posted["ts"])
    assert card is not None and "A reply could not be delivered" in block_texts(card)
    # The failure class, never Twilio's text (issue 7, point 11): that stays in the audit log and the outbox row.
    assert "the SMS provider refused the number" in block_texts(card) and "21610" not in block_texts(card)
    [alert] = slack_clinic.slack.messages("managers")  # and the managers were alerted
    assert "the SMS provider refused the number" in alert["text"] and "unsubscribed" not in alert["text"]


def test_escalate_moves_the_ticket_and_links_both_cards(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.deliver()
    [old] = slack_clinic.slack.messages("billing")
    slack_clinic.click(FRONT_DESK_USER, ActionId.ESCALATE, "1", "billing")
    assert slack_clinic.slack.calls("views.open")[0].args["view"]["callback_id"] == ModalCallback.ESCALATE
    slack_clinic.submit(FRONT_DESK_USER, ModalCallback.ESCALATE, 1, {
        TARGET_BLOCK: {TARGET_INPUT: {"type": "static_select", "selected_option": {"value": "manager"}}},
        REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": "patient threatens a chargeback"}},
    })
    slack_clinic.deliver()
    [new] = slack_clinic.slack.messages("managers")
    assert "Escalated from #billing by Jess" in block_texts(new)
    old_now = slack_clinic.slack.message("billing", old["ts"])
    assert old_now is not None and "Moved to #managers" in block_texts(old_now) and buttons(old_now) == []
    assert slack_clinic.ticket().role == "managers"
    assert [m["text"] for m in slack_clinic.slack.thread("billing", old["ts"])] == ["Escalated to #managers by Jess"]


def test_adverse_event_mentions_and_dms_the_on_call_provider_who_acknowledges(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(ADVERSE_SMS, sender="+12125550101")
    slack_clinic.deliver()
    [card] = slack_clinic.slack.messages("clinical")
    assert card["text"].startswith(f"<@{DOCTOR}>") and "Adverse event ticket #1" in card["text"]
    assert "Olivia" not in card["text"]
    assert f"<@{DOCTOR}>" in block_texts(card) and ActionId.ACKNOWLEDGE in buttons(card)
    [dm] = slack_clinic.slack.messages(DOCTOR)
    assert ActionId.ACKNOWLEDGE in buttons(dm) and "Olivia Bennett" in block_texts(dm)
    # The provider acknowledges from the phone, in the DM.
    clicked_at = slack_clinic.clock.now()
    slack_clinic.click(DOCTOR, ActionId.ACKNOWLEDGE, "1", DOCTOR)
    slack_clinic.deliver()
    for channel, ts in (("clinical", card["ts"]), (DOCTOR, dm["ts"])):
        now = slack_clinic.slack.message(channel, ts)
        assert now is not None and f"Page acknowledged by <@{DOCTOR}>" in block_texts(now)
        assert ActionId.ACKNOWLEDGE not in buttons(now)
    ticket = slack_clinic.ticket()
    assert ticket.acknowledged_by == stored(DOCTOR) and ticket.acknowledged_at == clicked_at


def test_non_clinical_staff_cannot_claim_or_resolve_clinical_tickets(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(CLINICAL_SMS, sender="+12125550101")
    slack_clinic.deliver()
    slack_clinic.click(FRONT_DESK_USER, ActionId.CLAIM, "1")
    slack_clinic.click(FRONT_DESK_USER, ActionId.MORE, "", option="triage_resolve:1")
    notices = [e["text"] for e in slack_clinic.slack.ephemerals(user=FRONT_DESK_USER)]
    assert notices == ["Sorry: only the clinical team can claim a clinical ticket.",
                       "Sorry: only the clinical team can resolve a clinical ticket."]
    ticket = slack_clinic.ticket()
    assert ticket.status == "open" and ticket.claimed_by is None
    from sqlalchemy import select

    from bot.storage.models import TicketEventRow

    with slack_clinic.service.db.transaction() as session:
        refused = session.scalars(select(TicketEventRow).where(TicketEventRow.kind == "refused")).all()
        jess = stored(FRONT_DESK_USER)
        assert [(e.actor, e.data["act"]) for e in refused] == [(jess, "claim"), (jess, "resolve")]
    slack_clinic.click(CLINICAL_USER, ActionId.CLAIM, "1")
    assert slack_clinic.ticket().claimed_by == stored(CLINICAL_USER)


def test_rate_limit_and_server_error_end_with_exactly_one_card(slack_clinic: SlackClinic) -> None:
    slack_clinic.slack.fail_next("chat.postMessage", status=429, retry_after=3)
    slack_clinic.slack.fail_next("chat.postMessage", status=500)
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.service.run_outbox()
    [row] = slack_clinic.outbox("chat.card")
    assert row.status == "pending" and "429" in row.last_error
    assert row.next_attempt_at == slack_clinic.clock.now() + timedelta(seconds=3)  # Slack's Retry-After
    slack_clinic.deliver(seconds=10)  # after Retry-After: a 500, then the backoff
    from bot.outbox.worker import BACKOFF

    slack_clinic.clock.advance(BACKOFF[1])
    slack_clinic.deliver()
    assert len(slack_clinic.slack.messages("billing")) == 1
    [row] = slack_clinic.outbox("chat.card")
    assert row.status == "sent" and row.attempts == 3
    assert [c.failed for c in slack_clinic.slack.calls("chat.postMessage")][:3] == [True, True, False]


def test_a_retried_event_delivery_is_handled_once(slack_clinic: SlackClinic) -> None:
    event = {"type": "app_home_opened", "user": FRONT_DESK_USER, "tab": "home", "channel": "D1"}
    assert slack_clinic.event(event, "Ev001").status_code == 200
    assert slack_clinic.event(event, "Ev001", retry=1).status_code == 200
    [published] = slack_clinic.slack.calls("views.publish")
    assert published.args["user_id"] == FRONT_DESK_USER and "Open queue" in str(published.args["view"])


def test_bad_slack_signature_is_refused(slack_clinic: SlackClinic) -> None:
    response = slack_clinic.http.post("/slack/events", content=b"payload=%7B%7D", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": "1",
        "X-Slack-Signature": "v0=deadbeef"})
    assert response.status_code == 401
    assert slack_clinic.slack.calls("chat.postEphemeral") == []


def test_slash_command_shows_the_queue_and_on_call(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.sms(CLINICAL_SMS, sender="+12125550101")
    slack_clinic.click(FRONT_DESK_USER, ActionId.CLAIM, "1", "billing")
    queue = slack_clinic.command(FRONT_DESK_USER).json()
    assert queue["response_type"] == "ephemeral"
    assert "#billing: 1 open, 0 unclaimed" in queue["text"] and "#clinical: 1 open, 1 unclaimed (#2 clinical)" in \
        queue["text"]
    assert "*Your tickets*\n#1 billing" in queue["text"]
    assert "Daniel" not in queue["text"] and "charged" not in queue["text"]
    oncall = slack_clinic.command(FRONT_DESK_USER, "oncall").json()
    assert oncall["text"] == (f"On call now: <@{DOCTOR}> (Dr. Lee) until Wed 08:00 (routing.oncall_provider). "
                              f"Backup: <@{CLINICAL_USER}> (Nurse Kim).")


def test_reclassify_records_a_correction_that_can_be_exported(slack_clinic: SlackClinic, tmp_path: Any,
                                                               monkeypatch: Any, capsys: Any) -> None:
    slack_clinic.sms("do you guys do brow lamination?", sender="+12125550177")
    slack_clinic.deliver()
    slack_clinic.click(FRONT_DESK_USER, ActionId.MORE, "", "front-desk", option="triage_reclassify:1")
    assert slack_clinic.slack.calls("views.open")[0].args["view"]["callback_id"] == ModalCallback.RECLASSIFY
    slack_clinic.submit(FRONT_DESK_USER, ModalCallback.RECLASSIFY, 1, {
        CATEGORY_BLOCK: {CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": "booking"}}}})
    assert slack_clinic.ticket().category == "booking"
    # Moving a ticket into a clinical category needs the clinical team.
    slack_clinic.submit("UMARCO", ModalCallback.RECLASSIFY, 1, {
        CATEGORY_BLOCK: {CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": "clinical"}}}})
    assert slack_clinic.ticket().category == "booking"
    from handlers.cli import main

    monkeypatch.setenv("TRIAGE_DATABASE_URL", slack_clinic.service.settings.database_url)
    out = tmp_path / "corrections.jsonl"
    assert main(["corrections", "export", "--output", str(out)]) == 0
    import json

    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row == {"id": "corr-1", "channel": "sms", "text": "do you guys do brow lamination?", "category": "booking",
                   "predicted": "faq"}


@pytest.mark.clinic_yaml("privacy:\n  card_detail: none\n")
def test_privacy_none_hides_the_message_behind_a_button_for_the_role(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(CLINICAL_SMS, sender="+12125550101")
    slack_clinic.deliver()
    [card] = slack_clinic.slack.messages("clinical")
    blocks = block_texts(card)
    assert "Olivia" not in blocks and "blood thinners" not in blocks and "+1212" not in blocks
    assert "hidden by the clinic's privacy setting" in blocks and ActionId.SHOW_MESSAGE in buttons(card)
    slack_clinic.click(FRONT_DESK_USER, ActionId.SHOW_MESSAGE, "1")
    assert slack_clinic.slack.calls("views.open") == []
    [refusal] = slack_clinic.slack.ephemerals(user=FRONT_DESK_USER)
    assert refusal["text"] == "Sorry: only the clinical team can open the message of a clinical ticket."
    slack_clinic.click(CLINICAL_USER, ActionId.SHOW_MESSAGE, "1")
    [opened] = slack_clinic.slack.calls("views.open")
    assert CLINICAL_SMS.replace("'", "") in str(opened.args["view"]).replace("'", "").replace("\\\\", "")


@pytest.mark.clinic_yaml("privacy:\n  card_detail: initials\n")
def test_privacy_initials_shows_initials_and_tier_only(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.deliver()
    blocks = block_texts(slack_clinic.slack.messages("billing")[0])
    assert "D.K." in blocks and "Daniel" not in blocks and "$480.00" not in blocks


@pytest.mark.parametrize("view", [None, "x", 1, []])
def test_a_payload_whose_view_is_not_an_object_is_400(slack_clinic: SlackClinic, view: object) -> None:
    """Bolt reads a present `view` as an object (its unhandled-request warning crashed on `"view": null`)."""
    import json

    for body in (json.dumps({"type": "shortcut", "view": view, "team": {"id": "T1"}}).encode(),):
        response = slack_clinic.signed(body, "application/json")
        assert response.status_code == 400 and "view: must be an object" in response.text
