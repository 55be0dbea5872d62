"""Two `serve` processes on one PostgreSQL database, as behind a load balancer: both take webhooks, both run the
outbox, the SLA sweep, the hand-off and the digest. Every card, nudge and digest happens exactly once.

Needs a PostgreSQL server: TRIAGE_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres);
each run creates a fresh database and drops it afterwards. Skipped, saying so, when none is reachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.storage.models import SeenDeliveryRow
from tests.process import checks
from tests.process.conftest import BotFactory
from tests.process.harness import Sender, Store, clinic_yaml, wait_for
from tests.process.traffic import scripts
from tests.slack_standin import SlackStandIn
from tests.standins import StandIn

PG_URL = os.environ.get("TRIAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NUDGED = ("clinical", "billing", "adverse_event")


@pytest.fixture
def pg_database() -> Iterator[str]:
    admin_url = make_url(PG_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except (OperationalError, ImportError) as exc:
        pytest.skip(f"no PostgreSQL reachable at {admin_url.render_as_string(hide_password=True)} "
                    f"(set TRIAGE_TEST_PG_URL): {type(exc).__name__}")
    name = f"harness_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _next_minute(tz: ZoneInfo, at_least: timedelta) -> str:
    at = datetime.now(tz) + at_least
    at = (at + timedelta(minutes=1)).replace(second=0, microsecond=0)
    return at.strftime("%H:%M")


def test_two_instances_share_the_work_once(tmp_path: Path, bots: BotFactory, slack: SlackStandIn,
                                           twilio: StandIn, pg_database: str) -> None:
    config = clinic_yaml(sla_minutes={"clinical": 1, "billing": 1, "adverse_event": 1},
                         ladder="[{after_minutes: 0, notify: role}]",
                         page_ladder="[{after_minutes: 0, notify: backup}]",
                         digest_at=_next_minute(ZoneInfo("America/New_York"), timedelta(seconds=90)))
    common = {"slack_api": f"{slack.url}/api/", "twilio_api": twilio.url, "config": config}
    one = bots(pg_database, name="one", **common)
    two = bots(pg_database, name="two", **common)
    one.spawn()
    two.spawn()  # started together: migrations and start-up race as they would in a deployment
    one.wait_ready()
    two.wait_ready()
    store = Store(pg_database)
    # The load balancer: patients alternate between the instances.
    sender = Sender(lambda sms: (one if int(sms.sid[-1]) % 2 else two).url, concurrency=16)
    sent = sender.burst(scripts(80, bursts=4, adverse=2, run="two"))
    assert all(s.acknowledged for s in sent), [(s.sms.sid, s.status, s.error) for s in sent if not s.acknowledged]
    assert checks.stored_once(store, {s.sms.sid for s in sent}) == []

    wait_for(lambda: store.untriaged() == 0, 30, "every message triaged")

    def nudged() -> list[int]:
        claimed = {key.split(":")[1] for (key,) in store.rows(select(SeenDeliveryRow.key))
                   if key.startswith("sla:")}
        return [t.id for t in store.tickets() if t.category in NUDGED and t.status == "open"
                and str(t.id) not in claimed]

    def digests() -> list[str]:
        return [str(p.get("text")) for p in checks.slack_posts(slack)
                if p["channel"] == "managers" and str(p.get("text", "")).startswith("*Daily digest")]

    wait_for(lambda: not nudged(), 180, "every clinical, billing and adverse-event ticket nudged",
             describe=lambda: f"not nudged: {nudged()}")
    wait_for(digests, 240, "the scheduled digest posted")
    wait_for(lambda: not checks.pending(store), 180, "every delivery sent",
             describe=lambda: "\n".join(checks.pending(store)[:20]))
    assert one.alive() and two.alive()

    assert len(digests()) == 1, digests()
    assert checks.one_ticket_per_sender(store) == []
    assert checks.one_card_each(store, slack) == []
    assert checks.chat_delivered_once(store, slack) == []
    assert checks.sms_delivered_once(store, twilio) == []
    # Each nudge once: no ticket's thread holds the same nudge line twice (each follow-up the patient sent has a
    # line of its own, and two follow-ups have the same words).
    for post in checks.slack_posts(slack):
        lines = [str(r.get("text")) for r in post.get("replies", []) if not str(r.get("text")).startswith("↩️")]
        assert len(lines) == len(set(lines)), (post["channel"], lines)
    assert not [r for r in store.outbox() if r.status == "failed"]
    sender.close()
    store.close()
