"""The managers' digest against a hand-seeded SQLite database whose every figure was worked out by hand.

Clinic time zone America/New_York (EST, UTC-5 on these dates). The day is Tue 2026-03-03 local,
i.e. [2026-03-03 05:00Z, 2026-03-04 05:00Z). "Now" is 2026-03-04 01:00 local.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest

from bot.config.loader import load_config
from bot.config.models import ClinicConfig
from bot.digest import (
    AdverseEventLine,
    Breach,
    DailyDigest,
    RoleOpen,
    StaffClaims,
    build_figure,
    compute_digest,
    day_window,
    digest_chart,
    digest_document,
    digest_text,
    format_duration,
    nearest_rank,
)
from bot.document import document_from_json, document_json
from bot.domain import Category
from bot.humanize import humanize_minutes
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow, TicketEventRow, TicketRow
from integrations.slack.document import slack_document
from tests.dburl import db_url

TZ = ZoneInfo("America/New_York")
DAY = date(2026, 3, 3)
NOW = datetime(2026, 3, 4, 1, 0, tzinfo=TZ)

CONFIG_YAML = """\
clinic:
  name: Test Clinic
  timezone: America/New_York
staff:
  - {id: dr-lee, name: Dr. Lee, chat_user: UDRLEE, clinical: true}
  - {id: nurse, name: Nurse Kim, chat_user: UNURSE, clinical: true}
  - {id: jess, name: Jess, chat_user: UJESS}
routing:
  oncall_provider: dr-lee
booking:
  link: https://book.test/x
