"""The seen-deliveries table keeps messengers' retry keys only while a retry can come; once-keys stay."""

from __future__ import annotations

from datetime import timedelta

from bot.storage.models import SeenDeliveryRow
from handlers.jobs import Jobs
from tests.slack_clinic import FRONT_DESK_USER, SlackClinic


def keys(clinic: SlackClinic) -> list[str]:
    with clinic.service.db.read() as session:
        return sorted(row.key for row in session.query(SeenDeliveryRow))


def test_old_slack_retry_keys_are_pruned_and_once_keys_kept(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("do you sell gift cards?", sender="+12125550177")
    slack_clinic.deliver()
    slack_clinic.click(FRONT_DESK_USER, "triage_claim", "1", "front-desk")
    jobs = Jobs(slack_clinic.service)
    jobs.handoff(force=True)
    before = keys(slack_clinic)
    assert any(k.startswith("slack-interaction:") for k in before) and any(k.startswith("handoff:") for k in before)
    assert jobs.prune() == 0  # a click just now: Slack could still be retrying it
    slack_clinic.clock.advance(timedelta(days=2, minutes=1))
    assert jobs.prune() == 1
    after = keys(slack_clinic)
    assert not any(k.startswith("slack-") for k in after) and [k for k in before if not k.startswith("slack-")] == after
    # The same click replayed now is no longer recognised as a retry, but it changes nothing: already claimed.
    slack_clinic.click(FRONT_DESK_USER, "triage_claim", "1", "front-desk")
    assert slack_clinic.ticket(1).claimed_by is not None
