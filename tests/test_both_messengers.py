"""A clinic that runs Slack and Teams at once, from one instance: every card, page, nudge and digest reaches each
messenger, and a click in either changes the card in both. Real HTTP all the way: the Bolt app behind
/slack/events with a signed click, the Teams SDK behind /teams/messages with a signed invoke, both stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cards.model import ActionId
from bot.storage.models import ChatPostRow, OutboxRow
from handlers.jobs import Jobs
from tests.slack_clinic import SlackClinic, blocks
from tests.slack_standin import SlackStandIn
from tests.teams_clinic import CHANNELS, PEOPLE, TeamsClinic, card_text, invoke_card, running_teams_clinic

BILLING_SMS = "why was i charged $480 twice?? i paid at checkout"
ADVERSE_SMS = "my lip has been swelling more since the filler yesterday and now it's turning purple"
DOCTOR_SLACK, DOCTOR_PHONE = "UDRLEE", "+12125550181"


class Both:
    def __init__(self, teams: TeamsClinic, slack: SlackStandIn) -> None:
        self.teams, self.slack = teams, slack
        # Slack's side of the same service and HTTP app: its signed clicks and its stand-in.
        self.slack_side = SlackClinic(teams.service, teams.clock, slack, teams.twilio, teams.http, teams.url)

    def teams_card(self, channel: str, ticket: int = 1) -> dict[str, Any]:
        return self.teams.card(channel, ticket)["attachments"][0]["content"]  # type: ignore[no-any-return]

    def slack_cards(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.slack.messages(channel) if m.get("blocks")]


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Both]:
    slack = SlackStandIn()
    try:
        with running_teams_clinic(tmp_path, slack=slack) as teams:
            yield Both(teams, slack)
    finally:
        slack.close()


def test_a_card_goes_to_both_and_a_claim_in_slack_changes_both(both: Both) -> None:
    both.teams.sms(BILLING_SMS, sender="+12125550104")
    both.teams.deliver()
    [slack_card] = both.slack_cards("billing")
    assert "$480" in blocks(slack_card)
    teams_posted = both.teams.card("Billing")
    assert "$480" in card_text(teams_posted["attachments"][0]["content"])
    with both.teams.service.db.transaction() as session:
        posts = session.scalars(select(ChatPostRow).where(ChatPostRow.kind == "card")).all()
        assert sorted(p.platform for p in posts) == ["slack", "teams"]

    assert both.slack_side.click("UJESS", ActionId.CLAIM, "1", "billing").status_code == 200
    both.teams.deliver()
    assert both.teams.ticket().claimed_by == "jess"
    assert "Claimed by <@UJESS>" in blocks(both.slack.message("billing", slack_card["ts"]))
    edited = both.teams.teams.activity(teams_posted["id"])
    assert edited is not None and edited.get("updated")
    assert "Claimed by <at>Jess</at>" in card_text(edited["attachments"][0]["content"])  # Teams shows it too
    # The thread line is said once in each messenger's thread.
    assert [m["text"] for m in both.slack.thread("billing", slack_card["ts"])] == ["Claimed by Jess"]
    assert [a["text"] for a in both.teams.thread("Billing", teams_posted["id"])] == ["Claimed by Jess"]
    # A second claim from Teams is refused: one ticket, whichever messenger the click came from.
    refused = invoke_card(both.teams.click("marco", ActionId.CLAIM.value, channel="Billing"))
    assert "Already claimed by @Jess." in card_text(refused)


def test_an_adverse_event_pages_in_both_and_one_acknowledge_clears_every_copy(both: Both) -> None:
    both.teams.sms(ADVERSE_SMS, sender="+12125550101")
    both.teams.deliver()
    [slack_card] = both.slack_cards("clinical")
    assert f"<@{DOCTOR_SLACK}>" in slack_card["text"]
    [slack_dm] = both.slack.messages(DOCTOR_SLACK)
    [opened] = both.teams.teams.created
    assert opened["user"] == PEOPLE["dr-lee"][1]
    [teams_dm] = [a for a in both.teams.teams.activities(opened["conversation"]) if a.get("attachments")]
    # One text to the provider's phone, not one per messenger; it names both.
    [page_text] = [r.form["Body"] for r in both.teams.twilio.requests if r.form.get("To") == DOCTOR_PHONE]
    assert "open Slack or Teams" in page_text

    answer = invoke_card(both.teams.click("dr-lee", ActionId.ACKNOWLEDGE.value, conversation=opened["conversation"],
                                          card_id=teams_dm["id"]))
    assert "Page acknowledged by" in card_text(answer)
    both.teams.deliver()
    for channel, ts in (("clinical", slack_card["ts"]), (DOCTOR_SLACK, slack_dm["ts"])):
        now = both.slack.message(channel, ts)
        assert now is not None and f"Page acknowledged by <@{DOCTOR_SLACK}>" in blocks(now), channel
    for activity_id in (both.teams.card("Clinical")["id"], teams_dm["id"]):
        now_teams = both.teams.teams.activity(activity_id)
        assert now_teams is not None and "Page acknowledged by" in card_text(now_teams["attachments"][0]["content"])
    assert both.teams.ticket().acknowledged_by == "dr-lee"


def test_with_teams_down_the_slack_card_starts_the_clock_and_teams_gets_its_card_later(both: Both) -> None:
    both.teams.teams.fail_next(*([503] * 6), retry_after="30")
    both.teams.sms(BILLING_SMS, sender="+12125550104")
    both.teams.deliver(seconds=5)
    [slack_card] = both.slack_cards("billing")
    due = both.teams.ticket().due_at
    assert due is not None
    assert [a for a in both.teams.teams.activities(CHANNELS["Billing"]) if a.get("attachments")] == []
    # Hours later, still unclaimed: the nudge reaches Slack's thread although Teams has not shown the card.
    both.teams.clock.advance(timedelta(hours=5))
    Jobs(both.teams.service).sweep_sla()
    both.teams.deliver(seconds=5)
    assert both.slack.thread("billing", slack_card["ts"]), "no nudge in Slack's thread"
    # Teams comes back: its card is posted once, its nudge follows in its thread, and the due time did not move
    # for Teams' lateness (staff saw the card in Slack on time).
    for _ in range(30):
        both.teams.clock.advance(timedelta(minutes=1))
        both.teams.deliver()
    teams_cards = [a for a in both.teams.teams.activities(CHANNELS["Billing"]) if a.get("attachments")
                   and ";messageid=" not in a["conversation"]]
    assert len(teams_cards) == 1
    assert both.teams.thread("Billing", teams_cards[0]["id"]), "the nudge waited for Teams' card"
    assert both.teams.ticket().due_at == due
    assert len(both.slack_cards("billing")) == 1


def test_the_digest_reaches_both_managers_channels_with_its_chart(both: Both) -> None:
    both.teams.sms(BILLING_SMS, sender="+12125550104")
    both.teams.deliver()
    Jobs(both.teams.service).digest()
    both.teams.deliver()
    [slack_post] = both.slack.messages("managers")
    assert "Test Clinic" in slack_post["text"]
    assert [f["channel"] for f in both.slack.files.values() if f.get("shared")] == ["managers"]
    posted = [a for a in both.teams.teams.activities(CHANNELS["Managers"]) if a.get("attachments")]
    assert len([a for a in posted if "Daily digest" in card_text(a["attachments"][0]["content"])]) == 1
    with both.teams.service.db.transaction() as session:
        files = session.scalars(select(OutboxRow).where(OutboxRow.kind == "chat.file")).all()
        assert sorted((f.status, f.result.get("conversation")) for f in files) == sorted(
            [("sent", "managers"), ("sent", CHANNELS["Managers"])])
