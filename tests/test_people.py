"""Staff have an id per messenger; tickets store staff ids. Someone the config does not list is "platform:user"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config.loader import load_config
from bot.config.models import ClinicConfig
from bot.domain import Role
from bot.storage.db import Database
from bot.storage.models import TicketRow
from bot.tickets.people import normalize_stored, resolve, same_person
from bot.tickets.roles import actor_of
from tests.dburl import db_url

HERE = Path(__file__).parent
NURSE_ENTRA = "5f0c2a7e-1b9d-4c43-9a61-2e7a8c3d4b10"
CLINICAL_GROUP = "0b8e4d2c-7a51-4f6e-8c3b-9d1a2e5f6a70"

EXTRA = f"""
  - {{id: dana, name: Dana RN, teams_user: "{NURSE_ENTRA}", clinical: true}}
  - {{id: sam, name: Sam, slack_user: USAM, teams_user: "7a1b2c3d-0000-4000-8000-000000000001"}}
"""


@pytest.fixture()
def config(tmp_path: Path) -> ClinicConfig:
    text = (HERE / "data_clinic.yml").read_text(encoding="utf-8")
    text = text.replace("staff:\n", "staff:\n" + EXTRA.lstrip("\n"), 1)
    path = tmp_path / "clinic.yml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def no_groups(_group: str) -> frozenset[str]:
    return frozenset()


def test_the_legacy_chat_user_key_is_a_slack_id(config: ClinicConfig) -> None:
    lee = config.staff_member("dr-lee")
    assert lee is not None and lee.slack_user == "UDRLEE" and not lee.teams_user
    assert config.staff_by_user("slack", "UDRLEE") is lee
    assert config.staff_by_user("teams", "UDRLEE") is None


def test_a_listed_person_acts_under_their_staff_id_on_either_messenger(config: ClinicConfig) -> None:
    on_slack = actor_of(config, "slack", "USAM", "sam.s", no_groups)
    on_teams = actor_of(config, "teams", "7a1b2c3d-0000-4000-8000-000000000001", "Sam S", no_groups)
    assert on_slack.id == on_teams.id == "sam"
    assert on_slack.name == on_teams.name == "Sam"


def test_a_teams_only_clinician_is_clinical_and_unlisted_people_are_not(config: ClinicConfig) -> None:
    dana = actor_of(config, "teams", NURSE_ENTRA, "Dana", no_groups)
    assert (dana.id, dana.staff_id) == ("dana", "dana") and Role.CLINICAL in dana.roles
    stranger = actor_of(config, "teams", "9d9d9d9d-0000-4000-8000-00000000abcd", "Visitor", no_groups)
    assert stranger.id == "teams:9d9d9d9d-0000-4000-8000-00000000abcd"
    assert stranger.name == "Visitor" and Role.CLINICAL not in stranger.roles


def test_an_entra_group_makes_its_members_clinical_on_teams_only(tmp_path: Path) -> None:
    text = (HERE / "data_clinic.yml").read_text(encoding="utf-8")
    text += f"roles:\n  clinical:\n    entra_group: \"{CLINICAL_GROUP}\"\n"
    path = tmp_path / "clinic.yml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    member = "1e2d3c4b-0000-4000-8000-00000000beef"

    def groups(group: str) -> frozenset[str]:
        return frozenset({member}) if group == CLINICAL_GROUP else frozenset()

    assert Role.CLINICAL in actor_of(config, "teams", member, "Pat", groups).roles
    assert Role.CLINICAL not in actor_of(config, "slack", member, "Pat", groups).roles  # not a Slack group


def test_stored_ids_resolve_to_people_whatever_wrote_them(config: ClinicConfig) -> None:
    assert resolve(config, "dr-lee").name == "Dr. Lee"
    assert resolve(config, "UDRLEE").name == "Dr. Lee"  # written by the Slack-only bot
    assert resolve(config, "slack:UDRLEE").ref == "dr-lee"
    assert resolve(config, "teams:abc").name == "abc" and resolve(config, "teams:abc").ref == "teams:abc"
    assert same_person(config, "UDRLEE", "dr-lee") and not same_person(config, "dr-lee", "nurse")


def test_tickets_from_the_slack_only_bot_get_staff_ids_once(tmp_path: Path, config: ClinicConfig) -> None:
    db = Database(db_url(tmp_path))
    at = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    with db.transaction() as session:
        for number, (claimed, acked) in enumerate([("UDRLEE", "UNURSE"), ("UTEMP", None), ("jess", None)], 1):
            session.add(TicketRow(id=number, status="claimed", category="clinical", urgency="high", confidence=0.9,
                                  reasons=[], channel="sms", sender=f"+1212555010{number}", claimed_by=claimed,
                                  acknowledged_by=acked, created_at=at, updated_at=at))
    with db.transaction() as session:
        assert normalize_stored(session, config) == 3
    with db.transaction() as session:
        assert normalize_stored(session, config) == 0
        rows = {t.id: (t.claimed_by, t.acknowledged_by) for t in session.query(TicketRow)}
    assert rows == {1: ("dr-lee", "nurse"), 2: ("slack:UTEMP", None), 3: ("jess", None)}
