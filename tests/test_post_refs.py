"""A posted message's reference is opaque (bot/posts.py): platform, conversation, message id, thread root.

Posts recorded before (Slack's channel and ts) carry on after the migration, and a Teams conversation id (far
longer than a Slack channel id) fits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.posts import PostRef
from bot.storage.db import Database, make_engine, upgrade
from bot.storage.models import ChatPostRow, TicketRow
from tests.dburl import db_url

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TEAMS_CONVERSATION = "19:" + "a1b2c3d4" * 12 + "@thread.tacv2;messageid=1732460400000"


def test_a_slack_post_from_before_is_kept_and_a_teams_id_fits(tmp_path: Path) -> None:
    url = db_url(tmp_path, "refs", empty=True)
    engine = make_engine(url)
    upgrade(engine, "0006_outbox")
    with Session(engine) as session, session.begin():  # the tickets table is the same at 0006 and at head
        session.add(TicketRow(status="open", category="billing", urgency="normal", confidence=0.9, reasons=[],
                              channel="sms", sender="+12125550100", patient_key="k", patient={}, role="billing",
                              created_at=NOW, updated_at=NOW))
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO chat_posts (ticket_id, kind, role, channel, ts, created_at, current, note)"
            " VALUES (1, 'card', 'billing', 'C0BILLING', '1732460400.000100', :now, true, '')"), {"now": NOW})
    upgrade(engine)
    engine.dispose()
    db = Database(url, migrate=False)
    with db.transaction() as session:
        [old] = session.scalars(select(ChatPostRow)).all()
        assert old.ref == PostRef("slack", "C0BILLING", "1732460400.000100")
        session.add(ChatPostRow(ticket_id=1, kind="card", role="billing", platform="teams",
                                conversation=TEAMS_CONVERSATION, message_id="1732460400123", created_at=NOW))
    with db.transaction() as session:
        teams = session.scalars(select(ChatPostRow).where(ChatPostRow.platform == "teams")).one()
        assert teams.ref == PostRef("teams", TEAMS_CONVERSATION, "1732460400123")
    with pytest.raises(IntegrityError), db.transaction() as session:  # one row per posted message
        session.add(ChatPostRow(ticket_id=1, kind="card", role="billing", platform="slack", conversation="C0BILLING",
                                message_id="1732460400.000100", created_at=NOW))
    db.dispose()


def test_an_outbox_result_reads_back_whichever_way_it_was_written() -> None:
    ref = PostRef("teams", TEAMS_CONVERSATION, "1732460400123", thread_root="1732460400000")
    assert PostRef.from_result(ref.as_result()) == ref
    # A row sent before references were opaque (Slack only then).
    assert PostRef.from_result({"channel": "C0BILLING", "ts": "1.2"}) == PostRef("slack", "C0BILLING", "1.2")
