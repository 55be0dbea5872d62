"""Faults: Slack and Twilio fail about 30% of calls (429 with Retry-After, 500, a hung answer past the client's
timeout, a reset connection, and for Slack an answer lost after the post was made), from a seeded RNG.

Every card, page, reply and nudge is delivered exactly once (what the stand-ins hold, against the outbox), and
a delivery that fails past its last retry is visible: a failed outbox row, an audit event and an alert to the
managers' channel, and the ticket goes back to a human.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from sqlalchemy import select

from bot.storage.models import SeenDeliveryRow, TicketEventRow
from tests.dburl import db_url, on_postgresql
from tests.faults import HANG, LOST_ANSWER, RATE_LIMITED, RESET, SERVER_ERROR, FaultPlan, FaultyProxy
from tests.process import checks
from tests.process.conftest import BotFactory
from tests.process.harness import Sender, Sms, Store, clinic_yaml, wait_for
from tests.process.traffic import scripts
from tests.slack_standin import SlackStandIn
from tests.standins import StandIn

DOOMED_PHONE = "+16469990001"  # every text to this patient fails: the reply goes past its last retry
NUDGED = ("clinical", "billing", "adverse_event")


def _to(body: bytes) -> str:
    return parse_qs(body.decode(errors="replace")).get("To", [""])[0]


def test_every_delivery_once_through_30_percent_failures(tmp_path: Path, bots: BotFactory, slack: SlackStandIn,
                                                         twilio: StandIn) -> None:
    slack_proxy = FaultyProxy(slack.url, FaultPlan(
        rate=0.3, seed=11, kinds=(RATE_LIMITED, SERVER_ERROR, HANG, RESET, LOST_ANSWER), hang_seconds=16,
        hang_budget=1, spare=lambda path, body: "auth.test" in path))
    twilio_proxy = FaultyProxy(twilio.url, FaultPlan(
        rate=0.3, seed=12, kinds=(RATE_LIMITED, SERVER_ERROR, HANG, RESET), hang_seconds=11, hang_budget=1,
        doomed=lambda path, body: _to(body) == DOOMED_PHONE))
    url = db_url(tmp_path, "faults")
    config = clinic_yaml(sla_minutes={"clinical": 1, "billing": 1, "adverse_event": 1},
                         ladder="[{after_minutes: 0, notify: role}]",
                         page_ladder="[{after_minutes: 0, notify: backup}]")
    bot = bots(url, slack_api=f"{slack_proxy.url}/api/", twilio_api=twilio_proxy.url, config=config).start()
    store = Store(url)
    sender = Sender(lambda sms: bot.url, concurrency=8)
    doomed = [Sms("SMdoomed1", DOOMED_PHONE, "what are your hours?")]
    traffic = [*scripts(60, bursts=3, adverse=2, run="faults"), doomed]
    first, sent = sender.until_acknowledged(traffic)
    acknowledged = {s.sms.sid for s in sent if s.acknowledged}
    assert len(acknowledged) == sum(map(len, traffic)), [(s.sms.sid, s.status, s.error) for s in sent
                                                         if not s.acknowledged][:10]

    wait_for(lambda: store.untriaged() == 0, 60, "every message triaged")

    def nudged() -> list[int]:
        claimed = {key.split(":")[1] for (key,) in store.rows(select(SeenDeliveryRow.key))
                   if key.startswith("sla:")}
        return [t.id for t in store.tickets() if t.category in NUDGED and t.status == "open"
                and str(t.id) not in claimed]

    wait_for(lambda: not nudged(), 180, "every clinical, billing and adverse-event ticket nudged",
             describe=lambda: f"not nudged: {nudged()}")
    wait_for(lambda: not checks.pending(store), 240, "every delivery sent or given up",
             describe=lambda: "\n".join(checks.pending(store)[:20]))

    counts = slack_proxy.counts() + twilio_proxy.counts()
    assert counts[RATE_LIMITED] and counts[SERVER_ERROR] and counts[RESET], counts  # the faults did happen
    assert checks.chat_delivered_once(store, slack) == []
    assert checks.sms_delivered_once(store, twilio) == []
    assert checks.one_card_each(store, slack) == []
    assert checks.one_ticket_per_sender(store) == []
    pages = [r for r in store.outbox("chat.page", "page.sms")]
    assert pages and all(r.status == "sent" for r in pages), [(r.kind, r.status, r.last_error) for r in pages]

    # Past the last retry: failed, audited, alerted to the managers, and the ticket is a human's again.
    failed = [r for r in store.outbox() if r.status == "failed"]
    doomed_rows = [r for r in failed if r.kind == "reply.sms" and r.target == DOOMED_PHONE]
    assert len(doomed_rows) == 1, [(r.kind, r.target, r.status, r.last_error) for r in store.outbox("reply.sms")
                                   if r.target == DOOMED_PHONE]
    managers = [str(p.get("text")) for p in checks.slack_posts(slack) if p["channel"] == "managers"]
    for row in failed:  # the doomed reply, and anything else the faults pushed past its last retry
        if row.kind == "chat.alert":
            continue  # an alert that could not be posted goes to the error log and /readyz instead
        assert row.ticket_id is not None, (row.kind, row.target)
        events = [kind for (kind,) in store.rows(select(TicketEventRow.kind).where(
            TicketEventRow.ticket_id == row.ticket_id))]
        assert "delivery_failed" in events, (row.kind, events)
        alerts = [t for t in managers if f"ticket #{row.ticket_id}" in t and "failed" in t.lower()]
        assert len(alerts) == 1, (row.kind, alerts)
    doomed_ticket = doomed_rows[0].ticket_id
    assert {t.id: t.status for t in store.tickets()}[doomed_ticket or 0] == "open"
    # Vendor outages never slow the webhooks past Twilio's timeout: every text was acknowledged the first time.
    # Known gap on SQLite (issue 8's note): a delivery holds SQLite's one write lock while its vendor call runs,
    # so a vendor call that hangs can hold a webhook's store past the client's timeout; Twilio's retry then
    # delivers it (checked above: every message acknowledged and stored once). PostgreSQL has no such lock.
    late = [(s.sms.sid, s.status, s.error) for s in first if not s.acknowledged]
    if on_postgresql():
        assert late == []
    else:
        assert len(late) <= 3, late
    sender.close()
    store.close()
    slack_proxy.close()
    twilio_proxy.close()
