"""A clinic under test: the real app on a loopback port, a real database (tests/dburl.py), Twilio played locally."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.classify.result import Classifier
from bot.clock import ManualClock
from bot.config.loader import load_config
from bot.config.models import ClinicConfig
from bot.match.importer import import_patients
from bot.outbox.queue import OutboxKind
from bot.settings import TriageSettings, TwilioSettings
from bot.storage.models import InboundMessageRow, OutboxRow, TicketEventRow, TicketRow
from handlers.http_app import create_app
from handlers.local_server import LocalServer
from handlers.service import Service
from handlers.web_form import sign
from handlers.wiring import build_service
from integrations.console import ConsolePoster
from integrations.twilio_sms import TwilioSms
from integrations.twilio_voice import TwilioVoice
from tests.dburl import POSTGRESQL, SQLITE, backend, db_url, drop_test_databases, made
from tests.standins import StandIn, TwilioApi

pytest_plugins = ["tests.slack_clinic", "tests.teams_clinic"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=[SQLITE, POSTGRESQL], default=None,
                     help="the database every test runs on (default: $TRIAGE_TEST_DATABASE, else sqlite); "
                          "postgresql uses the server at $TRIAGE_TEST_PG_URL")


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("--db")
    if chosen:
        import os

        os.environ["TRIAGE_TEST_DATABASE"] = chosen  # subprocesses and tests/dburl.py read it from there
    config.addinivalue_line("markers", "postgresql_only(reason): needs PostgreSQL (e.g. concurrency that "
                                       "SQLite serialises); skipped on the SQLite run")
    config.addinivalue_line("markers", "sqlite_only(reason): about SQLite itself (files, pragmas); skipped on "
                                       "the PostgreSQL run")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {backend()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, wanted in (("postgresql_only", POSTGRESQL), ("sqlite_only", SQLITE)):
            found = item.get_closest_marker(marker)
            if found is not None and backend() != wanted:
                why = found.args[0] if found.args else f"{wanted} only"
                how = " (run with --db=postgresql or TRIAGE_TEST_DATABASE=postgresql)" if wanted == POSTGRESQL else ""
                item.add_marker(pytest.mark.skip(reason=f"{wanted} only: {why}{how}"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_test_databases()


@pytest.fixture(autouse=True)
def _drop_databases_after_each_test() -> Iterator[None]:
    before = made()
    yield
    drop_test_databases(keep=before)

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared"
TZ = ZoneInfo("America/New_York")
TWILIO_TOKEN = "test-twilio-auth-token"
WEB_SECRET = "test-web-form-secret"
CLINIC_NUMBER = "+12125550000"

PATIENTS_CSV = """id,name,phone,email,tier,lifetime_value,balance,last_visit,next_appointment,provider,language
P-1,Olivia Bennett,+1 212 555 0101,olivia@example.com,2,3240,0,2026-10-02,2026-12-01 10:00,Dr. Lee,en
P-2,Harper Collins,212-555-0102,harper@example.com,1,14200,0,2026-11-18,,Dr. Lee,en
P-3,Sofía Ramírez,(212) 555-0103,sofia@example.com,2,1890.50,120,2026-11-10,,Dr. Lee,es
P-4,Daniel Kim,2125550104,dan@example.com,3,420,480,2026-09-14,,Dr. Lee,en
"""


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


@dataclass
class Clinic:
    service: Service
    clock: ManualClock
    twilio: StandIn
    poster: ConsolePoster
    http: httpx.Client
    url: str
    _sids: Any = None

    def sms(self, body: str, sender: str = "+12125550199", *, sid: str | None = None,
            extra: dict[str, str] | None = None, signature: str | None = None) -> httpx.Response:
        self._sids = self._sids or itertools.count(1)
        form = {"MessageSid": sid or f"SMtest{next(self._sids):04d}", "From": sender, "To": CLINIC_NUMBER,
                "Body": body, "NumMedia": "0", **(extra or {})}
        if signature is None:
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{self.url}/inbound/sms", form)
        response = self.http.post("/inbound/sms", data=form, headers={"X-Twilio-Signature": signature})
        self.triage()
        return response

    def web(self, payload: dict[str, Any] | bytes, *, secret: str = WEB_SECRET) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response = self.http.post("/inbound/web", content=body, headers={
            "Content-Type": "application/json", "X-Triage-Signature": sign(secret, body)})
        self.triage()
        return response

    def triage(self) -> int:
        """What the triage worker does right after a webhook answers (tests drive it: no background thread)."""
        return self.service.run_triage()

    def deliver(self) -> int:
        return self.service.run_outbox()

    def tickets(self) -> list[TicketRow]:
        with self.service.db.transaction() as session:
            return list(session.scalars(select(TicketRow).order_by(TicketRow.id)))

    def events(self, ticket_id: int) -> list[str]:
        with self.service.db.transaction() as session:
            return list(session.scalars(select(TicketEventRow.kind).where(TicketEventRow.ticket_id == ticket_id)
                                        .order_by(TicketEventRow.id)))

    def outbox(self, kind: str | None = None) -> list[OutboxRow]:
        with self.service.db.transaction() as session:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if kind:
                query = query.where(OutboxRow.kind == kind)
            return list(session.scalars(query))

    def inbound(self) -> list[InboundMessageRow]:
        with self.service.db.transaction() as session:
            return list(session.scalars(select(InboundMessageRow).order_by(InboundMessageRow.id)))

    def texts_to(self, phone: str) -> list[str]:
        return [r.form["Body"] for r in self.twilio.requests
                if r.path.endswith("/Messages.json") and r.form.get("To") == phone]

    def calls_to(self, phone: str) -> list[str]:
        """The TwiML of every call placed to `phone`."""
        return [r.form["Twiml"] for r in self.twilio.requests
                if r.path.endswith("/Calls.json") and r.form.get("To") == phone]


@contextmanager
def running_clinic(tmp_path: Path, config: ClinicConfig, *, classifier: Classifier | None = None) -> Iterator[Clinic]:
    """A clinic with `config` on a loopback port, Twilio played by a stand-in, the test patients imported.

    `classifier`: the model at its process edge (default: the real one).
    """
    clock = ManualClock(local(2026, 11, 24, 10, 30))  # a Tuesday morning, clinic open
    twilio = StandIn(TwilioApi())
    settings = TriageSettings(database_url=db_url(tmp_path), web_form_secret=WEB_SECRET,
                              max_body_bytes=16 * 1024)
    twilio_settings = TwilioSettings(account_sid="ACtest", auth_token=TWILIO_TOKEN, from_number=CLINIC_NUMBER,
                                     api_url=twilio.url)
    sms = TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, twilio.url)
    poster = ConsolePoster()
    service = build_service(settings, twilio_settings, config, clock=clock, poster=poster,
                            messengers={OutboxKind.REPLY_SMS: sms},
                            caller=TwilioVoice("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, twilio.url),
                            classifier=classifier)
    csv_path = tmp_path / "patients.csv"
    csv_path.write_text(PATIENTS_CSV, encoding="utf-8")
    with service.db.transaction() as session:
        import_patients(session, csv_path, TZ)
    try:
        with LocalServer(create_app(service)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            yield Clinic(service, clock, twilio, poster, http, server.url)
    finally:
        twilio.close()
        service.db.dispose()


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    with running_clinic(tmp_path, load_config(HERE / "data_clinic.yml")) as running:
        yield running
