"""Slack rate limiting or down when `serve` starts: it still starts, takes patients' texts, and posts the cards
once Slack answers again (SMS intake never depends on Slack)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dburl import db_url
from tests.process import checks
from tests.process.conftest import BotFactory
from tests.process.harness import Sender, Sms, Store, wait_for
from tests.slack_standin import SlackStandIn
from tests.standins import StandIn


@pytest.mark.parametrize("status", [429, 500])
def test_serve_starts_and_takes_sms_while_slack_fails(tmp_path: Path, bots: BotFactory, slack: SlackStandIn,
                                                      twilio: StandIn, status: int) -> None:
    for _ in range(3):  # auth.test (and anything else Slack is asked at start-up) fails the first times
        slack.fail_next("auth.test", status=status, retry_after=1)
    url = db_url(tmp_path, f"startup{status}")
    bot = bots(url, slack_api=f"{slack.url}/api/", twilio_api=twilio.url).start()
    assert slack.calls("auth.test") == [] or slack.calls("auth.test")[0].failed
    store = Store(url)
    sender = Sender(lambda sms: bot.url)
    sent = sender.send(Sms(f"SMstartup{status}", "+16465550001", "is it safe to get botox while pregnant?"))
    assert sent.acknowledged, (sent.status, sent.error, bot.log_tail())
    assert bot.alive()
    wait_for(lambda: store.untriaged() == 0 and len(store.inbound()) == 1, 30, "the text stored and triaged")
    wait_for(lambda: checks.one_card_each(store, slack) == [], 60, "the card posted once Slack answers",
             describe=lambda: "\n".join(checks.one_card_each(store, slack) + checks.pending(store)))
    assert "check SLACK_BOT_TOKEN" not in bot.log_text(), "a rate limit or outage was blamed on the token"
    sender.close()
    store.close()
