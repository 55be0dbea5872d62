"""Issue 7: thanks, emoji, spam and opt-outs collect quietly: no breach, no ping, only counted in the digest."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.digest import compute_digest, digest_document
from integrations.slack.document import slack_document
from tests.conftest import Clinic, local


@pytest.mark.parametrize(("quiet", "stop"), [
    ("👍", "STOP"),
    ("gracias!!", "BAJA"),
    ("wrong number sorry", "cancelar"),
])
def test_quiet_tickets_are_never_breaches_and_opt_outs_are_counted(clinic: Clinic, quiet: str, stop: str) -> None:
    clinic.sms(quiet, sender="+12125550188")
    clinic.sms(stop, sender="+12125550189")
    clinic.deliver()
    [ticket] = clinic.tickets()  # the opt-out made no ticket
    assert ticket.category == "other"
    [card] = [text for _, text in clinic.poster.posts if f"#{ticket.id}" in text]
    assert "SLA: none (no answer owed)" in card and "<@" not in card  # nobody mentioned, nothing owed
    clinic.clock.advance(timedelta(hours=6))  # far past the other category's 4 h
    with clinic.service.db.transaction() as session:
        digest = compute_digest(session, clinic.service.config, local(2026, 11, 24).date(), clinic.clock.now())
    assert digest.breaches == ()
    text = slack_document(digest_document(digest, clinic.service.config))  # as posted to Slack
    assert "• Other: 1 ticket collected quietly (no answer owed)" in text
    assert "*Opt-outs:* 1 (STOP and the like; the bot no longer texts them)" in text
    assert "*SLA breaches:* none" in text
