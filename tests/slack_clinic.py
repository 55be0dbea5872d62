"""A clinic wired to Slack: the real Bolt app behind /slack/events, a Slack Web API stand-in, Twilio too."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot.clock import ManualClock
from bot.config.loader import load_config
from bot.match.importer import import_patients
from bot.outbox.queue import OutboxKind
from bot.settings import TriageSettings, TwilioSettings
from bot.storage.models import OutboxRow, TicketRow
from handlers.http_app import create_app
from handlers.local_server import LocalServer
from handlers.service import Service
from handlers.slack.app import build_slack_app
from handlers.wiring import build_service
from integrations.slack.poster import SlackPoster, web_client
from integrations.slack.settings import SlackSettings
from integrations.twilio_sms import TwilioSms
from integrations.twilio_voice import TwilioVoice
from tests.conftest import CLINIC_NUMBER, HERE, PATIENTS_CSV, TWILIO_TOKEN, TZ, local
from tests.dburl import db_url
from tests.slack_standin import SlackStandIn
from tests.standins import StandIn, TwilioApi

SIGNING_SECRET = "test-slack-signing-secret"
CLINICAL_USER, DOCTOR, FRONT_DESK_USER = "UNURSE", "UDRLEE", "UJESS"
STAFF_IDS = {"UDRLEE": "dr-lee", "UNURSE": "nurse", "UJESS": "jess", "UBOSS": "boss"}  # tests/data_clinic.yml


def stored(user: str) -> str:
    """What tickets and audit events keep for a Slack user of the test clinic: the staff id, else slack:U…."""
    return STAFF_IDS.get(user, f"slack:{user}")

SLACK_CONFIG_EXTRA = """
roles:
  clinical: {members: [UNURSE], lead: nurse}
  front_desk: {members: [UJESS, UMARCO], lead: jess}
  billing: {members: [UJESS], usergroup: S0BILL, lead: jess}
  managers: {members: [UBOSS]}
escalation:
  manager: boss
oncall:
  backup: {mon: nurse, tue: nurse, wed: nurse, thu: nurse, fri: nurse, sat: nurse, sun: nurse}
templates:
  staff_replies:
    en: {call-me: "Hi, this is {clinic}. Can we call you about your message?"}
    es: {call-me: "Hola, le escribimos de {clinic}. ¿Podemos llamarle?"}
