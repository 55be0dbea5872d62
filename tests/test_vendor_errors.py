"""Vendor errors are one clear line with what to do (details at debug level), and a transient Slack error at
start-up does not stop `serve`: SMS intake keeps working."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from bot.cards.model import ActionId
from handlers.cli import main
from handlers.runtime import SlackStartup, SlackStartupError
from handlers.serve import connect_socket_mode
from integrations.slack.settings import SlackSettings
from tests.conftest import HERE, Clinic
from tests.dburl import db_url
from tests.slack_clinic import FRONT_DESK_USER, SlackClinic
from tests.slack_standin import SlackStandIn
from tests.standins import Answer

ENV_PREFIXES = ("TRIAGE_", "SLACK_", "TWILIO_", "SMTP_")


@dataclass
class Serve:
    slack: SlackStandIn
    config: Path
    port: int
    monkeypatch: pytest.MonkeyPatch


@pytest.fixture
def serve_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """`serve`'s environment, with its port already taken: once serve gets as far as listening, it stops there
    (uvicorn exits on the bind) instead of blocking the test."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIXES):
            monkeypatch.delenv(key)
    config = tmp_path / "clinic.yml"
    config.write_text((HERE / "data_clinic.yml").read_text(), encoding="utf-8")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    slack = SlackStandIn()
    monkeypatch.setenv("TRIAGE_DATABASE_URL", db_url(tmp_path))
    monkeypatch.setenv("TRIAGE_PORT", str(taken.getsockname()[1]))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_URL", f"{slack.url}/api/")
    yield Serve(slack, config, taken.getsockname()[1], monkeypatch)
    slack.close()
    taken.close()


@pytest.mark.parametrize(("error", "expected"), [
    ("invalid_auth", "triage-bot serve: Slack refused the bot token (invalid_auth) — copy the Bot User OAuth Token "
                     "(xoxb-…) from the app's OAuth & Permissions page into SLACK_BOT_TOKEN\n"),
    ("token_revoked", "triage-bot serve: the bot token no longer works (token_revoked) — reinstall the app to the "
                      "workspace and put the new xoxb-… token in SLACK_BOT_TOKEN\n"),
])
def test_a_refused_token_stops_serve_with_one_line(serve_env: Serve, capsys: pytest.CaptureFixture[str],
                                                   error: str, expected: str) -> None:
    serve_env.slack.fail_next("auth.test", status=200, error=error)
    assert main(["serve", "--config", str(serve_env.config)]) == 2
    err = capsys.readouterr().err
    assert err == expected and "Traceback" not in err


