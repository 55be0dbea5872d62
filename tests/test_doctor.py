"""`triage-bot doctor` through the real CLI, against local stand-ins for Slack, Twilio and an SMTP server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.storage.db import Database, make_engine, upgrade
from handlers.cli import main
from handlers.doctor.database import head_revisions, shown_url
from handlers.doctor.slack import REQUIRED_SCOPES
from tests.conftest import HERE
from tests.dburl import backend, db_url
from tests.slack_standin import SlackStandIn
from tests.smtp_standin import SmtpStandIn
from tests.standins import Answer, Recorded, StandIn

ROOT = HERE.parent
SID, TOKEN, NUMBER = "ACdoctor", "doctor-twilio-token", "+12125550000"
ENV_PREFIXES = ("TRIAGE_", "SLACK_", "TWILIO_", "SMTP_", "IMAP_")


def head() -> str:
    engine = make_engine("sqlite://")
    try:
        return ", ".join(sorted(head_revisions(engine)))
    finally:
        engine.dispose()


def twilio_account(numbers: list[str], *, status: str = "active") -> StandIn:
    """Twilio's account and incoming-numbers resources, behind HTTP basic auth, as the REST API answers them."""

    def answer(request: Recorded) -> Answer:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        path = request.path.split("?", 1)[0]
        if path == f"/2010-04-01/Accounts/{SID}.json":
            return Answer(200, {"sid": SID, "friendly_name": "Test Clinic", "status": status})
        if path == f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json":
            return Answer(200, {"incoming_phone_numbers": [{"phone_number": n, "sid": f"PN{i}"}
                                                           for i, n in enumerate(numbers)], "next_page_uri": None})
        return Answer(404, {"code": 20404, "message": "not found"})

    return StandIn(answer)


@dataclass
class Setup:
    config: Path
    slack: SlackStandIn
    twilio: StandIn
    smtp: SmtpStandIn
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str) -> tuple[int, list[str]]:
        code = main(["doctor", "--config", str(self.config), *args])
        return code, self.capsys.readouterr().out.splitlines()

    def env(self, **values: str) -> None:
        for key, value in values.items():
            self.monkeypatch.setenv(key, value)

    def unset(self, *keys: str) -> None:
        for key in keys:
            self.monkeypatch.delenv(key, raising=False)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Setup]:
    import os

    for key in list(os.environ):
        if key.startswith(ENV_PREFIXES):
            monkeypatch.delenv(key)
    config = tmp_path / "clinic.yml"
    config.write_text((HERE / "data_clinic.yml").read_text(), encoding="utf-8")
    url = db_url(tmp_path)
    Database(url).dispose()  # migrated to head, as `serve` leaves it
    slack, twilio, smtp = SlackStandIn(), twilio_account([NUMBER, "+12125550001"]), SmtpStandIn()
    slack.scopes = sorted(REQUIRED_SCOPES)
    for number, name in enumerate(("front-desk", "billing", "clinical", "managers")):
        slack.add_channel(f"C{number}", name)
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_URL", f"{slack.url}/api/")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_FROM_NUMBER", NUMBER)
    monkeypatch.setenv("TWILIO_API_URL", twilio.url)
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("SMTP_SENDER", "front-desk@clinic.example")
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    monkeypatch.setenv("SMTP_USERNAME", "bot")
    monkeypatch.setenv("SMTP_PASSWORD", "secret")
    yield Setup(config, slack, twilio, smtp, monkeypatch, capsys)
    slack.close()
    twilio.close()
    smtp.close()


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("✗")]


