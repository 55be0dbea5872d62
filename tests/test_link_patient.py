"""Link patient: a staff member says who an unknown sender is, from the card; the bot remembers it.

Slack end to end (the overflow choice, the search as you type answered in the HTTP response, the modal
submission), the Instagram/Facebook DM case the link exists for, and the directory search itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config.loader import load_config
from bot.domain import Role
from bot.flows.actions import Actor, TicketActions
from bot.match.directory import EmbeddedDirectory
from bot.storage.models import InboundMessageRow, PatientLinkRow, TicketEventRow
from handlers.slack.ids import ModalCallback
from handlers.slack.modals import PATIENT_BLOCK, PATIENT_INPUT
from tests.conftest import HERE
from tests.meta_standin import MetaClinic, running_meta_clinic
from tests.slack_clinic import FRONT_DESK_USER, SlackClinic, blocks

NEW_NUMBER = "+12125550177"  # not in the directory: Olivia Bennett (P-1) texting from a new phone
JESS = Actor(id="jess", name="Jess", roles=frozenset({Role.FRONT_DESK}), staff_id="jess")
NOBODY = Actor(id="slack:U999", name="Guest", roles=frozenset())


def suggest(clinic: SlackClinic, ticket_id: int, typed: str, user: str = FRONT_DESK_USER) -> list[dict[str, Any]]:
    """Slack's block_suggestion request as the user types into the modal's search; the options it answers."""
    response = clinic.interact({
        "type": "block_suggestion", "user": {"id": user, "username": user.lower(), "name": user.lower()},
        "api_app_id": "A1", "token": "legacy", "team": {"id": "T1"}, "action_id": PATIENT_INPUT,
        "block_id": PATIENT_BLOCK, "value": typed,
        "view": {"id": "VLINK", "type": "modal", "callback_id": ModalCallback.LINK_PATIENT,
                 "private_metadata": str(ticket_id)},
    })
    assert response.status_code == 200, response.text
    return list(response.json()["options"])


def pick(clinic: SlackClinic, ticket_id: int, key: str, user: str = FRONT_DESK_USER) -> None:
    response = clinic.submit(user, ModalCallback.LINK_PATIENT, ticket_id, {
        PATIENT_BLOCK: {PATIENT_INPUT: {"type": "external_select", "selected_option": {"value": key}}}})
    assert response.status_code == 200, response.text


def test_an_unknown_sender_is_linked_from_the_card_and_matched_next_time(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("do you sell gift cards?", sender=NEW_NUMBER)
    slack_clinic.deliver()
    [card] = slack_clinic.slack.messages("front-desk")
    assert "triage_link_patient:1" in str(card["blocks"]) and "New — not in the directory" in blocks(card)
    slack_clinic.click(FRONT_DESK_USER, "triage_more", "", "front-desk", option="triage_link_patient:1")
    [opened] = slack_clinic.slack.calls("views.open")
    assert opened.args["view"]["callback_id"] == ModalCallback.LINK_PATIENT
    options = suggest(slack_clinic, 1, "benn oliv")  # words in any order, any case
    assert [o["value"] for o in options] == ["P-1"]
    assert options[0]["text"]["text"] == "Olivia Bennett · •••0101 · olivia@example.com · next visit Dec 01"
    assert [o["value"] for o in suggest(slack_clinic, 1, "(212) 555-0103")] == ["P-3"]
    assert [o["value"] for o in suggest(slack_clinic, 1, "HARPER@example")] == ["P-2"]
    assert suggest(slack_clinic, 1, "o") == [] and suggest(slack_clinic, 1, "%%") == []
    pick(slack_clinic, 1, "P-1")
    slack_clinic.deliver()
    ticket = slack_clinic.ticket(1)
    assert ticket.patient_key == "P-1" and ticket.patient["name"] == "Olivia Bennett"
    [card] = slack_clinic.slack.messages("front-desk")
    assert "Olivia Bennett" in blocks(card) and "triage_link_patient" not in str(card["blocks"])
    lines = [m["text"] for m in slack_clinic.slack.thread("front-desk", card["ts"])]
    assert lines == ["Patient linked by Jess"]  # names nobody: the card shows the patient as privacy allows
    # The next message from that number is Olivia's: it joins her open ticket.
    slack_clinic.clock.advance(timedelta(minutes=5))
    slack_clinic.sms("for $100 please", sender=NEW_NUMBER)
    assert slack_clinic.ticket(1).patient_key == "P-1"
    with slack_clinic.service.db.read() as session:
        assert [m.ticket_id for m in session.query(InboundMessageRow).order_by(InboundMessageRow.id)] == [1, 1]


def test_a_submission_without_a_pick_is_answered_in_the_modal(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("do you sell gift cards?", sender=NEW_NUMBER)
    response = slack_clinic.submit(FRONT_DESK_USER, ModalCallback.LINK_PATIENT, 1, {PATIENT_BLOCK: {}})
    assert response.json() == {"response_action": "errors",
                               "errors": {PATIENT_BLOCK: "Search for the patient and pick one."}}
    assert slack_clinic.ticket(1).patient_key is None


def test_someone_not_on_staff_finds_nobody_and_cannot_link(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("do you sell gift cards?", sender=NEW_NUMBER)
    assert suggest(slack_clinic, 1, "Olivia", user="USTRANGER") == []
    pick(slack_clinic, 1, "P-1", user="USTRANGER")
    assert slack_clinic.ticket(1).patient_key is None
    with slack_clinic.service.db.read() as session:
        assert session.query(PatientLinkRow).count() == 0
        refused = session.query(TicketEventRow).filter_by(ticket_id=1, kind="refused").all()
    assert refused and "only staff listed" in str(refused[-1].data)


# --- Instagram/Facebook DMs: a page-scoped id is all the bot knows -------------------------------------------------

@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaClinic]:
    with running_meta_clinic(tmp_path, load_config(HERE / "data_clinic.yml")) as running:
        yield running


def actions(meta: MetaClinic) -> TicketActions:
    clinic = meta.clinic
    return TicketActions(clinic.service.db, clinic.service.config, clinic.clock)


def test_a_dm_sender_linked_once_is_the_patient_on_their_next_dm(meta: MetaClinic) -> None:
    clinic = meta.clinic
    meta.dm("why was I charged twice for my last visit??", psid="2900000000000001")
    clinic.deliver()
    [ticket] = clinic.tickets()
    outcome, found = actions(meta).find_patients(ticket.id, JESS, "sofia")
    assert outcome.ok and found == []  # "Sofía" is stored with its accent: the name is matched as written
    outcome, found = actions(meta).find_patients(ticket.id, JESS, "Sofía")
    assert [p.key for p in found] == ["P-3"]
    done = actions(meta).link_patient(ticket.id, JESS, "P-3")
    assert done.ok and done.notice.startswith("Linked to Sofía Ramírez")
    assert actions(meta).link_patient(ticket.id, JESS, "P-3").notice == "This ticket is already linked to that patient."
    for _ in range(2):  # the thread line, then the card's update: each past the channel's posting pace
        clinic.clock.advance(timedelta(minutes=1))
        clinic.deliver()
    assert any("Sofía Ramírez" in text for _, text in clinic.poster.updates)
    meta.dm("ok and can I pay the rest now", psid="2900000000000001")
    [ticket] = clinic.tickets()
    assert ticket.patient_key == "P-3" and [m.ticket_id for m in clinic.inbound()] == [ticket.id, ticket.id]


def test_linking_to_a_patient_with_an_open_ticket_keeps_theirs_and_relates_this_one(meta: MetaClinic) -> None:
    clinic = meta.clinic
    clinic.sms("can I book a facial on Friday?", sender="+12125550103")  # Sofía's own number: P-3, matched
    meta.dm("why was I charged twice for my last visit??", psid="2900000000000002")
    first, dm_ticket = clinic.tickets()
    assert first.patient_key == "P-3" and dm_ticket.patient_key is None
    done = actions(meta).link_patient(dm_ticket.id, JESS, "P-3")
    assert done.ok and f"linked to their open ticket #{first.id}" in done.notice
    [_, dm_ticket] = clinic.tickets()
    assert dm_ticket.patient_key == "P-3" and dm_ticket.related_ticket_id == first.id and dm_ticket.open_key is None


def test_a_patient_gone_from_the_directory_is_said_so(meta: MetaClinic) -> None:
    meta.dm("hi do you do lip filler", psid="2900000000000003")
    [ticket] = meta.clinic.tickets()
    outcome = actions(meta).link_patient(ticket.id, JESS, "P-404")
    assert not outcome.ok and "no longer in the directory" in outcome.notice
    assert actions(meta).link_patient(ticket.id, NOBODY, "P-1").refused


def test_the_search_takes_like_wildcards_literally(meta: MetaClinic) -> None:
    with meta.clinic.service.db.read() as session:
        directory = EmbeddedDirectory(session)
        assert directory.search("_ livia") == [] and directory.search("o%a") == []
        assert [p.key for p in directory.search("olivia")] == ["P-1"]
        assert [p.key for p in directory.search("212 555 0102")] == ["P-2"]
        assert directory.search("  ") == []


def test_replies_go_on_the_channel_the_patient_last_wrote_from(meta: MetaClinic) -> None:
    clinic = meta.clinic
    psid = "2900000000000004"
    meta.dm("why was I charged twice for my last visit??", psid=psid)
    [ticket] = clinic.tickets()
    assert actions(meta).link_patient(ticket.id, JESS, "P-3").ok  # Sofía, whose phone is +12125550103
    clinic.clock.advance(timedelta(minutes=2))
    clinic.sms("I was charged twice, can you refund one?", sender="+12125550103")
    [ticket] = clinic.tickets()  # the text joined her open ticket
    assert [m.channel for m in clinic.inbound()] == ["dm", "sms"]
    billing = Actor(id="marco", name="Marco", roles=frozenset({Role.BILLING}), staff_id="marco")
    outcome = actions(meta).reply(ticket.id, billing, "Refunded, sorry!", submission_id="s-1")
    assert outcome.ok
    clinic.deliver()
    assert clinic.texts_to("+12125550103") == ["Refunded, sorry!"] and meta.send_api.sent_to(psid) == []
    clinic.clock.advance(timedelta(minutes=2))
    meta.dm("thank you!! one more q, will it show on my card today?", psid=psid)
    assert actions(meta).reply(ticket.id, billing, "Within 3-5 days.", submission_id="s-2").ok
    clinic.deliver()
    assert [s["message"]["text"] for s in meta.send_api.sent_to(psid)] == ["Within 3-5 days."]
    assert clinic.texts_to("+12125550103") == ["Refunded, sorry!"]