def test_http_mode_without_a_signing_secret_stops_serve_with_one_line(serve_env: Serve,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    serve_env.monkeypatch.delenv("SLACK_SIGNING_SECRET")
    assert main(["serve", "--config", str(serve_env.config)]) == 2
    assert capsys.readouterr().err == (
        "triage-bot serve: SLACK_SIGNING_SECRET is not set — HTTP mode needs it (the app's Basic Information → "
        "Signing Secret), or set SLACK_APP_TOKEN to use Socket Mode\n")


@pytest.mark.parametrize(("status", "said"), [
    (429, "Slack: Slack is rate limiting us (429) — this passes by itself; try again in a minute; starting anyway"),
    (500, "Slack: Slack answered 500 (a problem on Slack's side, see status.slack.com) — try again later; "
          "starting anyway"),
    (503, "Slack: Slack answered 503 (a problem on Slack's side, see status.slack.com) — try again later; "
          "starting anyway"),
])
def test_slack_unavailable_at_start_up_does_not_stop_serve(serve_env: Serve, caplog: pytest.LogCaptureFixture,
                                                           capsys: pytest.CaptureFixture[str], status: int,
                                                           said: str) -> None:
    serve_env.slack.fail_next("auth.test", status=status)
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as stopped:
        main(["serve", "--config", str(serve_env.config)])
    # It went on to listen (and stopped only because the test holds the port), never blaming the token.
    assert stopped.value.code != 2
    assert any(r.getMessage().startswith("triage-bot serving Test Clinic on http://127.0.0.1:") for r in caplog.records)
    slack_lines = [r for r in caplog.records if r.name == "handlers.runtime" and r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in slack_lines] == [f"{said} (SMS intake works, Slack posts are retried)"]
    assert all(r.exc_info is None for r in slack_lines)
    assert "token" not in capsys.readouterr().err.lower()


def test_a_start_up_check_that_found_slack_down_asks_again_until_it_answers(caplog: pytest.LogCaptureFixture) -> None:
    with SlackStandIn() as slack, caplog.at_level(logging.INFO, logger="handlers.runtime"):
        startup = SlackStartup(SlackSettings(bot_token="xoxb-test", signing_secret="s", api_url=f"{slack.url}/api/"))
        slack.fail_next("auth.test", status=429)
        slack.fail_next("auth.test", status=502)
        slack.fail_next("auth.test", status=429)
        startup.check()
        assert startup.settled is False
        assert startup.recheck() is False and startup.recheck() is False
        assert startup.recheck() is True and startup.settled
        assert caplog.records[-1].getMessage() == "Slack: bot @triagebot in workspace Example Clinic"
        # Once Slack answers "no", it is said once, as an error, and the re-checks stop.
        later = SlackStartup(SlackSettings(bot_token="xoxb-test", signing_secret="s", api_url=f"{slack.url}/api/"))
        slack.fail_next("auth.test", status=503)
        later.check()
        slack.fail_next("auth.test", status=200, error="invalid_auth")
        assert later.recheck() is True
        assert caplog.records[-1].levelno == logging.ERROR and "invalid_auth" in caplog.records[-1].getMessage()


def test_slack_unreachable_at_start_up_is_transient(caplog: pytest.LogCaptureFixture) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
    closed.close()
    startup = SlackStartup(SlackSettings(bot_token="xoxb-test", signing_secret="s", api_url=url))
    with caplog.at_level(logging.WARNING, logger="handlers.runtime"):
        startup.check()
    [line] = [r for r in caplog.records if r.name == "handlers.runtime"]
    assert line.getMessage().startswith(f"Slack: cannot reach Slack at {url} (")
    with pytest.raises(SlackStartupError):
        bad = SlackStartup(SlackSettings(bot_token="xoxb-test", api_url=url))  # no signing secret, no app token
        bad.check()


def test_a_refused_slack_post_is_one_line_with_the_fix(slack_clinic: SlackClinic,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    slack_clinic.slack.fail_next("chat.postMessage", status=200, error="not_in_channel")
    with caplog.at_level(logging.INFO, logger="bot.outbox.worker"):
        slack_clinic.sms("I was charged twice for my last visit")
        slack_clinic.deliver()
    lines = [r for r in caplog.records if r.name == "bot.outbox.worker"]
    assert [r.getMessage() for r in lines] == [
        "outbox: gave up on chat.card #1 after 1 attempt(s): Slack refused: not_in_channel — invite the bot to that "
        "channel (/invite @triage)"]
    assert all(r.exc_info is None for r in lines)


def test_a_rate_limited_slack_post_is_one_line_and_retried(slack_clinic: SlackClinic,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    slack_clinic.slack.fail_next("chat.postMessage", status=429, retry_after=3)
    with caplog.at_level(logging.INFO, logger="bot.outbox.worker"):
        slack_clinic.sms("me cobraron dos veces la última cita")
        slack_clinic.deliver()
    [line] = [r for r in caplog.records if r.name == "bot.outbox.worker"]
    assert line.getMessage() == "outbox: chat.card #1 failed (attempt 1), retrying in 0:00:03: Slack rate limited (429)"
    assert slack_clinic.slack.messages("billing")  # and it went out on the next try


def test_a_vendor_error_quoting_the_patients_number_is_logged_without_it(clinic: Clinic,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    clinic.twilio.script.append(Answer(400, {"code": 21211, "message": "Invalid 'To' Phone Number: +12125550199"}))
    with caplog.at_level(logging.INFO, logger="bot.outbox.worker"):
        clinic.sms("¿a qué hora abren?", sender="+12125550199")
        clinic.deliver()
    [line] = [r for r in caplog.records if r.name == "bot.outbox.worker"]
    assert line.getMessage() == ("outbox: gave up on reply.sms #1 after 1 attempt(s): Twilio refused the message: "
                                 "400 (code 21211: Invalid 'To' Phone Number: [number])")
    assert "5550199" not in caplog.text


def test_a_slack_call_failing_inside_a_listener_is_one_line(slack_clinic: SlackClinic,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    slack_clinic.sms("I was charged twice for my last visit")
    slack_clinic.deliver()
    slack_clinic.slack.fail_next("views.open", status=200, error="expired_trigger_id")
    with caplog.at_level(logging.WARNING):
        slack_clinic.click(FRONT_DESK_USER, ActionId.REPLY, "1", "billing")
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in lines] == ["Slack answered 200 to a call from a listener: expired_trigger_id"]
    assert all(r.exc_info is None for r in lines)


def socket_mode(slack: SlackStandIn) -> SocketModeHandler:
    client = WebClient(token="xoxb-test", base_url=f"{slack.url}/api/", retry_handlers=[])
    return SocketModeHandler(App(client=client, token_verification_enabled=False), "xapp-1-A1-123")


def test_socket_mode_refused_app_token_is_one_line_with_the_fix() -> None:
    with SlackStandIn() as slack:
        handler = socket_mode(slack)
        slack.fail_next("apps.connections.open", status=200, error="invalid_auth")
        try:
            with pytest.raises(SlackStartupError) as refused:
                connect_socket_mode(handler, f"{slack.url}/api/")
        finally:
            handler.close()
    assert str(refused.value) == ("Socket Mode: Slack refused the app-level token (invalid_auth) — create one with "
                                  "the connections:write scope under the app's Basic Information → App-Level Tokens "
                                  "and put it (xapp-…) in SLACK_APP_TOKEN")


def test_socket_mode_with_slack_down_is_retried_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    # (A 429 here is retried inside slack_sdk itself, after a Retry-After sleep; a 5xx comes back to us.)
    with SlackStandIn() as slack, caplog.at_level(logging.WARNING, logger="handlers.serve"):
        handler = socket_mode(slack)
        slack.fail_next("apps.connections.open", status=503, error="service_unavailable")
        try:
            assert connect_socket_mode(handler, f"{slack.url}/api/") is False
        finally:
            handler.close()
    [line] = [r for r in caplog.records if r.name == "handlers.serve"]
    assert line.getMessage() == ("Slack Socket Mode: Slack answered 503 (a problem on Slack's side, see "
                                 "status.slack.com) — try again later; retrying every 60 s")
    assert line.exc_info is None