def test_everything_in_order_passes_with_one_line_each_and_sends_nothing(setup: Setup) -> None:
    code, lines = setup.run()
    assert code == 0, lines
    assert lines[0] == f"✓ Config: {setup.config} — Test Clinic (America/New_York), 4 staff"
    assert any(line.startswith(f"✓ Database: {backend()}") and f"migrations at head ({head()})" in line
               for line in lines)
    assert "✓ Slack: bot @triagebot in workspace Example Clinic" in lines
    assert "✓ Slack: the app has every scope it needs" in lines
    assert "✓ Slack: the bot is in #front-desk, #billing, #clinical, #managers" in lines
    assert f"✓ Twilio: account 'Test Clinic', texts from {NUMBER}" in lines
    assert f"✓ SMTP: 127.0.0.1:{setup.smtp.port} connected, logged in as bot; replies from front-desk@clinic.example" \
        in lines
    assert lines[-1] == "all checks passed" and not failures(lines)
    # A check, not a test message: nothing was posted, texted or mailed.
    assert setup.slack.calls("chat.postMessage") == [] and setup.smtp.messages == []
    assert [r.path for r in setup.twilio.requests if "Messages" in r.path] == []


def test_bot_missing_from_a_channel_says_how_to_invite_it(setup: Setup) -> None:
    setup.slack.add_channel("C1", "billing", bot_member=False)
    setup.slack.add_channel("C2", "clinical", bot_member=False)
    del setup.slack.conversations["C3"]  # #managers was never created
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == [
        "✗ Slack: not in #billing — invite the bot: /invite @triagebot in #billing",
        "✗ Slack: not in #clinical — invite the bot: /invite @triagebot in #clinical",
        "✗ Slack: no channel #managers the bot can see (channels.managers in the config) — create it and "
        "/invite @triagebot, or, if it is private, invite the bot, or fix channels.managers",
    ]
    assert "✓ Slack: the bot is in #front-desk" in lines
    assert lines[-1] == "3 problem(s) found"


def test_channels_named_by_id_in_the_config_are_found(setup: Setup) -> None:
    data = yaml.safe_load(setup.config.read_text())
    data["channels"] = {"front_desk": "C0", "billing": "#billing", "clinical": "C2", "managers": "managers"}
    setup.config.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, lines = setup.run()
    assert code == 0, lines
    assert "✓ Slack: the bot is in #C0, #billing, #C2, #managers" in lines


@pytest.mark.parametrize(("status", "error", "expected"), [
    (200, "invalid_auth", "✗ Slack: Slack refused the bot token (invalid_auth) — copy the Bot User OAuth Token "
                          "(xoxb-…) from the app's OAuth & Permissions page into SLACK_BOT_TOKEN"),
    (200, "token_revoked", "✗ Slack: the bot token no longer works (token_revoked) — reinstall the app to the "
                           "workspace and put the new xoxb-… token in SLACK_BOT_TOKEN"),
    (200, "account_inactive", "✗ Slack: the bot token no longer works (account_inactive) — reinstall the app to "
                              "the workspace and put the new xoxb-… token in SLACK_BOT_TOKEN"),
    (503, None, "✗ Slack: Slack answered 503 (a problem on Slack's side, see status.slack.com) — try again later"),
])
def test_a_refused_bot_token_is_one_line_with_the_fix(setup: Setup, status: int, error: str | None,
                                                      expected: str) -> None:
    setup.slack.fail_next("auth.test", status=status, error=error)
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == [expected]  # and no traceback, no channel checks on a token that does not work
    assert not any("Traceback" in line for line in lines)


def test_an_app_token_in_place_of_the_bot_token_is_named(setup: Setup) -> None:
    setup.env(SLACK_BOT_TOKEN="xapp-1-A1-123")
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == ["✗ Slack: SLACK_BOT_TOKEN is an app-level token — use the Bot User OAuth Token "
                               "(xoxb-…) from the app's OAuth & Permissions page"]
    assert setup.slack.calls() == []


def test_missing_scopes_are_listed(setup: Setup) -> None:
    setup.slack.scopes = sorted(REQUIRED_SCOPES - {"files:write", "im:write"})
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == ["✗ Slack: the app lacks the scopes files:write, im:write — add them under the app's "
                               "OAuth & Permissions page (or recreate the app from manifest.yml) and reinstall the "
                               "app to the workspace"]