"""


@dataclass
class SlackClinic:
    service: Service
    clock: ManualClock
    slack: SlackStandIn
    twilio: StandIn
    http: httpx.Client
    url: str
    _sids: int = 0
    _interactions: int = 0

    # --- patients write in -------------------------------------------------------------------------
    def sms(self, body: str, sender: str = "+12125550199", *, extra: dict[str, str] | None = None) -> None:
        self._sids += 1
        form = {"MessageSid": f"SMs{self._sids:04d}", "From": sender, "To": CLINIC_NUMBER, "Body": body,
                "NumMedia": "0", **(extra or {})}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{self.url}/inbound/sms", form)
        response = self.http.post("/inbound/sms", data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200, response.text
        self.service.run_triage()  # what the triage worker does right after the webhook answers

    # --- Slack calls us -----------------------------------------------------------------------------
    def signed(self, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> httpx.Response:
        timestamp = str(int(time.time()))
        digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
                   "X-Slack-Signature": f"v0={digest}", **(extra or {})}
        return self.http.post("/slack/events", content=body, headers=headers)

    def trigger(self) -> str:
        """A fresh trigger id and action_ts, as Slack gives each interaction (its retries repeat them)."""
        self._interactions += 1
        return f"{self._interactions}.{self._interactions:06d}"

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.signed(body, "application/x-www-form-urlencoded")

    def click(self, user: str, action_id: str, value: str, channel: str = "clinical",
              option: str | None = None) -> httpx.Response:
        stamp = self.trigger()
        action: dict[str, Any] = {"action_id": action_id, "block_id": "b", "type": "button", "value": value,
                                  "action_ts": stamp}
        if option is not None:
            action = {"action_id": action_id, "block_id": "b", "type": "overflow", "action_ts": stamp,
                      "selected_option": {"value": option, "text": {"type": "plain_text", "text": option}}}
        return self.interact({
            "type": "block_actions", "user": {"id": user, "username": user.lower(), "name": user.lower()},
            "api_app_id": "A1", "token": "legacy", "team": {"id": "T1"}, "trigger_id": f"trigger-{user}-{stamp}",
            "channel": {"id": channel}, "container": {"type": "message", "channel_id": channel},
            "response_url": f"{self.slack.url}/response", "actions": [action],
        })

    def submit(self, user: str, callback_id: str, ticket_id: int, values: dict[str, dict[str, Any]],
               view_id: str = "VSUBMIT") -> httpx.Response:
        return self.interact({
            "type": "view_submission", "user": {"id": user, "username": user.lower(), "name": user.lower()},
            "api_app_id": "A1", "token": "legacy", "team": {"id": "T1"}, "trigger_id": f"t-{self.trigger()}",
            "view": {"id": view_id, "type": "modal", "callback_id": callback_id, "private_metadata": str(ticket_id),
                     "state": {"values": values}},
        })

    def command(self, user: str, text: str = "") -> httpx.Response:
        body = urlencode({"command": "/triage", "text": text, "user_id": user, "user_name": user.lower(),
                          "channel_id": "C1", "team_id": "T1", "trigger_id": f"t-{self.trigger()}", "api_app_id": "A1",
                          "response_url": f"{self.slack.url}/response", "token": "legacy"}).encode()
        return self.signed(body, "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any], event_id: str, retry: int | None = None) -> httpx.Response:
        body = json.dumps({"type": "event_callback", "event_id": event_id, "event": event, "team_id": "T1",
                           "api_app_id": "A1", "token": "legacy", "event_time": 1}).encode()
        extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.signed(body, "application/json", extra)

    # --- time passes, the outbox delivers -----------------------------------------------------------
    def deliver(self, seconds: int = 30) -> None:
        """Run the outbox as the scheduler would, one second at a time (chat posts are paced 1/s/channel)."""
        for _ in range(seconds):
            self.service.run_outbox()
            if not self._pending_soon():
                return
            self.clock.advance(timedelta(seconds=1))

    def _pending_soon(self) -> bool:
        from sqlalchemy import select

        with self.service.db.transaction() as session:
            horizon = self.clock.now() + timedelta(seconds=5)
            return session.scalars(select(OutboxRow.id).where(
                OutboxRow.status == "pending", OutboxRow.next_attempt_at <= horizon)).first() is not None

    def ticket(self, ticket_id: int = 1) -> TicketRow:
        with self.service.db.transaction() as session:
            row = session.get(TicketRow, ticket_id)
            assert row is not None
            return row

    def outbox(self, kind: str) -> list[OutboxRow]:
        from sqlalchemy import select

        with self.service.db.transaction() as session:
            return list(session.scalars(select(OutboxRow).where(OutboxRow.kind == kind).order_by(OutboxRow.id)))


@contextmanager
def running_slack_clinic(tmp_path: Path, extra: str = "", database_url: str | None = None) -> Iterator[SlackClinic]:
    """The test clinic plus the Slack roles, `extra` config YAML, the real Bolt app behind /slack/events (on
    `database_url` when given, else the test's own database)."""
    config_path = tmp_path / "clinic.yml"
    config_path.write_text((HERE / "data_clinic.yml").read_text() + SLACK_CONFIG_EXTRA + extra, encoding="utf-8")
    config = load_config(config_path)
    clock = ManualClock(local(2026, 11, 24, 10, 30))
    slack, twilio = SlackStandIn(), StandIn(TwilioApi())
    settings = TriageSettings(database_url=database_url or db_url(tmp_path))
    twilio_settings = TwilioSettings(account_sid="ACtest", auth_token=TWILIO_TOKEN, from_number=CLINIC_NUMBER,
                                     api_url=twilio.url)
    slack_settings = SlackSettings(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=f"{slack.url}/api/")
    client = web_client("xoxb-test", slack_settings.base_url)
    service = build_service(settings, twilio_settings, config, clock=clock, poster=SlackPoster(client),
                            messengers={OutboxKind.REPLY_SMS: TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER,
                                                                        twilio.url)},
                            caller=TwilioVoice("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, twilio.url))
    csv_path = tmp_path / "patients.csv"
    csv_path.write_text(PATIENTS_CSV, encoding="utf-8")
    with service.db.transaction() as session:
        import_patients(session, csv_path, TZ)
    app = build_slack_app(service, slack_settings, client)
    try:
        with LocalServer(create_app(service, app)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            yield SlackClinic(service, clock, slack, twilio, http, server.url)
    finally:
        slack.close()
        twilio.close()
        service.db.dispose()


@pytest.fixture
def slack_clinic(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SlackClinic]:
    """`@pytest.mark.clinic_yaml("...")` on a test adds config to this clinic."""
    marker = request.node.get_closest_marker("clinic_yaml")
    with running_slack_clinic(tmp_path, marker.args[0] if marker else "") as running:
        yield running


def blocks(message: dict[str, Any] | None) -> str:
    """A posted message's blocks as text, for `in` checks."""
    assert message is not None
    return str(message.get("blocks"))