"""

# Patient details planted in the data; none may ever reach the digest.
PATIENTS = [
    {"name": "Olivia Bennett", "phone": "+12125550101", "email": "olivia.bennett@example.com"},
    {"name": "Harper Collins", "phone": "+12125550102", "email": "harper.collins@example.com"},
    {"name": "Sofía Ramírez", "phone": "+12125550103", "email": "sofia.ramirez@example.com"},
]
BODIES = [
    "My upper lip is swelling badly after the filler yesterday",
    "Can I move my Botox appointment to Friday afternoon",
    "Why was my card charged twice for the peel",
]


def local(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=TZ)


def ev(kind: str, actor: str, at: datetime) -> tuple[str, str, datetime]:
    return (kind, actor, at)


# id: (created, category, channel, status, role, due, events, extra columns)
SEED: list[dict[str, Any]] = [
    # --- the day before: open tickets still waiting, a claim before the day starts ---
    dict(id=1, at=local(2, 22), category="booking", channel="sms", status="open", role="front_desk",
         due=local(2, 22, 5)),
    dict(id=2, at=local(2, 23, 50), category="billing", channel="email", status="open", role="billing",
         due=local(3, 0, 20)),
    dict(id=3, at=local(2, 20), category="clinical", channel="sms", status="claimed", role="clinical",
         due=local(2, 20, 10), claimed_by="UNURSE",
         events=[ev("claimed", "UDRLEE", local(2, 23, 55)), ev("unclaimed", "UDRLEE", local(3, 8)),
                 ev("claimed", "UNURSE", local(3, 9))]),
    # --- the day ---
    # faq at exactly local midnight (inclusive), auto-answered in 30 s
    dict(id=4, at=local(3, 0), category="faq", channel="web", status="auto_resolved", role="front_desk",
         due=local(3, 0, 5),
         events=[ev("auto_replied", "bot", local(3, 0)), ev("reply_sent", "bot", local(3, 0, 0, 30))]),
    # booking, auto-answered: 1 m, and 3 m exactly at its due time (not a breach)
    dict(id=5, at=local(3, 9), category="booking", channel="sms", status="auto_resolved", role="front_desk",
         due=local(3, 9, 5),
         events=[ev("auto_replied", "bot", local(3, 9)), ev("reply_sent", "bot", local(3, 9, 1))]),
    dict(id=6, at=local(3, 9, 10), category="booking", channel="sms", status="auto_resolved", role="front_desk",
         due=local(3, 9, 13), events=[ev("reply_sent", "bot", local(3, 9, 13))]),
    # booking claimed after 8 m, due at 5 m: breach, 3 m late
    dict(id=7, at=local(3, 10), category="booking", channel="dm", status="claimed", role="front_desk",
         due=local(3, 10, 5), claimed_by="UJESS",
         events=[ev("claimed", "UJESS", local(3, 10, 8)), ev("reply_sent", "UJESS", local(3, 10, 20))]),
    # booking: claimed at 2 m, replied at 4 m -> 2 m
    dict(id=8, at=local(3, 10, 30), category="booking", channel="sms", status="resolved", role="front_desk",
         due=local(3, 10, 35), claimed_by="UJESS",
         events=[ev("reply_sent", "UJESS", local(3, 10, 34)), ev("claimed", "UJESS", local(3, 10, 32)),
                 ev("resolved", "UJESS", local(3, 10, 40))]),
    # billing claimed after 20 m by someone not in the config
    dict(id=9, at=local(3, 11), category="billing", channel="email", status="claimed", role="billing",
         due=local(3, 11, 30), claimed_by="UTEMP", events=[ev("claimed", "UTEMP", local(3, 11, 20))]),
    # billing never answered, still open: breach (no response)
    dict(id=10, at=local(3, 12), category="billing", channel="web", status="open", role="billing",
         due=local(3, 12, 30)),
    # clinical: 4 m, 15 m (due 10 m: breach, 5 m late), 6 m by reply only
    dict(id=11, at=local(3, 13), category="clinical", channel="sms", status="claimed", role="clinical",
         due=local(3, 13, 10), claimed_by="UNURSE", events=[ev("claimed", "UNURSE", local(3, 13, 4))]),
    dict(id=12, at=local(3, 14), category="clinical", channel="email", status="resolved", role="clinical",
         due=local(3, 14, 10), claimed_by="UDRLEE", events=[ev("claimed", "UDRLEE", local(3, 14, 15))]),
    dict(id=13, at=local(3, 15), category="clinical", channel="web", status="resolved", role="clinical",
         due=local(3, 15, 10), events=[ev("reply_sent", "UDRLEE", local(3, 15, 6))]),
    # adverse event acknowledged after 4 minutes (claimed after 6)
    dict(id=14, at=local(3, 16), category="adverse_event", channel="sms", status="claimed", role="clinical",
         due=local(3, 16, 5), paged="dr-lee", claimed_by="UDRLEE", acknowledged_by="UDRLEE",
         acknowledged_at=local(3, 16, 4),
         events=[ev("paged", "bot", local(3, 16)), ev("acknowledged", "UDRLEE", local(3, 16, 4)),
                 ev("claimed", "UDRLEE", local(3, 16, 6))]),
    # adverse event never acknowledged: breach (no response)
    dict(id=15, at=local(3, 17), category="adverse_event", channel="dm", status="open", role="clinical",
         due=local(3, 17, 5), paged="dr-lee", events=[ev("paged", "bot", local(3, 17))]),
    # 23:30 local: in the day; "other" due at 03:30 next day, not yet due at now
    dict(id=16, at=local(3, 23, 30), category="other", channel="email", status="open", role="front_desk",
         due=local(4, 3, 30)),
    # faq auto-resolved with the reply still undelivered and no due time: no response, no breach
    dict(id=17, at=local(3, 18), category="faq", channel="sms", status="auto_resolved", role="front_desk",
         due=None, events=[ev("auto_replied", "bot", local(3, 18))]),
    # --- after the day ---
    # 00:10 local next day: excluded from the day, but open and unclaimed now
    dict(id=18, at=local(4, 0, 10), category="booking", channel="sms", status="open", role="front_desk",
         due=local(4, 0, 15)),
    # a claim of an old ticket after the day ended does not count
    dict(id=19, at=local(2, 21), category="clinical", channel="sms", status="claimed", role="clinical",
         due=local(2, 21, 10), claimed_by="UNURSE", events=[ev("claimed", "UNURSE", local(4, 0, 20))]),
    # created after `now`: not open "now"
    dict(id=20, at=local(4, 2), category="booking", channel="sms", status="open", role="front_desk",
         due=local(4, 2, 5)),
]


def seed(db: Database) -> None:
    with db.transaction() as session:
        for i, spec in enumerate(SEED):
            patient = PATIENTS[i % len(PATIENTS)]
            created: datetime = spec["at"]
            ticket = TicketRow(
                id=spec["id"], status=spec["status"], category=spec["category"],
                urgency=Category(spec["category"]).urgency.value, confidence=0.9, reasons=["seeded"],
                channel=spec["channel"], sender=patient["phone"] if spec["channel"] == "sms" else patient["email"],
                patient_key=f"P-{i}", patient=dict(patient, tier=2), role=spec["role"],
                paged=spec.get("paged"), claimed_by=spec.get("claimed_by"),
                acknowledged_by=spec.get("acknowledged_by"), acknowledged_at=spec.get("acknowledged_at"),
                created_at=created, updated_at=created, due_at=spec["due"],
            )
            session.add(ticket)
            session.flush()
            session.add(InboundMessageRow(
                channel=spec["channel"], provider_message_id=f"m-{spec['id']}", sender=ticket.sender,
                sender_name=patient["name"], body=BODIES[i % len(BODIES)], received_at=created,
                processed_at=created, ticket_id=ticket.id,
            ))
            session.add(TicketEventRow(ticket_id=ticket.id, kind="received", actor=spec["channel"], at=created,
                                       data={"message_id": spec["id"]}))
            for kind, actor, at in spec.get("events", []):
                session.add(TicketEventRow(ticket_id=ticket.id, kind=kind, actor=actor, at=at, data={}))


@pytest.fixture()
def config(tmp_path: Path) -> ClinicConfig:
    path = tmp_path / "clinic.yml"
    path.write_text(CONFIG_YAML, encoding="utf-8")
    return load_config(path)


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = Database(db_url(tmp_path, "d"))
    seed(database)
    yield database  # type: ignore[misc]
    database.dispose()


@pytest.fixture()
def digest(db: Database, config: ClinicConfig) -> DailyDigest:
    with db.session() as session:
        return compute_digest(session, config, DAY, NOW)


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def test_window_is_local_midnight_to_local_midnight(digest: DailyDigest, config: ClinicConfig) -> None:
    assert digest.window_start == datetime(2026, 3, 3, 5, tzinfo=UTC)
    assert digest.window_end == datetime(2026, 3, 4, 5, tzinfo=UTC)
    assert digest.day == DAY and digest.timezone == "America/New_York"
    assert digest.generated_at == datetime(2026, 3, 4, 6, tzinfo=UTC)
    # DST starts 2026-03-08 in New York: that local day is 23 hours long
    start, end = day_window(config, date(2026, 3, 8))
    assert (start, end - start) == (datetime(2026, 3, 8, 5, tzinfo=UTC), timedelta(hours=23))


def test_volume(digest: DailyDigest) -> None:
    assert digest.total == 14  # tickets 4..17
    assert [(c.category.value, c.count) for c in digest.by_category] == [
        ("adverse_event", 2), ("clinical", 3), ("billing", 2), ("booking", 4), ("faq", 2), ("other", 1),
    ]
    assert [(c.channel, c.count) for c in digest.by_channel] == [("sms", 6), ("email", 3), ("web", 3), ("dm", 2)]


def test_auto_resolved_share(digest: DailyDigest) -> None:
    assert digest.auto_resolved == 4  # 4, 5, 6, 17
    assert digest.auto_resolved_share == 4 / 14


def test_first_response_per_category(digest: DailyDigest) -> None:
    got = {r.category.value: (r.tickets, r.responded, r.median, r.p90, r.target_minutes, r.met)
           for r in digest.first_response}
    # met and breached by the same rule as the breach list (the due time); an unanswered ticket past due is
    # breached, one not yet due is waiting, one with no due time is neither (ticket 17)
    assert {r.category.value: (r.met, r.breached, r.waiting) for r in digest.first_response} == {
        "adverse_event": (1, 1, 0), "clinical": (2, 1, 0), "billing": (1, 1, 0), "booking": (3, 1, 0),
        "faq": (1, 0, 0), "other": (0, 0, 0),  # issue 7: an other ticket owes no answer
    }
    assert sum(r.breached for r in digest.first_response) == digest.breach_count
    assert [r.category for r in digest.first_response] == list(Category)
    assert got == {
        # [4 m] (acknowledged beats the later claim); the unacknowledged page has none
        "adverse_event": (2, 1, m(4), m(4), 5, 1),
        # [4, 6, 15]: median 6, p90 = 3rd smallest (ceil 2.7); 15 > 10
        "clinical": (3, 3, m(6), m(15), 10, 2),
        # [20]; ticket 10 never answered
        "billing": (2, 1, m(20), m(20), 30, 1),
        # [1, 2, 3, 8]: median 2.5, p90 = 4th smallest (ceil 3.6); 8 > 5
        "booking": (4, 4, timedelta(minutes=2, seconds=30), m(8), 5, 3),
        # [30 s]; ticket 17 only has auto_replied, which is not a response
        "faq": (2, 1, timedelta(seconds=30), timedelta(seconds=30), 5, 1),
        # ticket 16 not answered yet
        "other": (1, 0, None, None, 240, 0),
    }


def test_breaches(digest: DailyDigest) -> None:
    assert digest.breach_count == 4
    assert digest.breaches == (
        Breach(7, Category.BOOKING, local(3, 10, 5).astimezone(UTC), local(3, 10, 8).astimezone(UTC), m(3)),
        Breach(10, Category.BILLING, local(3, 12, 30).astimezone(UTC), None, timedelta(hours=12, minutes=30)),
        Breach(12, Category.CLINICAL, local(3, 14, 10).astimezone(UTC), local(3, 14, 15).astimezone(UTC), m(5)),
        Breach(15, Category.ADVERSE_EVENT, local(3, 17, 5).astimezone(UTC), None, timedelta(hours=7, minutes=55)),
    )


def test_open_and_unclaimed_now(digest: DailyDigest) -> None:
    # 1 (27 h), 2 (25 h 10 m), 10 (13 h), 15 (8 h), 16 (1 h 30 m), 18 (50 m); 20 is created after now
    open_now = digest.open_now
    assert open_now.total == 6
    assert open_now.by_role == (
        RoleOpen("front_desk", 3, 1620), RoleOpen("billing", 2, 1510), RoleOpen("clinical", 1, 480),
    )
    assert (open_now.oldest_ticket_id, open_now.oldest_age_minutes) == (1, 1620)


def test_adverse_events(digest: DailyDigest) -> None:
    assert digest.adverse_events == (AdverseEventLine(14, m(4), "Dr. Lee"), AdverseEventLine(15, None, None))
    assert [a.minutes_to_acknowledge for a in digest.adverse_events] == [4.0, None]


def test_claims_per_staff(digest: DailyDigest) -> None:
    # claims inside the day: 3 (UNURSE 09:00), 7, 8 (UJESS), 9 (UTEMP), 11 (UNURSE), 12, 14 (UDRLEE);
    # 3's claim at 23:55 the day before and 19's at 00:20 after the day are not counted
    assert digest.claims == (
        StaffClaims("UDRLEE", "Dr. Lee", 2), StaffClaims("UJESS", "Jess", 2),
        StaffClaims("UNURSE", "Nurse Kim", 2), StaffClaims("UTEMP", "UTEMP", 1),
    )


def test_text(digest: DailyDigest, config: ClinicConfig) -> None:
    text = slack_digest(digest, config)
    lines = text.splitlines()
    assert lines[0] == "*Daily digest · Test Clinic · Tue 3 Mar 2026*"
    assert "*Volume:* 14 tickets · auto-resolved 29% (4)" in lines
    assert "> Adverse event 2 · Clinical 3 · Billing 2 · Booking 4 · FAQ 2 · Other 1" in lines
    assert "> SMS 6 · Email 3 · Web 3 · DM 2" in lines
    # The old "Booking 3/4" counted only answered tickets as the denominator; now every ticket is counted,
    # met and breached by the due time, and durations read as words ("12 h 30 min", not "12h 30m").
    assert "• Adverse event: 2 tickets · 1 met · 1 breached · 4 min / 4 min (target 5 min)" in lines
    assert "• Clinical: 3 tickets · 2 met · 1 breached · 6 min / 15 min (target 10 min)" in lines
    assert "• Billing: 2 tickets · 1 met · 1 breached · 20 min / 20 min (target 30 min)" in lines
    assert "• Booking: 4 tickets · 3 met · 1 breached · 3 min / 8 min (target 5 min)" in lines
    assert "• FAQ: 2 tickets · 1 met · 0 breached · under 1 min / under 1 min (target 5 min)" in lines
    assert "• Other: 1 ticket collected quietly (no answer owed)" in lines
    assert ("*SLA breaches:* 4 — #7 booking (3 min late), #10 billing (no response, 12 h 30 min late), "
            "#12 clinical (5 min late), #15 adverse event (no response, 7 h 55 min late)") in lines
    assert "*Open & unclaimed now:* 6 (front desk 3, billing 2, clinical 1) · oldest #1, 27 h" in lines
    assert "*Adverse events:* 2 — #14 acknowledged in 4 min by Dr. Lee; #15 *not acknowledged*" in lines
    assert "*Claims:* Dr. Lee 2 · Jess 2 · Nurse Kim 2 · UTEMP 1" in lines


def test_text_carries_no_patient_details(digest: DailyDigest, config: ClinicConfig) -> None:
    text = slack_digest(digest, config).lower()
    planted = [value for p in PATIENTS for value in p.values()] + BODIES
    planted += ["2125550101", "555-0101", "olivia", "bennett", "harper", "sofía", "swelling", "botox", "P-1"]
    for value in planted:
        assert value.lower() not in text, value


def test_chart_is_a_png_of_the_expected_size(digest: DailyDigest) -> None:
    png = digest_chart(digest)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(io.BytesIO(png))
    assert image.ndim >= 2
    height, width = image.shape[:2]
    assert abs(width - 900) <= 20 and abs(height - 400) <= 20
    assert digest_chart(digest) == png  # same digest, same bytes


def test_a_day_without_tickets(db: Database, config: ClinicConfig) -> None:
    with db.session() as session:
        empty = compute_digest(session, config, date(2026, 1, 1), NOW)
    assert empty.total == 0 and empty.auto_resolved_share == 0.0
    assert [c.count for c in empty.by_category] == [0] * 6
    assert all(r.median is None and r.p90 is None and r.responded == 0 for r in empty.first_response)
    assert empty.breaches == () and empty.adverse_events == () and empty.claims == ()
    assert empty.open_now.total == 6  # open now does not depend on the day
    text = slack_digest(empty, config)
    assert "*Volume:* 0 tickets · auto-resolved 0% (0)" in text and "*SLA breaches:* none" in text
    assert digest_chart(empty)[:8] == b"\x89PNG\r\n\x1a\n"


def test_nearest_rank_and_durations() -> None:
    assert nearest_rank(range(1, 71), 0.9) == 63  # 0.9 * 70 in floats is 63.000000000000014
    assert nearest_rank([5], 0.9) == 5
    assert nearest_rank(range(1, 11), 0.9) == 9
    assert nearest_rank(range(1, 12), 0.9) == 10
    assert [format_duration(d) for d in (m(0), timedelta(seconds=59), m(4), m(4.5), m(59), m(65), m(600))] == [
        "0 min", "under 1 min", "4 min", "5 min", "59 min", "1 h 5 min", "10 h",
    ]
    assert [humanize_minutes(x) for x in (708, 108, 60, 1620, 59.5, 0.2)] == [
        "11 h 48 min", "1 h 48 min", "1 h", "27 h", "1 h", "under 1 min",
    ]


def _bars(axes: Any) -> dict[str, list[float]]:
    return {c.get_label(): [round(b.get_height(), 6) for b in c.patches] for c in axes.containers}


def test_chart_shows_tickets_met_breached_and_acknowledgements(digest: DailyDigest) -> None:
    fig = build_figure(digest)
    assert fig.get_suptitle() == "Test Clinic · Triage digest · Tue 3 Mar 2026"
    volume, adverse = fig.axes[:2]
    assert [t.get_text() for t in volume.get_xticklabels()] == ["Adverse", "Clinical", "Billing", "Booking", "FAQ",
                                                                 "Other"]
    assert _bars(volume) == {
        "tickets": [2, 3, 2, 4, 2, 1], "met": [1, 2, 1, 3, 1, 0], "breached": [1, 1, 1, 1, 0, 0],
    }
    # adverse events, one bar each: #14 acknowledged in 4 min (under the 5-minute target), #15 never
    assert [t.get_text() for t in adverse.get_yticklabels()] == ["#14", "#15"]
    (bars,) = adverse.containers
    assert round(bars.patches[0].get_width(), 6) == 4.0
    assert [t.get_text() for t in adverse.texts] == ["4 min", "not acknowledged", "target 5 min"]
    green, red = (b.get_facecolor() for b in bars.patches)
    assert green != red
    assert adverse.get_title() == "Adverse events (2): time to acknowledge"


BOOKING_DAY = date(2026, 3, 10)  # a Tuesday; EDT from the 8th, UTC-4


def test_unanswered_tickets_past_due_are_breached_not_left_out(tmp_path: Path, config: ClinicConfig) -> None:
    """The seen digest: "Booking 4/4 met" beside two booking tickets listed as breached."""
    db = Database(db_url(tmp_path, "b"))
    specs = [  # (id, created minute past 10:00, response minute or None, category)
        (1, 0, 2, "booking"), (2, 10, 13, "booking"), (3, 20, 21, "booking"), (4, 30, 35, "booking"),
        (5, 40, None, "booking"), (6, 50, None, "booking"),
        (7, 0, None, "adverse_event"), (8, 5, 13, "adverse_event"),  # 8 acknowledged after 8 min: late
        (9, 59, None, "billing"),  # due 10:59 + 30 = 11:29, "now" is 11:00: not yet due
    ]
    with db.transaction() as session:
        for ticket_id, created, answered, category in specs:
            at = datetime(2026, 3, 10, 10, created, tzinfo=TZ)
            target = {"booking": 5, "adverse_event": 5, "billing": 30}[category]
            ticket = TicketRow(id=ticket_id, status="open" if answered is None else "claimed", category=category,
                               urgency=Category(category).urgency.value, confidence=0.9, reasons=[],
                               channel="sms", sender="+12125550101", role="front_desk", created_at=at,
                               updated_at=at, due_at=at + m(target))
            if category == "adverse_event" and answered is not None:
                ticket.acknowledged_at, ticket.acknowledged_by = at + m(answered - created), "UDRLEE"
            session.add(ticket)
            session.flush()
            if answered is not None:
                kind = "acknowledged" if category == "adverse_event" else "claimed"
                session.add(TicketEventRow(ticket_id=ticket_id, kind=kind, actor="UJESS",
                                           at=datetime(2026, 3, 10, 10, answered, tzinfo=TZ), data={}))
    with db.session() as session:
        got = compute_digest(session, config, BOOKING_DAY, datetime(2026, 3, 10, 11, 0, tzinfo=TZ))
    db.dispose()
    lines = slack_digest(got, config).splitlines()
    assert "• Booking: 6 tickets · 4 met · 2 breached · 3 min / 5 min (target 5 min)" in lines
    assert "• Adverse event: 2 tickets · 0 met · 2 breached · 8 min / 8 min (target 5 min)" in lines
    assert "• Billing: 1 ticket · 0 met · 0 breached · 1 not yet due · no response yet (target 30 min)" in lines
    assert ("*SLA breaches:* 4 — #5 booking (no response, 15 min late), #6 booking (no response, 5 min late), "
            "#7 adverse event (no response, 55 min late), #8 adverse event (3 min late)") in lines
    assert "*Adverse events:* 2 — #7 *not acknowledged*; #8 acknowledged in 8 min by Dr. Lee" in lines
    volume, adverse = build_figure(got).axes[:2]
    assert _bars(volume) == {
        "tickets": [2, 0, 1, 6, 0, 0], "met": [0, 0, 0, 4, 0, 0], "breached": [2, 0, 0, 2, 0, 0],
    }
    assert [t.get_text() for t in adverse.texts] == ["not acknowledged", "8 min", "target 5 min"]
    assert build_figure(got).get_suptitle() == "Test Clinic · Triage digest · Tue 10 Mar 2026"


def slack_digest(digest: DailyDigest, config: ClinicConfig) -> str:
    """The digest as the managers' channel gets it in Slack."""
    return slack_document(digest_document(digest, config))


def test_the_digest_document_carries_no_messenger_syntax_and_survives_the_outbox(
        db: Database, config: ClinicConfig) -> None:
    """The core writes structure (strong, quoted, bulleted); Slack writes *bold* and &lt;, the CLI plain text."""
    with db.session() as session:
        empty = compute_digest(session, config, date(2026, 1, 1), NOW)
    document = digest_document(empty, config)
    assert document_from_json(document_json(document)) == document
    text = digest_text(empty, config)
    assert text.splitlines()[1] == "Volume: 0 tickets · auto-resolved 0% (0)"
    assert "*" not in text
    named = config.model_copy(update={"clinic": config.clinic.model_copy(update={"name": "Glow <&> Co"})})
    assert slack_digest(empty, named).splitlines()[0].startswith("*Daily digest · Glow &lt;&amp;&gt; Co · ")