def test_the_required_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == REQUIRED_SCOPES


def test_http_mode_without_a_signing_secret_fails_and_socket_mode_is_checked(setup: Setup) -> None:
    setup.unset("SLACK_SIGNING_SECRET")
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == ["✗ Slack: SLACK_SIGNING_SECRET is not set — HTTP mode needs it (Basic Information → "
                               "Signing Secret), or set SLACK_APP_TOKEN to use Socket Mode instead"]
    setup.env(SLACK_APP_TOKEN="xapp-1-A1-123")
    code, lines = setup.run()
    assert code == 0, lines
    assert "✓ Slack: Socket Mode: the app-level token is accepted" in lines
    assert [c.token for c in setup.slack.calls("apps.connections.open")] == ["xapp-1-A1-123"]


def test_a_refused_app_token_says_how_to_make_one(setup: Setup) -> None:
    setup.env(SLACK_APP_TOKEN="xapp-1-A1-123")
    setup.slack.fail_next("apps.connections.open", status=200, error="invalid_auth")
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == ["✗ Slack: Socket Mode: Slack refused the app-level token (invalid_auth) — create one "
                               "with the connections:write scope under the app's Basic Information → App-Level "
                               "Tokens and put it (xapp-…) in SLACK_APP_TOKEN"]


def test_twilio_number_not_on_the_account(setup: Setup) -> None:
    setup.env(TWILIO_FROM_NUMBER="+13105550123")
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == ["✗ Twilio: TWILIO_FROM_NUMBER +13105550123 is not one of account 'Test Clinic''s "
                               "numbers (+12125550000, +12125550001) — set it to one of them, or buy or port the "
                               "number in the Twilio Console"]


def test_twilio_credentials_refused(setup: Setup) -> None:
    setup.env(TWILIO_AUTH_TOKEN="wrong")
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == ["✗ Twilio: Twilio refused the credentials — check TWILIO_ACCOUNT_SID and "
                               "TWILIO_AUTH_TOKEN (Twilio Console → Account info)"]


def test_twilio_half_configured_names_what_is_missing(setup: Setup) -> None:
    setup.unset("TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == ["✗ Twilio: TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER not set — set TWILIO_ACCOUNT_SID, "
                               "TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER (Twilio Console → Account info)"]


def test_a_suspended_twilio_account_fails(setup: Setup) -> None:
    suspended = twilio_account([NUMBER], status="suspended")
    try:
        setup.env(TWILIO_API_URL=suspended.url)
        code, lines = setup.run()
    finally:
        suspended.close()
    assert code == 1
    assert failures(lines) == ["✗ Twilio: account 'Test Clinic' is suspended — reactivate it in the Twilio Console"]


def test_smtp_down(setup: Setup) -> None:
    setup.smtp.close()
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == [f"✗ SMTP: cannot reach the mail server at 127.0.0.1:{setup.smtp.port} "
                               "(ConnectionRefusedError) — check SMTP_HOST and SMTP_PORT, and that the server is up"]


def test_smtp_login_refused_and_no_starttls(setup: Setup) -> None:
    refusing = SmtpStandIn(refuse_auth=True)
    try:
        setup.env(SMTP_PORT=str(refusing.port))
        code, lines = setup.run()
        assert code == 1
        assert failures(lines) == [f"✗ SMTP: 127.0.0.1:{refusing.port} refused the login — check SMTP_USERNAME and "
                                   "SMTP_PASSWORD (many providers want an app password)"]
        setup.env(SMTP_STARTTLS="true")
        code, lines = setup.run()
        assert failures(lines) == [f"✗ SMTP: 127.0.0.1:{refusing.port} does not offer STARTTLS — use the server's "
                                   "submission port (usually 587), or set SMTP_STARTTLS=false only for a relay on a "
                                   "private network"]
    finally:
        refusing.close()


