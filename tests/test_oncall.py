"""On-call rota, overrides from chat, and the "until ..." times staff type — against a real SQLite database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config.loader import load_config
from bot.config.models import ClinicConfig
from bot.oncall import (
    OnCall,
    Override,
    active_overrides,
    add_override,
    current_on_call,
    next_shift_change,
    on_call,
    parse_until,
)
from bot.storage.db import Database
from tests.dburl import db_url

TZ = ZoneInfo("America/New_York")

CLINIC_YML = """\
clinic:
  name: Oncall Clinic
  timezone: America/New_York
staff:
  - {id: dr-lee, name: Dr. Lee, chat_user: UDRLEE, clinical: true}
  - {id: dr-park, name: Dr. Park, chat_user: UDRPARK, clinical: true}
  - {id: nurse, name: Nurse Kim, chat_user: UNURSE, clinical: true}
  - {id: jess, name: Jess, chat_user: UJESS}
routing:
  oncall_provider: dr-lee
oncall:
  shift_change: "08:00"
  weekly:
    mon: dr-park
    tue: nurse
    wed: dr-park
    thu: nurse
    fri: dr-park
    sat: nurse
  backup:
    mon: nurse
    tue: dr-park
    sat: dr-park
booking:
  link: https://book.test/x
"""


def local(*args: int) -> datetime:
    """A wall-clock time in New York, as aware UTC."""
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


@pytest.fixture
def config(tmp_path: Path) -> ClinicConfig:
    path = tmp_path / "clinic.yml"
    path.write_text(CLINIC_YML, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def db(tmp_path: Path):
    database = Database(db_url(tmp_path, "o"))
    yield database
    database.dispose()


# --- the weekly rota ---------------------------------------------------------------------------------------------


def test_shift_boundary_at_shift_change(config: ClinicConfig) -> None:
    # Tuesday 2026-11-24: 07:59 is still Monday's shift (dr-park), 08:00 is Tuesday's (nurse).
    before = on_call(config, [], local(2026, 11, 24, 7, 59))
    assert (before.provider, before.backup, before.source) == ("dr-park", "nurse", "weekly rota (Mon)")
    assert before.shift_start == local(2026, 11, 23, 8)
    assert before.shift_end == local(2026, 11, 24, 8)
    after = on_call(config, [], local(2026, 11, 24, 8, 0))
    assert after == OnCall("nurse", "dr-park", "weekly rota (Tue)", local(2026, 11, 24, 8), local(2026, 11, 25, 8))
    assert after.shift_start.tzinfo is UTC


def test_night_after_shift_start_belongs_to_previous_day(config: ClinicConfig) -> None:
    for hour in (20, 23):
        assert on_call(config, [], local(2026, 11, 23, hour)).provider == "dr-park"  # Monday evening
    for hour in (0, 3, 7):
        result = on_call(config, [], local(2026, 11, 24, hour))  # Tuesday small hours: still Monday's shift
        assert (result.provider, result.source) == ("dr-park", "weekly rota (Mon)")
    assert next_shift_change(config, local(2026, 11, 24, 3)) == local(2026, 11, 24, 8)
    assert next_shift_change(config, local(2026, 11, 24, 8)) == local(2026, 11, 25, 8)


def test_dst_fall_back_week(config: ClinicConfig) -> None:
    # 2026-11-01 (Sunday) 02:00 EDT -> 01:00 EST. Saturday's shift covers the change and lasts 25 hours.
    sat = on_call(config, [], datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # 01:30 EDT, first pass
    again = on_call(config, [], datetime(2026, 11, 1, 6, 30, tzinfo=UTC))  # 01:30 EST, second pass
    assert sat == again
    assert sat.provider == "nurse" and sat.source == "weekly rota (Sat)" and sat.backup == "dr-park"
    assert sat.shift_start == datetime(2026, 10, 31, 12, tzinfo=UTC)  # 08:00 EDT
    assert sat.shift_end == datetime(2026, 11, 1, 13, tzinfo=UTC)  # 08:00 EST
    assert sat.shift_end - sat.shift_start == timedelta(hours=25)
    assert on_call(config, [], datetime(2026, 11, 1, 12, 59, tzinfo=UTC)).source == "weekly rota (Sat)"  # 07:59 EST
    sunday = on_call(config, [], datetime(2026, 11, 1, 13, tzinfo=UTC))  # 08:00 EST
    assert sunday.shift_end - sunday.shift_start == timedelta(hours=24)
    # ...and the spring-forward shift is 23 hours.
    march = on_call(config, [], local(2027, 3, 14, 3))  # 2027-03-14 02:00 EST -> 03:00 EDT
    assert (march.shift_start, march.shift_end) == (local(2027, 3, 13, 8), local(2027, 3, 14, 8))
    assert march.shift_end - march.shift_start == timedelta(hours=23)


def test_fallback_to_routing_oncall_provider(config: ClinicConfig) -> None:
    sunday = on_call(config, [], local(2026, 11, 29, 9))  # no Sunday entry in the rota, no Sunday backup
    assert (sunday.provider, sunday.backup, sunday.source) == ("dr-lee", None, "routing.oncall_provider")
    assert on_call(config, [], local(2026, 11, 30, 7, 59)).provider == "dr-lee"  # still Sunday's shift
    nobody = config.model_copy(update={"routing": config.routing.model_copy(update={"oncall_provider": ""})})
    empty = on_call(nobody, [], local(2026, 11, 29, 9))
    assert empty.provider is None and "no rota entry for Sun" in empty.source


def test_naive_when_is_refused(config: ClinicConfig) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(config, [], datetime(2026, 11, 24, 9))


# --- overrides ---------------------------------------------------------------------------------------------------


def test_override_wins_then_expires(config: ClinicConfig, db: Database) -> None:
    now = local(2026, 11, 24, 15)  # Tuesday afternoon: nurse on the rota
    with db.transaction() as session:
        row = add_override(session, provider="dr-lee", until=local(2026, 11, 25, 8), set_by="U123", now=now)
        assert row.id is not None and row.starts_at == now and row.created_at == now
    with db.transaction() as session:
        during = current_on_call(session, config, local(2026, 11, 24, 22))
        assert during.provider == "dr-lee"
        assert during.source == "override by U123 until Wed 08:00"
        assert during.backup == "dr-park"  # the rota's backup for Tuesday still applies
        assert (during.shift_start, during.shift_end) == (local(2026, 11, 24, 8), local(2026, 11, 25, 8))
        assert current_on_call(session, config, local(2026, 11, 25, 7, 59)).provider == "dr-lee"
        expired = current_on_call(session, config, local(2026, 11, 25, 8))
        assert (expired.provider, expired.source) == ("dr-park", "weekly rota (Wed)")
        assert current_on_call(session, config, now - timedelta(seconds=1)).provider == "nurse"  # not yet started
        assert active_overrides(session, local(2026, 11, 25, 8)) == []


def test_latest_override_wins(config: ClinicConfig, db: Database) -> None:
    t0 = local(2026, 11, 24, 9)
    with db.transaction() as session:
        add_override(session, provider="dr-lee", until=local(2026, 11, 26, 8), set_by="U1", now=t0)
        add_override(session, provider="dr-park", until=local(2026, 11, 24, 18), set_by="U2",
                     now=t0 + timedelta(hours=1))
    with db.transaction() as session:
        assert current_on_call(session, config, local(2026, 11, 24, 9, 30)).provider == "dr-lee"
        latest = current_on_call(session, config, local(2026, 11, 24, 12))
        assert (latest.provider, latest.source) == ("dr-park", "override by U2 until Tue 18:00")
        assert [o.provider for o in active_overrides(session, local(2026, 11, 24, 12))] == ["dr-lee", "dr-park"]
        # The later one ran out: the earlier, longer one is back in charge.
        assert current_on_call(session, config, local(2026, 11, 24, 18)).provider == "dr-lee"
    with db.transaction() as session:  # same creation time: the one added last wins
        add_override(session, provider="nurse", until=local(2026, 11, 24, 20), set_by="U3", now=t0 + timedelta(hours=2))
        add_override(session, provider="dr-park", until=local(2026, 11, 24, 20), set_by="U4",
                     now=t0 + timedelta(hours=2))
    with db.transaction() as session:
        assert current_on_call(session, config, local(2026, 11, 24, 19)).source.startswith("override by U4")


def test_pure_override_selection(config: ClinicConfig) -> None:
    start, until = local(2026, 11, 24, 9), local(2026, 12, 3, 8)
    older = Override("dr-lee", start, until, "U1", created_at=start)
    newer = Override("nurse", start, until, "U2", created_at=start + timedelta(minutes=1))
    result = on_call(config, [newer, older], local(2026, 11, 24, 10))
    assert result.provider == "nurse"
    assert result.source == "override by U2 until Thu 2026-12-03 08:00"  # far off: the date is shown


def test_add_override_validates(db: Database) -> None:
    now = local(2026, 11, 24, 15)
    with db.transaction() as session:
        with pytest.raises(ValueError, match="must be after now"):
            add_override(session, provider="dr-lee", until=now, set_by="U1", now=now)
        with pytest.raises(ValueError, match="timezone-aware"):
            add_override(session, provider="dr-lee", until=datetime(2026, 11, 25, 8), set_by="U1", now=now)
        assert active_overrides(session, now) == []


# --- parse_until -------------------------------------------------------------------------------------------------

NOW = local(2026, 11, 24, 15)  # Tuesday 15:00 in New York


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 8am", local(2026, 11, 25, 8)),
        ("tomorrow 08:00", local(2026, 11, 25, 8)),
        ("Tomorrow at 8 AM", local(2026, 11, 25, 8)),
        ("8am tomorrow", local(2026, 11, 25, 8)),
        ("until tomorrow 8:30pm", local(2026, 11, 25, 20, 30)),
        ("8am", local(2026, 11, 25, 8)),  # already past today: tomorrow's
        ("8:30pm", local(2026, 11, 24, 20, 30)),  # still ahead today
        ("20:30", local(2026, 11, 24, 20, 30)),
        ("3pm", local(2026, 11, 25, 15)),  # exactly now is not ahead
        ("12am", local(2026, 11, 25, 0)),
        ("12pm", local(2026, 11, 25, 12)),
        ("noon", local(2026, 11, 25, 12)),
        ("midnight", local(2026, 11, 25, 0)),
        ("today 6pm", local(2026, 11, 24, 18)),
        ("friday 6pm", local(2026, 11, 27, 18)),
        ("FRI 18:00", local(2026, 11, 27, 18)),
        ("fri midnight", local(2026, 11, 28, 0)),  # the end of Friday
        ("tuesday 6pm", local(2026, 11, 24, 18)),  # today counts when the time is still ahead
        ("tue 9am", local(2026, 12, 1, 9)),  # today's 9am has passed: next week's
        ("mon 08:00", local(2026, 11, 30, 8)),
        ("2026-11-25 08:00", local(2026, 11, 25, 8)),
        ("2026-11-25 8am", local(2026, 11, 25, 8)),
        ("in 3 hours", NOW + timedelta(hours=3)),
        ("in 90 minutes", NOW + timedelta(minutes=90)),
        ("In an hour", NOW + timedelta(hours=1)),
        ("in 1.5h", NOW + timedelta(minutes=90)),
        ("in 2 days", NOW + timedelta(days=2)),
    ],
)
def test_parse_until(text: str, expected: datetime) -> None:
    result = parse_until(text, NOW, TZ)
    assert result == expected
    assert result.tzinfo is UTC


def test_parse_until_across_dst() -> None:
    saturday = local(2026, 10, 31, 15)  # EDT; the clocks go back overnight
    assert parse_until("tomorrow 8am", saturday, TZ) == datetime(2026, 11, 1, 13, tzinfo=UTC)  # 08:00 EST
    assert parse_until("in 24 hours", saturday, TZ) == saturday + timedelta(hours=24)  # elapsed, not wall


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no time given"),
        ("whenever", "could not read a time in 'whenever'"),
        ("next week", "could not read a time"),
        ("tomorrow", "has no time of day"),
        ("friday", "has no time of day"),
        ("tomorrow 8", "ambiguous"),
        ("25:00", "not a valid time"),
        ("13pm", "not a valid time"),
        ("2026-02-30 08:00", "not a real date"),
        ("in 3 fortnights", "unknown unit"),
        ("in a while", "unknown unit"),
        ("in lots of hours", "could not read the duration"),
    ],
)
def test_parse_until_garbage(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_until(text, NOW, TZ)


@pytest.mark.parametrize("text", ["2026-11-24 08:00", "2026-11-24 15:00", "today 9am", "in 0 minutes"])
def test_parse_until_past_times(text: str) -> None:
    with pytest.raises(ValueError, match="not in the future"):
        parse_until(text, NOW, TZ)


def test_parse_until_needs_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_until("8am", datetime(2026, 11, 24, 15), TZ)
