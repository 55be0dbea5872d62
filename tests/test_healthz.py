"""/healthz through the real HTTP app: what is connected, what the outbox last saw, and 503 only when the
database cannot be used."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.clock import ManualClock
from bot.config.loader import load_config
from bot.settings import TriageSettings, TwilioSettings
from bot.storage.db import downgrade
from handlers.http_app import create_app
from handlers.local_server import LocalServer
from handlers.wiring import build_service
from integrations.console import ConsolePoster
from tests.conftest import HERE, Clinic, local
from tests.dburl import db_url
from tests.slack_clinic import SlackClinic
from tests.standins import Answer

PATIENT = "+12125550199"


def test_a_fresh_clinic_reports_each_component(clinic: Clinic) -> None:
    response = clinic.http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["clinic"] == "Test Clinic" and body["problems"] == []
    parts = body["components"]
    assert parts["database"] == {"ok": True}
    assert parts["migrations"]["ok"] is True and parts["migrations"]["at"] == parts["migrations"]["head"]
    assert parts["outbox"] == {"pending": 0, "oldest_pending_seconds": 0, "failed_last_24h": 0}
    # The console stands in for Slack here; Twilio has credentials; no mail server is set.
    assert parts["slack"] == {"configured": False, "last_delivery": None}
    assert parts["twilio"] == {"configured": True, "needed": True, "last_delivery": None}
    assert parts["email"] == {"configured": False, "last_delivery": None}


def test_the_last_sms_delivery_is_shown(clinic: Clinic) -> None:
    for text in ("what are your hours", "¿a qué hora abren?", "cuál es su horario"):
        assert clinic.sms(text).status_code == 200
    clinic.deliver()
    body = clinic.http.get("/healthz").json()
    last = body["components"]["twilio"]["last_delivery"]
    assert last["ok"] is True and last["kind"] == "reply.sms" and last["at"].startswith("2026-11-24T15:30")
    assert body["components"]["outbox"]["pending"] == 0 and body["status"] == "ok"


def test_a_failing_twilio_degrades_without_quoting_the_vendor(clinic: Clinic) -> None:
    clinic.twilio.script.append(Answer(400, {"code": 21211, "message": f"Invalid 'To' Phone Number: {PATIENT}"}))
    clinic.sms("¿a qué hora abren?", sender=PATIENT)
    clinic.deliver()
    response = clinic.http.get("/healthz")
    assert response.status_code == 200  # patients' messages are still taken: not a reason to pull the instance
    body = response.json()
    assert body["status"] == "degraded" and body["problems"] == ["twilio: the last delivery failed"]
    assert body["components"]["twilio"]["last_delivery"] == {"ok": False, "kind": "reply.sms", "retrying": False}
    assert body["components"]["outbox"]["failed_last_24h"] == 1
    assert PATIENT not in response.text and "5550199" not in response.text


def test_a_twilio_outage_being_retried_degrades(clinic: Clinic) -> None:
    clinic.twilio.script.extend([Answer(503, {}), Answer(503, {})])
    clinic.sms("what are your hours")
    clinic.deliver()
    body = clinic.http.get("/healthz").json()
    assert body["components"]["twilio"]["last_delivery"] == {"ok": False, "kind": "reply.sms", "retrying": True}
    assert body["components"]["outbox"]["pending"] == 1 and body["status"] == "degraded"


def test_a_stale_outbox_backlog_degrades(clinic: Clinic) -> None:
    clinic.sms("when are you open")  # an answer queued, and the worker never runs
    body = clinic.http.get("/healthz").json()
    assert body["status"] == "ok" and body["components"]["outbox"]["pending"] == 1
    clinic.clock.advance(timedelta(minutes=20))
    body = clinic.http.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["components"]["outbox"]["oldest_pending_seconds"] == 20 * 60
    assert body["problems"] == ["outbox backlog: the oldest undelivered item has waited over 15 minutes"]


def test_slack_configured_and_its_last_post_refused(slack_clinic: SlackClinic) -> None:
    body = slack_clinic.http.get("/healthz").json()
    assert body["components"]["slack"] == {"configured": True, "last_delivery": None}
    slack_clinic.sms("why was I charged twice?")
    slack_clinic.deliver()
    body = slack_clinic.http.get("/healthz").json()
    assert body["components"]["slack"]["last_delivery"]["ok"] is True and body["status"] == "ok"
    # The token was revoked: the card fails, and so does the alert about it to the managers' channel.
    slack_clinic.slack.fail_next("chat.postMessage", status=200, error="token_revoked")
    slack_clinic.slack.fail_next("chat.postMessage", status=200, error="token_revoked")
    slack_clinic.sms("me cobraron dos veces, ¿me pueden ayudar?", sender="+12125550177")
    slack_clinic.deliver()
    body = slack_clinic.http.get("/healthz").json()
    assert body["components"]["slack"]["last_delivery"]["ok"] is False
    assert "slack: the last delivery failed" in body["problems"] and body["status"] == "degraded"


def test_a_schema_behind_the_migrations_is_unhealthy(clinic: Clinic) -> None:
    downgrade(clinic.service.db.engine, "0003")
    response = clinic.http.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and body["components"]["migrations"]["at"] == ["0003"]


@pytest.mark.sqlite_only("writes garbage over the database file")
def test_an_unusable_database_is_503(clinic: Clinic) -> None:
    database = Path(str(make_url(clinic.service.db.url).database))
    clinic.service.db.engine.dispose()
    for leftover in (Path(f"{database}-wal"), Path(f"{database}-shm")):
        leftover.unlink(missing_ok=True)
    database.write_bytes(b"not a database, a disk that went bad " * 200)
    response = clinic.http.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "clinic": "Test Clinic", "problems": ["database unreachable"],
                               "components": {"database": {"ok": False}}}


def test_twilio_missing_while_the_config_needs_it_degrades(tmp_path: Path) -> None:
    # A clinic started without Twilio credentials, whose config lets the bot answer texts (routing.auto_answer):
    # the missing transport is a problem to see, not a detail.
    config = load_config(HERE / "data_clinic.yml")
    settings = TriageSettings(database_url=db_url(tmp_path))
    service = build_service(settings, TwilioSettings(), config, clock=ManualClock(local(2026, 11, 24, 10, 30)),
                            poster=ConsolePoster(), messengers={})
    try:
        with LocalServer(create_app(service)) as server, httpx.Client(base_url=server.url) as http:
            body = http.get("/healthz").json()
    finally:
        service.db.dispose()
    assert body["status"] == "degraded" and body["components"]["twilio"]["configured"] is False
    assert body["problems"] == ["twilio: not configured, and the clinic's config needs it (see `triage-bot doctor`)"]