def test_connections_not_configured_are_reported_and_fail_only_when_the_config_needs_them(setup: Setup) -> None:
    setup.unset("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SMTP_HOST", "SMTP_SENDER", "TWILIO_ACCOUNT_SID",
                "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
    code, lines = setup.run()
    assert "– Slack: not configured (set SLACK_BOT_TOKEN to the app's Bot User OAuth Token, xoxb-…; until then " \
           "cards are printed to the console)" in lines
    assert any(line.startswith("– SMTP: not configured (set SMTP_HOST and SMTP_SENDER") for line in lines)
    # The config lets the bot answer patients, and those answers are texts: Twilio is needed.
    assert code == 1
    assert failures(lines) == ["✗ Twilio: not configured, and the bot answers patients' texts (routing.auto_answer): "
                               "set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER (Twilio Console → "
                               "Account info) (or set routing.auto_answer: [] if the clinic takes no texts)"]
    data = yaml.safe_load(setup.config.read_text())
    data["routing"]["auto_answer"] = []
    setup.config.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, lines = setup.run()
    # Still needed: the clinical staff's phones get pages by text.
    assert code == 1 and "pages go to staff phones by SMS" in failures(lines)[0]
    for member in data["staff"]:
        member.pop("phone", None)
    setup.config.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, lines = setup.run()
    assert code == 0, lines
    assert any(line.startswith("– Twilio: not configured (set TWILIO_ACCOUNT_SID") for line in lines)


def test_a_broken_config_names_file_key_and_line(setup: Setup) -> None:
    setup.config.write_text(setup.config.read_text().replace("timezone: America/New_York", "timezone: Mars/Olympus"),
                            encoding="utf-8")
    code, lines = setup.run()
    assert code == 1
    [problem] = failures(lines)
    assert problem.startswith(f"✗ Config: {setup.config}: clinic.timezone (line 3): ")
    assert "unknown time zone 'Mars/Olympus'" in problem
    # The connections are still checked; the channels need the config, so they are not.
    assert "✓ Slack: bot @triagebot in workspace Example Clinic" in lines
    assert setup.slack.calls("users.conversations") == []


def test_no_config_at_all(setup: Setup) -> None:
    code = main(["doctor"])
    lines = setup.capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == ("✗ Config: no clinic config given — pass --config FILE or set TRIAGE_CONFIG=FILE (start "
                        "from bot/demo/clinic.yml)")
    setup.env(TRIAGE_CONFIG=str(setup.config))
    assert main(["doctor"]) == 0


def test_database_behind_the_migrations(setup: Setup, tmp_path: Path) -> None:
    old = db_url(tmp_path, "old", empty=True)
    engine = make_engine(old)
    upgrade(engine, "0003")
    engine.dispose()
    setup.env(TRIAGE_DATABASE_URL=old)
    code, lines = setup.run()
    assert code == 1
    [problem] = failures(lines)
    assert problem.startswith(f"✗ Database: {shown_url(old)} schema at 0003, this version needs {head()} — ")
    assert problem.endswith("`triage-bot serve` upgrades the schema when it starts (back up the database first)")


@pytest.mark.sqlite_only("a database file that is garbage, or not created yet")
def test_database_unreadable_or_not_created_yet(setup: Setup, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database file" * 100)
    setup.env(TRIAGE_DATABASE_URL=f"sqlite:///{garbage}")
    code, lines = setup.run()
    assert code == 1
    assert failures(lines) == [f"✗ Database: cannot connect to sqlite:///{garbage} (DatabaseError) — check "
                               "TRIAGE_DATABASE_URL and that the database server is running"]
    fresh = tmp_path / "new" / "triage.db"
    setup.env(TRIAGE_DATABASE_URL=f"sqlite:///{fresh}")
    code, lines = setup.run()
    assert code == 0, lines
    assert f"– Database: sqlite:///{fresh} does not exist yet — `triage-bot serve` upgrades the schema when it " \
           "starts and creates it" in lines
    assert not fresh.exists()  # doctor looks, it does not create
