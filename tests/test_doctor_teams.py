"""`triage-bot doctor`'s Microsoft Teams and Microsoft Graph lines, over real HTTP to the loopback stand-ins (the
token endpoint, Graph) and a real database of the places the bot has learnt."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.clock import SystemClock
from bot.config.loader import load_config
from bot.places import Place
from bot.settings import TriageSettings
from bot.storage.db import Database, make_engine, upgrade
from bot.storage.places import DbPlaces
from handlers.cli import main
from handlers.doctor import run_doctor
from handlers.doctor.graph import check_graph
from handlers.doctor.teams import check_teams
from integrations.teams.settings import TeamsSettings
from tests.conftest import HERE
from tests.dburl import db_url
from tests.graph_standin import GraphStandIn, device, group, user
from tests.teams_standin import APP_ID, APP_PASSWORD, TENANT_ID, TeamsStandIn

ENV_PREFIXES = ("TRIAGE_", "SLACK_", "TWILIO_", "SMTP_", "TEAMS_")
TEAM = "19:glow-team@thread.tacv2"
CLINICAL_GROUP = "0b1c2d3e-4f50-4617-8283-940a5b6c7d8e"
DR_LEE, NURSE = "aad-dr-lee", "aad-nurse"
CHANNELS = {"front-desk": "Front Desk", "billing": "Billing", "clinical": "Clinical", "managers": "Managers"}
SIGNS_IN = f"✓ Teams: app {APP_ID} signs in (tenant {TENANT_ID})"
ALL_CHANNELS = ("✓ Teams: the bot may post in front desk → Glow Med Spa/Front Desk, billing → Glow Med Spa/Billing, "
                "clinical → Glow Med Spa/Clinical, managers → Glow Med Spa/Managers")
CHATS = ("✓ Teams: a personal chat is known with 1 of 2 staff with a teams_user; not yet with nurse: they get pages "
         "in Teams only after the bot opens a chat with them, which needs the app installed for them")
REFUSED = ("the Microsoft token endpoint refused the bot's credentials (401 invalid_client): check "
           "TEAMS_APP_ID/TEAMS_APP_PASSWORD (and TEAMS_TENANT_ID)")


def channel(name: str, service_url: str, *, team: str = TEAM, team_name: str = "Glow Med Spa") -> Place:
    return Place("teams", f"19:{team}-{name.lower().replace(' ', '-')}@thread.tacv2", service_url, "channel",
                 tenant=TENANT_ID, team=team, team_name=team_name, channel_name=name)


@dataclass
class Setup:
    config: Path
    url: str
    teams: TeamsStandIn
    graph: GraphStandIn
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    printed: list[str] = field(default_factory=list)

    def settings(self, **changes: Any) -> TeamsSettings:
        values: dict[str, Any] = {
            "app_id": APP_ID, "app_password": APP_PASSWORD, "tenant_id": TENANT_ID,
            "openid_metadata_url": f"{self.teams.url}/v1/.well-known/openidconfiguration",
            "token_url": self.teams.token_url, "graph_url": self.graph.graph_url,
            "graph_token_url": self.graph.token_url, **changes}
        return TeamsSettings(**values)

    def run(self, teams: TeamsSettings | None = None) -> tuple[int, list[str]]:
        """The whole doctor, Teams given (None: from the environment)."""
        lines: list[str] = []
        code = run_doctor(self.config, TriageSettings(database_url=self.url), teams=teams, out=lines.append)
        self.printed += lines
        return code, lines

    def edit(self, change: Any) -> None:
        data = yaml.safe_load(self.config.read_text())
        change(data)
        self.config.write_text(yaml.safe_dump(data), encoding="utf-8")

    def remember(self, *places: Place) -> None:
        db = Database(self.url)
        try:
            for place in places:
                DbPlaces(db, SystemClock()).remember(place)
        finally:
            db.dispose()


def clinic_config(data: dict[str, Any]) -> None:
    """No texts and no phones (so Twilio is not needed), staff on Teams, the clinical role an Entra group."""
    data["routing"]["auto_answer"] = []
    for member in data["staff"]:
        member.pop("phone", None)
    data["staff"][0]["teams_user"] = DR_LEE
    data["staff"][1]["teams_user"] = NURSE
    data["roles"] = {"clinical": {"entra_group": CLINICAL_GROUP}}


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Setup]:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIXES):
            monkeypatch.delenv(key)
    config = tmp_path / "clinic.yml"
    config.write_text((HERE / "data_clinic.yml").read_text(), encoding="utf-8")
    url = db_url(tmp_path)
    Database(url).dispose()  # migrated to head, as `serve` leaves it
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    with TeamsStandIn() as teams, GraphStandIn() as graph:
        graph.set_group(CLINICAL_GROUP, [user(DR_LEE), device("d-ipad"), user(NURSE), group("g-nurses"),
                                         user("aad-locum")])
        found = Setup(config, url, teams, graph, monkeypatch, capsys)
        found.edit(clinic_config)
        found.remember(*(channel(name, teams.service_url) for name in CHANNELS.values()),
                       Place("teams", teams.personal_conversation(DR_LEE), teams.service_url, "personal",
                             tenant=TENANT_ID, user=DR_LEE))
        yield found
        # No secret is ever printed, whatever the test did.
        assert not any(APP_PASSWORD in line or "wrong-secret" in line for line in found.printed)
        assert not any(APP_PASSWORD in line for line in capsys.readouterr().out.splitlines())


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("✗")]


def of(lines: list[str], *names: str) -> list[str]:
    return [line for line in lines if line[2:].startswith(tuple(f"{name}:" for name in names))]


def test_not_configured_is_one_line_and_not_a_failure(setup: Setup) -> None:
    setup.edit(lambda data: data.pop("roles"))
    code, lines = setup.run()
    assert code == 0, lines
    assert of(lines, "Teams", "Graph") == [
        "– Teams: not configured (set TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID to the bot's Microsoft "
        "app to post in Microsoft Teams)"]
    assert setup.teams.all_calls == [] and setup.graph.all_calls == []


def test_configured_signs_in_and_every_role_channel_is_known(setup: Setup) -> None:
    code, lines = setup.run(setup.settings())
    assert code == 0, lines
    assert of(lines, "Teams", "Graph") == [SIGNS_IN, ALL_CHANNELS, CHATS,
                                           "✓ Graph: roles.clinical.entra_group has 3 members"]
    assert lines[-1] == "all checks passed"
    # Teams lines come after Slack's, before Twilio's.
    names = [line[2:].split(":")[0] for line in lines[:-1]]
    assert names.index("Slack") < names.index("Teams") < names.index("Graph") < names.index("Twilio")
    # A token, not a message: nothing was posted, and the grant was the client-credentials one.
    assert setup.teams.api_calls() == []
    assert setup.teams.token_requests == [{"grant_type": "client_credentials", "client_id": APP_ID,
                                           "scope": "https://api.botframework.com/.default"}]
    assert {c.path for c in setup.graph.graph_calls()} == {f"/v1.0/groups/{CLINICAL_GROUP}/transitiveMembers"}


def test_through_the_cli_with_the_environment(setup: Setup) -> None:
    settings = setup.settings()
    setup.monkeypatch.setenv("TEAMS_APP_ID", APP_ID)
    setup.monkeypatch.setenv("TEAMS_APP_PASSWORD", APP_PASSWORD)
    setup.monkeypatch.setenv("TEAMS_TENANT_ID", TENANT_ID)
    setup.monkeypatch.setenv("TEAMS_TOKEN_URL", setup.teams.token_url)
    setup.monkeypatch.setenv("TEAMS_GRAPH_URL", settings.graph_url)
    setup.monkeypatch.setenv("TEAMS_GRAPH_TOKEN_URL", setup.graph.token_url)
    code = main(["doctor", "--config", str(setup.config)])
    lines = setup.capsys.readouterr().out.splitlines()
    setup.printed += lines
    assert code == 0, lines
    assert of(lines, "Teams", "Graph")[:2] == [SIGNS_IN, ALL_CHANNELS]
    setup.monkeypatch.delenv("TEAMS_APP_PASSWORD")
    code = main(["doctor", "--config", str(setup.config)])
    lines = setup.capsys.readouterr().out.splitlines()
    setup.printed += lines
    assert code == 1
    assert failures(lines) == ["✗ Teams: TEAMS_APP_PASSWORD is required when TEAMS_APP_ID is set — fix it, or unset "
                               "TEAMS_APP_ID if the clinic does not use Teams"]
    assert of(lines, "Teams", "Graph") == failures(lines)  # one line: nothing else is tried


def test_a_refused_password_says_what_to_check_and_is_never_printed(setup: Setup) -> None:
    code, lines = setup.run(setup.settings(app_password="wrong-secret"))
    assert code == 1
    assert failures(lines) == [f"✗ Teams: {REFUSED}", f"✗ Graph: roles.clinical.entra_group: {REFUSED}"]
    assert of(lines, "Teams") == [f"✗ Teams: {REFUSED}"]  # no channel checks for an app that cannot sign in


def test_token_endpoint_down_says_what_to_check(setup: Setup) -> None:
    setup.teams.fail_token(503)
    assert check_teams(setup.settings(), None)[0].line == (
        "✗ Teams: the Microsoft token endpoint failed (503) — try again in a minute")
    setup.teams.close()
    [problem] = check_teams(setup.settings(), None)
    assert problem.line == ("✗ Teams: the Microsoft token endpoint is unreachable (ConnectError) — check the "
                            "network, or TEAMS_TOKEN_URL")


def test_a_role_channel_not_known_is_named_with_the_fix(setup: Setup) -> None:
    setup.edit(lambda data: data.update(channels={"front_desk": "front-desk", "billing": "#billing",
                                                  "clinical": "Clinical", "managers": "owners"}))
    code, lines = setup.run(setup.settings())
    assert code == 1
    assert failures(lines) == [
        "✗ Teams: no Teams channel named owners is known (channels.managers in the config) — create it in the team "
        "(the bot learns it then), or name it as 'Team/Channel' or by id in channels.managers"]
    assert ("✓ Teams: the bot may post in front desk → Glow Med Spa/Front Desk, billing → Glow Med Spa/Billing, "
            "clinical → Glow Med Spa/Clinical") in lines


def test_channels_by_team_and_name_or_by_id_and_the_same_name_in_two_teams(setup: Setup) -> None:
    spa = setup.teams.service_url
    setup.remember(channel("Billing", spa, team="19:other@thread.tacv2", team_name="Glow Downtown"))
    [problem] = failures([c.line for c in check_teams(setup.settings(), load_config(setup.config),
                                                      database_url=setup.url)])
    assert problem == ("✗ Teams: more than one team has a channel named billing (Glow Downtown, Glow Med Spa; "
                            "channels.billing in the config) — name it as 'Team/Channel' or by id in channels.billing")
    managers = channel("Managers", spa).conversation
    setup.edit(lambda data: data.update(channels={"front_desk": "Front Desk", "billing": "Glow Downtown/Billing",
                                                  "clinical": "clinical", "managers": managers}))
    checks = check_teams(setup.settings(), load_config(setup.config), database_url=setup.url)
    assert not failures([c.line for c in checks])
    assert checks[1].line == ("✓ Teams: the bot may post in front desk → Glow Med Spa/Front Desk, billing → Glow "
                              "Downtown/Billing, clinical → Glow Med Spa/Clinical, managers → Glow Med Spa/Managers")


def test_no_channel_known_yet_says_to_install_the_app(setup: Setup, tmp_path: Path) -> None:
    fresh = db_url(tmp_path, "fresh")
    Database(fresh).dispose()  # at head, nothing learnt
    config = load_config(setup.config)
    install = "the app has not been installed in a team yet — add the app to the clinic's team; the bot learns " \
              "its channels then"
    assert [c.line for c in check_teams(setup.settings(), config, database_url=fresh)] == [
        SIGNS_IN, f"✗ Teams: no Teams channels known yet: {install}"]
    old = db_url(tmp_path, "old", empty=True)  # a schema from before the chat_places table
    engine = make_engine(old)
    upgrade(engine, "0007")
    engine.dispose()
    [_, problem] = check_teams(setup.settings(), config, database_url=old)
    assert problem.line == ("✗ Teams: no Teams channels known yet (no chat_places table: the schema is older than this "
                            f"version's — `triage-bot serve` upgrades it): {install}")


@pytest.mark.sqlite_only("a database file not created yet")
def test_a_database_not_created_yet_is_not_created(setup: Setup, tmp_path: Path) -> None:
    missing = tmp_path / "new" / "triage.db"
    [_, problem] = check_teams(setup.settings(), load_config(setup.config), database_url=f"sqlite:///{missing}")
    assert problem.line.startswith(f"✗ Teams: no Teams channels known yet (sqlite:///{missing} does not exist yet): ")
    assert not missing.exists()


def test_no_staff_on_teams_is_informational(setup: Setup) -> None:
    def off_teams(data: dict[str, Any]) -> None:
        for member in data["staff"]:
            member.pop("teams_user", None)

    setup.edit(off_teams)
    checks = check_teams(setup.settings(), load_config(setup.config), database_url=setup.url)
    assert checks[-1].line == ("– Teams: no staff have a teams_user (their Entra object id), so none are mentioned or "
                               "paged in Teams")


def test_graph_counts_users_only_and_names_a_refusal(setup: Setup) -> None:
    config = load_config(setup.config)
    assert [c.line for c in check_graph(setup.settings(), config)] == [
        "✓ Graph: roles.clinical.entra_group has 3 members"]  # not the device, not the nested group
    setup.graph.fail_next(403)
    code, lines = setup.run(setup.settings())
    assert code == 1
    assert failures(lines) == [
        "✗ Graph: roles.clinical.entra_group: Microsoft Graph refused to list the group's members (403): grant the "
        "app the GroupMember.Read.All application permission and admin consent"]
    setup.graph.del_group(CLINICAL_GROUP)
    [problem] = check_graph(setup.settings(), config)
    assert problem.line.startswith(f"✗ Graph: roles.clinical.entra_group: no Entra group {CLINICAL_GROUP}: check ")


def test_graph_only_when_the_config_names_a_group_and_then_teams_is_needed(setup: Setup) -> None:
    setup.edit(lambda data: data.pop("roles"))
    assert check_graph(setup.settings(), load_config(setup.config)) == []
    assert check_graph(None, None) == []
    setup.edit(lambda data: data.update(roles={"clinical": {"entra_group": CLINICAL_GROUP},
                                               "managers": {"entra_group": "g-managers"}}))
    code, lines = setup.run()  # Teams not configured
    assert code == 1
    assert failures(lines) == [
        "✗ Graph: roles.clinical.entra_group and roles.managers.entra_group need "
        "TEAMS_APP_ID/TEAMS_APP_PASSWORD/TEAMS_TENANT_ID (the Teams app's credentials look the group up in Microsoft "
        "Graph) — set them, or remove the entra_group"]
    assert setup.graph.all_calls == []
    [problem] = check_graph(setup.settings(tenant_id=None, multi_tenant=True), load_config(setup.config))
    assert problem.line.startswith("✗ Graph: roles.clinical.entra_group and roles.managers.entra_group need "
                                   "TEAMS_TENANT_ID")


def test_a_group_with_no_users_says_how_to_fill_it(setup: Setup) -> None:
    setup.graph.set_group(CLINICAL_GROUP, [device("d-ipad")])
    [check] = check_graph(setup.settings(), load_config(setup.config))
    assert check.line == ("✓ Graph: roles.clinical.entra_group has no members — add the role's staff to the group "
                          "(Entra admin center → Groups), or list them in roles.clinical.members")


def test_slack_and_teams_both_set_says_every_card_goes_to_each(setup: Setup) -> None:
    setup.monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    setup.monkeypatch.setenv("SLACK_API_URL", f"{setup.teams.url}/slack/")  # loopback: it answers 404
    code, lines = setup.run(setup.settings())
    assert ("✓ Messengers: Slack and Teams are both set: every card, page, nudge and digest goes to each, and a "
            "click in either changes both") in lines
    assert any(line.startswith("✓ Teams") for line in lines)  # Teams is still checked
    assert code == 1 and any(line.startswith("✗ Slack") for line in lines)  # and Slack, which answers 404 here


def test_without_the_microsoft_packages_says_how_to_install_them(setup: Setup,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "microsoft_teams", None)
    monkeypatch.setitem(sys.modules, "msgraph", None)
    monkeypatch.delitem(sys.modules, "integrations.teams.graph", raising=False)
    code, lines = setup.run(setup.settings())
    assert code == 1
    assert failures(lines) == [
        "✗ Teams: TEAMS_APP_ID is set but the Microsoft packages are not installed (microsoft_teams) — pip install "
        "'medspa-triage-bot[microsoft]'",
        "✗ Graph: roles.clinical.entra_group needs the Microsoft packages, which are not installed (msgraph) — pip "
        "install 'medspa-triage-bot[microsoft]'"]
    # Not configured, doctor needs none of them.
    setup.edit(lambda data: data.pop("roles"))
    code, lines = setup.run()
    assert code == 0, lines
