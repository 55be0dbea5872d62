"""/readyz, /metrics and the JSON logs, through the real HTTP app."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config.loader import load_config
from bot.outbox.queue import OutboxKind, enqueue
from bot.storage.db import downgrade
from bot.storage.models import OutboxRow
from handlers.http_app import create_app
from handlers.local_server import LocalServer
from handlers.logs import configure, redact_text
from tests.conftest import HERE, Clinic, running_clinic
from tests.standins import Answer

PATIENT = "+12125550104"


def samples(response: httpx.Response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_readyz_is_ready_on_a_fresh_clinic(clinic: Clinic) -> None:
    response = clinic.http.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["problems"] == []
    assert body["checks"]["database"] == {"ok": True} and body["checks"]["migrations"]["ok"] is True
    assert body["outbox"] == {"pending": 0, "oldest_pending_seconds": 0}
    assert body["undelivered_alerts"] == {"count": 0, "outbox_ids": []}


def test_readyz_is_503_when_a_worker_stopped_or_the_schema_is_behind(tmp_path: Path) -> None:
    alive = {"outbox": True, "triage": True, "scheduler": True}
    with running_clinic(tmp_path, load_config(HERE / "data_clinic.yml")) as clinic, \
            LocalServer(create_app(clinic.service, workers=lambda: dict(alive))) as server, \
            httpx.Client(base_url=server.url) as http:
        assert http.get("/readyz").status_code == 200
        alive["triage"] = False
        response = http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["problems"] == ["worker triage is not running"]
        assert response.json()["checks"]["workers"] == {"outbox": True, "scheduler": True, "triage": False}
        alive["triage"] = True
        downgrade(clinic.service.db.engine, "0003")
        response = http.get("/readyz")
        assert response.status_code == 503 and response.json()["status"] == "not ready"
        assert response.json()["problems"] == ["database schema is not at the migrations' head"]
        assert http.get("/healthz").status_code == 503  # unchanged: /healthz says the same about the schema


def test_readyz_shows_an_undelivered_alert_without_failing(clinic: Clinic) -> None:
    with clinic.service.db.transaction() as session:
        enqueue(session, OutboxKind.CHAT_ALERT, "managers", clinic.clock.now(), payload={"text": "x"},
                dedupe_key="alert-test")
    with clinic.service.db.transaction() as session:
        row = session.query(OutboxRow).one()
        row.status, row.attempts = "failed", 5
        alert_id = row.id
    clinic.clock.advance(timedelta(minutes=3))
    body = clinic.http.get("/readyz").json()
    assert body["status"] == "ready" and body["undelivered_alerts"] == {"count": 1, "outbox_ids": [alert_id]}
    clinic.clock.advance(timedelta(days=2))
    assert clinic.http.get("/readyz").json()["undelivered_alerts"]["count"] == 0  # only the last 24 h


def test_metrics_count_messages_tickets_outbox_and_latency(clinic: Clinic) -> None:
    clinic.twilio.script.append(Answer(503, {}))  # the first reply fails once and waits to be retried
    assert clinic.sms("why was I charged twice for my last visit??", sender=PATIENT).status_code == 200
    assert clinic.sms("what are your hours", sender="+12125550101").status_code == 200
    assert clinic.web({"id": "w1", "message": "Is it safe to get botox while breastfeeding?",
                       "email": "ava@example.com"}).status_code == 200
    clinic.deliver()
    clinic.clock.advance(timedelta(seconds=90))
    response = clinic.http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    found = samples(response)
    assert found[("triage_database_up", ())] == 1
    assert found[("triage_messages_received_total", (("channel", "sms"),))] == 2
    assert found[("triage_messages_received_total", (("channel", "web"),))] == 1
    assert found[("triage_tickets_total", (("category", "billing"), ("route", "billing")))] == 1
    assert found[("triage_tickets_total", (("category", "clinical"), ("route", "clinical")))] == 1
    assert found[("triage_outbox_depth", (("kind", "reply.sms"),))] == 1
    assert found[("triage_outbox_deliveries", (("kind", "reply.sms"), ("result", "retrying")))] == 1
    assert found[("triage_outbox_oldest_pending_age_seconds", ())] == 90
    assert found[("triage_classification_seconds_count", ())] >= 3
    assert PATIENT not in response.text and "ava@" not in response.text


def test_sla_breaches_appear_once_a_ticket_is_overdue(clinic: Clinic) -> None:
    clinic.sms("why was I charged twice for my last visit??", sender=PATIENT)
    assert ("triage_sla_breaches", (("category", "billing"),)) not in samples(clinic.http.get("/metrics"))
    clinic.clock.advance(timedelta(days=3))
    assert samples(clinic.http.get("/metrics"))[("triage_sla_breaches", (("category", "billing"),))] == 1


def test_each_app_has_its_own_registry(clinic: Clinic) -> None:
    create_app(clinic.service)
    create_app(clinic.service)  # a second and a third app in one process: no duplicate-metric error
    assert clinic.http.get("/metrics").status_code == 200


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure(logging.DEBUG, stream)
    try:
        yield stream
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])


def test_logs_are_json_with_ids_and_without_the_patient(clinic: Clinic, json_logs: io.StringIO) -> None:
    body = "my lips are swollen and I can't breathe after the filler, call me at 212 555 0104 or dan@example.com"
    clinic.twilio.script.append(Answer(400, {"code": 21211, "message": f"Invalid 'To' Phone Number: {PATIENT}"}))
    assert clinic.sms(body, sender=PATIENT).status_code == 200
    clinic.service.sweep()
    clinic.deliver()
    logging.getLogger("handlers.test").info("a check", extra={"ticket_id": 1, "message_id": 1, "body": body})
    text = json_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines and all({"event", "level", "logger", "timestamp"} <= set(line) for line in lines)
    assert any(line.get("ticket_id") == 1 and line.get("message_id") == 1 for line in lines)
    assert any("outbox_id" in line or "ticket_id" in line for line in lines if line["logger"] != "handlers.test")
    for secret in ("swollen", PATIENT, "5550104", "555 0104", "dan@example.com", "Daniel", "Kim"):
        assert secret not in text, secret


def test_the_redactor_catches_phones_and_emails_but_not_ids() -> None:
    assert redact_text("to +1 (212) 555-0101, 2125550102 or a.b+c@example.co.uk") == "to [phone], [phone] or [email]"
    kept = "outbox #42 ticket 7 at 2026-11-24T15:30:00 from 127.0.0.1:8080 v1.2.3"
    assert redact_text(kept) == kept
