"""Crash: a burst of signed webhooks into a real `serve`, `kill -9` in the middle, restart, Twilio's retries.

Every message that got a 2xx is one stored message; each patient's messages are one ticket (a burst of three is
one ticket, one card); every ticket that needs a human has one card in Slack; nobody gets the same text twice;
what was stored but not triaged when the process died is triaged within seconds of the restart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.dburl import db_url
from tests.process import checks
from tests.process.conftest import BotFactory
from tests.process.harness import Sender, Sent, Store, wait_for
from tests.process.traffic import scripts
from tests.slack_standin import SlackStandIn
from tests.standins import StandIn

TOTAL = 300
KILL_AFTER = 120  # acknowledged webhooks before the kill
TRIAGED_WITHIN = 30  # seconds: the backlog is ~180 messages, triaged at ~10/s while their cards and replies go out
DELIVERED_WITHIN = 240


def test_kill_9_mid_burst_then_restart(tmp_path: Path, bots: BotFactory, slack: SlackStandIn,
                                       twilio: StandIn) -> None:
    url = db_url(tmp_path, "crash")
    bot = bots(url, slack_api=f"{slack.url}/api/", twilio_api=twilio.url).start()
    store = Store(url)
    sender = Sender(lambda sms: bot.url, concurrency=16)
    traffic = scripts(TOTAL, run="crash")

    acked = 0
    killed = threading.Event()
    lock = threading.Lock()

    def on_sent(sent: Sent) -> None:
        nonlocal acked
        with lock:
            acked += sent.acknowledged
            if acked >= KILL_AFTER and not killed.is_set():
                killed.set()
                bot.kill()

    first = sender.burst(traffic, on_sent)
    assert killed.is_set(), "the burst finished before the kill: nothing was tested"
    assert not [s for s in first if s.status is not None and s.status >= 500], "5xx answered during the burst"
    unanswered = [s.sms for s in first if not s.acknowledged]
    assert unanswered, "every webhook was answered before the kill"

    bot.start()
    restarted = time.monotonic()
    # Twilio retries what it got no 2xx for, with the same MessageSid, and may retry some it did get one for.
    retried: list[Sent] = []
    waiting = list(unanswered) + [s.sms for s in first if s.acknowledged][:20]
    for _ in range(3):  # Twilio gives up after a few tries; so does this test
        answers = sender.burst([[sms] for sms in waiting])
        retried += answers
        waiting = [s.sms for s in answers if not s.acknowledged]
        if not waiting:
            break
    assert not waiting, [(s.sms.sid, s.status, s.error) for s in retried if not s.acknowledged][:10]
    acknowledged = {s.sms.sid for s in first + retried if s.acknowledged}
    assert len(acknowledged) == TOTAL

    resent = time.monotonic() - restarted
    wait_for(lambda: store.untriaged() == 0, TRIAGED_WITHIN,
             f"every stored message triaged within {TRIAGED_WITHIN} s of Twilio's retries (which ended "
             f"{resent:.0f} s after the restart)",
             describe=lambda: f"{store.untriaged()} untriaged")
    assert checks.stored_once(store, acknowledged) == []
    assert len(store.inbound()) == TOTAL
    assert checks.one_ticket_per_sender(store) == []

    wait_for(lambda: not checks.pending(store), DELIVERED_WITHIN, "every card, page and reply delivered",
             describe=lambda: "\n".join(checks.pending(store)[:20]))
    assert checks.one_card_each(store, slack) == []
    assert checks.chat_delivered_once(store, slack) == []
    assert checks.sms_delivered_once(store, twilio) == []
    assert not [r for r in store.outbox() if r.status == "failed"], "a delivery was given up with no fault"
    sender.close()
    store.close()
