"""The clinic's day in Microsoft Teams, end to end over real HTTP: a signed SMS webhook in, an Adaptive Card in the
right Teams channel, clicks as signed Action.Execute invokes through the SDK's own authentication, replies out
through the Twilio stand-in, pages 1:1, the clock moved for nudges."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cards.model import ActionId
from bot.storage.models import TicketEventRow
from bot.tickets.events import EventKind
from handlers.jobs import Jobs
from integrations.teams.cards import FormInput, FormVerb
from tests.graph_standin import GraphStandIn, user
from tests.teams_auth import FORGER_KEY
from tests.teams_clinic import CHANNELS, PEOPLE, TeamsClinic, card_text, invoke_card, running_teams_clinic

BILLING_SMS = "why was i charged $480 twice?? i paid at checkout"
CLINICAL_SMS = "Is it safe to get botox if I'm on blood thinners?"
ADVERSE_SMS = "my lip has been swelling more since the filler yesterday and now it's turning purple"
CARD = "application/vnd.microsoft.card.adaptive"


def verbs(card: dict[str, object]) -> list[str]:
    return [str(a.get("verb")) for a in card.get("actions", [])]  # type: ignore[union-attr]


def test_the_bot_learns_the_team_channels_when_it_is_installed(teams_clinic: TeamsClinic) -> None:
    from bot.storage.places import DbPlaces

    places = DbPlaces(teams_clinic.service.db, teams_clinic.clock)
    for name in ("front-desk", "Billing", "#clinical", "Glow Med Spa/Managers", "General"):
        found = places.channel("teams", name)
        assert found is not None and found.service_url == teams_clinic.teams.service_url, name
    assert places.channel("teams", "front-desk").conversation == CHANNELS["Front Desk"]  # type: ignore[union-attr]
    assert places.channel("teams", "Other Team/Clinical") is None


def test_a_message_becomes_a_card_in_the_role_channel(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    teams_clinic.deliver()
    posted = teams_clinic.card("Billing")
    [attachment] = posted["attachments"]
    assert attachment["contentType"] == CARD
    text = card_text(attachment["content"])
    assert "$480" in text and ActionId.CLAIM.value in verbs(attachment["content"])
    # The push preview names no patient and quotes nothing.
    assert "Billing ticket #1" in posted["summary"] and "480" not in posted["summary"]
    assert teams_clinic.teams.activities(CHANNELS["Clinical"]) == []


def test_claim_changes_the_card_in_place_and_a_second_claim_is_refused(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(CLINICAL_SMS, sender="+12125550101")
    teams_clinic.deliver()
    posted = teams_clinic.card("Clinical")
    answer = invoke_card(teams_clinic.click("nurse", ActionId.CLAIM.value))
    assert "Claimed by <at>Nurse Kim</at>" in card_text(answer) and ActionId.CLAIM.value not in verbs(answer)
    teams_clinic.deliver()
    edited = teams_clinic.teams.activity(posted["id"])
    assert edited is not None and edited.get("updated")
    assert "Claimed by <at>Nurse Kim</at>" in card_text(edited["attachments"][0]["content"])  # for everyone
    assert [a["text"] for a in teams_clinic.thread("Clinical", posted["id"])] == ["Claimed by Nurse Kim"]
    refused = invoke_card(teams_clinic.click("dr-lee", ActionId.CLAIM.value))
    assert "Already claimed by @Nurse Kim." in card_text(refused)
    assert teams_clinic.ticket().claimed_by == "nurse"


def test_non_clinical_staff_are_refused_on_a_clinical_ticket_and_it_is_audited(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(CLINICAL_SMS, sender="+12125550101")
    teams_clinic.deliver()
    refused = invoke_card(teams_clinic.click("jess", ActionId.CLAIM.value))
    assert "Sorry: only the clinical team can claim a clinical ticket." in card_text(refused)
    assert teams_clinic.ticket().status == "open" and teams_clinic.ticket().claimed_by is None
    with teams_clinic.service.db.transaction() as session:
        events = session.scalars(select(TicketEventRow).where(TicketEventRow.kind == EventKind.REFUSED)).all()
        assert [(e.actor, e.data["act"]) for e in events] == [("jess", "claim")]


def test_reply_from_the_card_reaches_the_patient_by_sms(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    teams_clinic.deliver()
    form = invoke_card(teams_clinic.click("jess", ActionId.REPLY.value, channel="Billing"))
    assert FormVerb.REPLY_SEND.value in verbs(form) and "SMS" in card_text(form)
    empty = invoke_card(teams_clinic.click("jess", FormVerb.REPLY_SEND.value, channel="Billing"))
    assert "Write a message or pick a template." in card_text(empty)
    sent = invoke_card(teams_clinic.click("jess", FormVerb.REPLY_SEND.value, channel="Billing",
                                          inputs={FormInput.REPLY_TEXT.value: "We refunded the duplicate charge."}))
    assert "Sorry" not in card_text(sent)
    teams_clinic.deliver()
    texts = [r.form for r in teams_clinic.twilio.requests if r.form.get("To") == "+12125550104"]
    assert [t["Body"] for t in texts] == ["We refunded the duplicate charge."]


def test_an_adverse_event_mentions_and_pages_the_on_call_provider_who_acknowledges(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(ADVERSE_SMS, sender="+12125550101")
    teams_clinic.deliver()
    posted = teams_clinic.card("Clinical")
    content = posted["attachments"][0]["content"]
    aad = PEOPLE["dr-lee"][1]
    entities = content["msteams"]["entities"]
    assert [e["mentioned"]["id"] for e in entities if e["type"] == "mention"] == [aad]  # a real mention: it rings
    assert "<at>Dr. Lee</at>" in card_text(content) and ActionId.ACKNOWLEDGE.value in verbs(content)
    assert "Olivia" not in posted["summary"]
    # 1:1: the personal chat is opened proactively and the card sent there.
    [opened] = teams_clinic.teams.created
    assert opened["user"] == aad
    [page] = [a for a in teams_clinic.teams.activities(opened["conversation"]) if a.get("attachments")]
    assert ActionId.ACKNOWLEDGE.value in verbs(page["attachments"][0]["content"])
    # Acknowledged from the phone, in the personal chat: both cards change.
    answer = invoke_card(teams_clinic.click("dr-lee", ActionId.ACKNOWLEDGE.value, conversation=opened["conversation"],
                                            card_id=page["id"]))
    assert "Page acknowledged by" in card_text(answer)
    teams_clinic.deliver()
    for activity_id in (posted["id"], page["id"]):
        now = teams_clinic.teams.activity(activity_id)
        assert now is not None
        assert "Page acknowledged by" in card_text(now["attachments"][0]["content"])
        assert ActionId.ACKNOWLEDGE.value not in verbs(now["attachments"][0]["content"])
    assert teams_clinic.ticket().acknowledged_by == "dr-lee"


def test_a_provider_without_the_app_is_said_so_and_the_ladder_goes_on(teams_clinic: TeamsClinic) -> None:
    teams_clinic.teams.not_installed.add(PEOPLE["dr-lee"][1])
    teams_clinic.sms(ADVERSE_SMS, sender="+12125550101")
    teams_clinic.deliver()
    with teams_clinic.service.db.transaction() as session:
        failed = session.scalars(select(TicketEventRow).where(
            TicketEventRow.kind == EventKind.DELIVERY_FAILED)).all()
        assert any("not installed" in str(e.data.get("reason", "")) for e in failed)
    text = card_text(teams_clinic.card("Clinical")["attachments"][0]["content"])
    assert "The page could not reach Dr. Lee in the chat app: the bot's app is not installed for them" in text
    assert [r.form["To"] for r in teams_clinic.twilio.requests if "Body" in r.form and "#1" in r.form["Body"]] \
        == ["+12125550181"]  # the page went on by text to the provider's phone
    [page_text] = [r.form["Body"] for r in teams_clinic.twilio.requests if r.form.get("To") == "+12125550181"]
    assert "Teams" in page_text and "Slack" not in page_text


def test_an_unclaimed_ticket_is_nudged_in_its_thread_when_the_clock_moves(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    teams_clinic.deliver()
    posted = teams_clinic.card("Billing")
    from datetime import timedelta

    teams_clinic.clock.advance(timedelta(hours=5))
    Jobs(teams_clinic.service).sweep_sla()
    teams_clinic.deliver()
    lines = teams_clinic.thread("Billing", posted["id"])
    assert lines, "no nudge in the card's thread"
    assert any(e["type"] == "mention" for line in lines for e in line.get("entities", []))


def test_a_429_and_503_storm_ends_with_exactly_one_card(teams_clinic: TeamsClinic) -> None:
    teams_clinic.teams.fail_next(429, 503, 503, retry_after="2")
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    for _ in range(10):
        teams_clinic.deliver(seconds=120)
    cards = [a for a in teams_clinic.teams.activities(CHANNELS["Billing"]) if a.get("attachments")
             and ";messageid=" not in a["conversation"]]
    assert len(cards) == 1


def test_commands_in_the_personal_chat(teams_clinic: TeamsClinic) -> None:
    teams_clinic.installed_personally("jess")
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    teams_clinic.deliver()
    before = len(teams_clinic.teams.activities())
    assert teams_clinic.say("jess", "queue").status_code in (200, 201, 202)
    [answer] = teams_clinic.teams.activities()[before:]
    assert "Open queue" in card_text(answer["attachments"][0]["content"])
    teams_clinic.say("nurse", "oncall set <at>Nurse Kim</at> until tomorrow 8am")
    said = teams_clinic.teams.activities()[-1]
    assert said["text"].startswith("Nurse Kim is on call until"), said["text"]


def test_a_personal_install_gets_a_welcome_with_the_persons_tickets_once(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    teams_clinic.deliver()
    invoke_card(teams_clinic.click("jess", ActionId.CLAIM.value, channel="Billing"))
    conversation = teams_clinic.installed_personally("jess")
    teams_clinic.installed_personally("jess")  # Teams says it again (a reinstall, a second device)
    teams_clinic.deliver()
    [welcome] = [a for a in teams_clinic.teams.activities(conversation) if a.get("attachments")]
    text = card_text(welcome["attachments"][0]["content"])
    assert text.startswith("Hi Jess") and "#1 billing" in text and "oncall set" in text


def test_the_digest_and_its_chart_reach_the_managers_channel(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    teams_clinic.sms(CLINICAL_SMS, sender="+12125550101")
    teams_clinic.deliver()
    Jobs(teams_clinic.service).digest()
    teams_clinic.deliver()
    posted = [a for a in teams_clinic.teams.activities(CHANNELS["Managers"]) if a.get("attachments")]
    digest = [a for a in posted if "Daily digest" in card_text(a["attachments"][0]["content"])]
    assert len(digest) == 1
    images = [item for a in posted for item in a["attachments"][0]["content"].get("body", [])
              if item.get("type") == "Image"]
    assert len(images) == 1 and images[0]["url"].startswith("data:image/png;base64,")
    assert teams_clinic.outbox("chat.file")[0].status == "sent"


def test_the_on_call_hand_off_is_posted_to_the_clinical_channel(teams_clinic: TeamsClinic) -> None:
    teams_clinic.say("nurse", "oncall set nurse until tomorrow 8am")
    teams_clinic.deliver()
    lines = [a for a in teams_clinic.teams.activities(CHANNELS["Clinical"]) if a.get("text")]
    assert len(lines) == 1 and lines[0]["text"].startswith("🩺 On call now: <at>Nurse Kim</at>")
    assert [e["mentioned"]["id"] for e in lines[0]["entities"]] == [PEOPLE["nurse"][1]]


def test_members_of_the_clinical_entra_group_may_claim_clinical_tickets(tmp_path: Path) -> None:
    group = "0b8e4d2c-7a51-4f6e-8c3b-9d1a2e5f6a70"
    with GraphStandIn() as graph:
        graph.set_group(group, [user(PEOPLE["marco"][1], "Marco")])
        with running_teams_clinic(tmp_path, graph=graph, clinical_group=group) as clinic:
            clinic.sms(CLINICAL_SMS, sender="+12125550101")
            clinic.deliver()
            refused = invoke_card(clinic.click("jess", ActionId.CLAIM.value))  # not in the group
            assert "only the clinical team" in card_text(refused)
            invoke_card(clinic.click("marco", ActionId.CLAIM.value))
            assert clinic.ticket().claimed_by == "marco"
            assert any(f"/groups/{group}/transitiveMembers" in c.path for c in graph.graph_calls())


def test_forged_and_expired_clicks_are_refused_and_change_nothing(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(CLINICAL_SMS, sender="+12125550101")
    teams_clinic.deliver()
    card_id = teams_clinic.card("Clinical")["id"]
    where = {"id": f"{CHANNELS['Clinical']};messageid={card_id}", "conversationType": "channel", "isGroup": True}
    activity = teams_clinic.activity("invoke", where, "nurse", "Clinical")
    activity.update(name="adaptiveCard/action", replyToId=card_id,
                    value={"action": {"type": "Action.Execute", "verb": ActionId.CLAIM.value, "data": {"ticket": "1"}}})
    for sign in ({"key": FORGER_KEY}, {"expires_in": -3600}, {"audience": "someone-else"}):
        assert teams_clinic.send(activity, **sign).status_code == 401, sign
    assert teams_clinic.ticket().status == "open" and teams_clinic.ticket().claimed_by is None
    assert teams_clinic.send(activity).status_code == 200  # the same click, signed by the Bot Framework's key
    assert teams_clinic.ticket().claimed_by == "nurse"


def test_escalate_from_the_card_moves_the_ticket_to_the_clinical_channel(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    teams_clinic.deliver()
    form = invoke_card(teams_clinic.click("jess", ActionId.ESCALATE.value, channel="Billing"))
    assert FormVerb.ESCALATE_SEND.value in verbs(form)
    invoke_card(teams_clinic.click("jess", FormVerb.ESCALATE_SEND.value, channel="Billing",
                                   inputs={FormInput.ESCALATE_TARGET.value: "manager",
                                           FormInput.ESCALATE_REASON.value: "refund above my limit"}))
    teams_clinic.deliver()
    assert teams_clinic.ticket().role == "managers"
    moved = teams_clinic.card("Managers")
    assert ActionId.CLAIM.value in verbs(moved["attachments"][0]["content"])


def test_reclassify_from_the_card_is_kept_as_a_correction(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(BILLING_SMS, sender="+12125550104")
    teams_clinic.deliver()
    form = invoke_card(teams_clinic.click("jess", ActionId.RECLASSIFY.value, channel="Billing"))
    assert FormVerb.RECLASSIFY_SEND.value in verbs(form)
    bad = invoke_card(teams_clinic.click("jess", FormVerb.RECLASSIFY_SEND.value, channel="Billing",
                                         inputs={FormInput.RECLASSIFY_CATEGORY.value: "nonsense"}))
    assert "Pick a category." in card_text(bad)
    invoke_card(teams_clinic.click("jess", FormVerb.RECLASSIFY_SEND.value, channel="Billing",
                                   inputs={FormInput.RECLASSIFY_CATEGORY.value: "booking"}))
    assert teams_clinic.ticket().category == "booking"


@pytest.mark.clinic_yaml("privacy: {card_detail: none}\n")
def test_show_message_opens_the_hidden_message_for_the_role_only(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(CLINICAL_SMS, sender="+12125550101")
    teams_clinic.deliver()
    posted = teams_clinic.card("Clinical")["attachments"][0]["content"]
    assert "blood thinners" not in card_text(posted) and ActionId.SHOW_MESSAGE.value in verbs(posted)
    refused = invoke_card(teams_clinic.click("jess", ActionId.SHOW_MESSAGE.value))
    assert "blood thinners" not in card_text(refused) and "Sorry" in card_text(refused)
    shown = invoke_card(teams_clinic.click("nurse", ActionId.SHOW_MESSAGE.value))
    assert "blood thinners" in card_text(shown)
    teams_clinic.deliver()
    again = teams_clinic.card("Clinical")["attachments"][0]["content"]
    assert "blood thinners" not in card_text(again)  # the posted card, as everyone sees it, stays closed


def test_link_patient_searches_then_links_from_the_card(teams_clinic: TeamsClinic) -> None:
    teams_clinic.sms(BILLING_SMS, sender="+12125550177")  # a number the directory does not know
    teams_clinic.deliver()
    assert ActionId.LINK_PATIENT.value in verbs(teams_clinic.card("Billing")["attachments"][0]["content"])
    form = invoke_card(teams_clinic.click("jess", ActionId.LINK_PATIENT.value, channel="Billing"))
    assert verbs(form) == [FormVerb.LINK_SEARCH.value, FormVerb.REFRESH.value]
    short = invoke_card(teams_clinic.click("jess", FormVerb.LINK_SEARCH.value, channel="Billing",
                                           inputs={FormInput.LINK_QUERY.value: "o"}))
    assert "Type at least two letters" in card_text(short)
    found = invoke_card(teams_clinic.click("jess", FormVerb.LINK_SEARCH.value, channel="Billing",
                                           inputs={FormInput.LINK_QUERY.value: "olivia"}))
    assert verbs(found) == [FormVerb.LINK_SEND.value, FormVerb.LINK_SEARCH.value, FormVerb.REFRESH.value]
    [choices] = [e["choices"] for e in found["body"] if e.get("id") == FormInput.LINK_PATIENT.value]
    assert [c["value"] for c in choices] == ["P-1"] and choices[0]["title"].startswith("Olivia Bennett · •••0101")
    nothing = invoke_card(teams_clinic.click("jess", FormVerb.LINK_SEND.value, channel="Billing",
                                             inputs={FormInput.LINK_QUERY.value: "olivia"}))
    assert "Search for the patient and pick one." in card_text(nothing)
    done = invoke_card(teams_clinic.click("jess", FormVerb.LINK_SEND.value, channel="Billing",
                                          inputs={FormInput.LINK_QUERY.value: "olivia",
                                                  FormInput.LINK_PATIENT.value: "P-1"}))
    assert "Linked to Olivia Bennett" in card_text(done)
    assert teams_clinic.ticket().patient_key == "P-1"
    assert ActionId.LINK_PATIENT.value not in verbs(done)
