"""The embedded patient directory and the schema: imports with line-numbered errors, migrations up and down."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from bot.match.addresses import InvalidAddress, normalize_email, normalize_phone
from bot.match.directory import EmbeddedDirectory
from bot.storage.db import Database, downgrade, make_engine, upgrade
from bot.storage.models import PatientRow
from handlers.cli import main
from tests.dburl import db_url

CSV = """id,name,phone,email,tier,lifetime_value,balance,last_visit,next_appointment,provider,language
P-1,Olivia Bennett,(212) 555-0101,Olivia@Example.COM,1,"$3,240.00",0,2026-10-02,2026-12-01 10:00,Dr. Lee,en
P-2,Bad Phone,12,,,,,,,,
P-3,Bad Date,,bad.date@example.com,,,,last tuesday,,,
P-4,Sofía Ramírez,+52 55 1234 5678,,2,100,25.5,,,,es
"""


def test_phone_and_email_normalisation() -> None:
    assert normalize_phone("(212) 555-0101") == "+12125550101"
    assert normalize_phone("+52 55 1234 5678") == "+525512345678"
    assert normalize_email("  Olivia@Example.COM ") == "olivia@example.com"
    with pytest.raises(InvalidAddress):
        normalize_phone("12")
    with pytest.raises(InvalidAddress):
        normalize_email("olivia@")


def test_import_keeps_good_rows_and_names_bad_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "patients.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    url = db_url(tmp_path, "p")
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    assert main(["patients", "import", str(csv_path)]) == 1
    captured = capsys.readouterr()
    assert f"{csv_path}:3: phone '12'" in captured.err
    assert f"{csv_path}:4: last_visit 'last tuesday' is not a date" in captured.err
    assert "2 added, 0 updated, 2 problem(s)" in captured.out
    db = Database(url)
    with db.transaction() as session:
        directory = EmbeddedDirectory(session)
        olivia = directory.find_by_phone("+12125550101")
        assert olivia is not None and olivia.tier == 1 and olivia.lifetime_value_cents == 324000
        assert directory.find_by_email("olivia@example.com") == olivia
        assert olivia.next_appointment is not None and olivia.next_appointment.utcoffset() is not None
        sofia = directory.find_by_phone("+525512345678")
        assert sofia is not None and sofia.balance_cents == 2550 and sofia.language == "es"
    # Importing again updates instead of duplicating.
    assert main(["patients", "import", str(csv_path)]) == 1
    assert "0 added, 2 updated" in capsys.readouterr().out
    with db.transaction() as session:
        assert len(session.scalars(select(PatientRow)).all()) == 2


def test_migrations_go_up_and_down_one_step_at_a_time(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from bot.storage.db import alembic_config

    engine = make_engine(db_url(tmp_path, "stairs", empty=True))
    revisions = list(reversed(list(ScriptDirectory.from_config(alembic_config(engine)).walk_revisions())))
    for revision in revisions:
        upgrade(engine, revision.revision)
        downgrade(engine, revision.down_revision or "base")
        upgrade(engine, revision.revision)
    tables = set(inspect(engine).get_table_names())
    assert {"inbound_messages", "patients", "tickets", "ticket_events", "outbox"} <= tables
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
