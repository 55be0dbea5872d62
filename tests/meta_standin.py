"""Meta played locally: a Send API stand-in, signed webhook deliveries, and a clinic that takes DMs.

The stand-in is tests/standins.py's threaded HTTP server answering `POST /me/messages` as Meta does (a message
id, or the error body it was told to answer next); the clinic is the real app on a loopback port with
META_APP_SECRET / META_VERIFY_TOKEN set and DM replies going to the stand-in.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.clock import Clock, ManualClock
from bot.config.models import ClinicConfig
from bot.flows.dm_window import StoredDmHistory
from bot.match.importer import import_patients
from bot.outbox.queue import OutboxKind
from bot.settings import MetaSettings, TriageSettings, TwilioSettings
from bot.storage.db import Database
from handlers.http_app import create_app
from handlers.local_server import LocalServer
from handlers.meta import sign
from handlers.wiring import build_service
from integrations.console import ConsolePoster
from integrations.meta import MetaDm
from integrations.twilio_sms import TwilioSms
from integrations.twilio_voice import TwilioVoice
from tests.conftest import CLINIC_NUMBER, PATIENTS_CSV, TWILIO_TOKEN, TZ, WEB_SECRET, Clinic, local
from tests.dburl import db_url
from tests.standins import Answer, Recorded, StandIn, TwilioApi

APP_SECRET = "test-meta-app-secret"
VERIFY_TOKEN = "test-meta-verify-token"
PAGE_TOKEN = "test-meta-page-token"
PAGE_ID = "104000000000001"
IG_ACCOUNT_ID = "17841400000000001"


class SendApi:
    """Meta's Send API: every request recorded; a message id for each, unless told to fail the next ones."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.server = StandIn(self._answer)
        self.url = f"{self.server.url}/v21.0"

    def _answer(self, recorded: Recorded) -> Answer:
        if recorded.method == "GET" and recorded.path.split("?")[0].endswith("/me"):  # whose page token it is
            if recorded.headers.get("authorization") != f"Bearer {PAGE_TOKEN}":
                return Answer(400, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                              "code": 190}})
            return Answer(200, {"id": PAGE_ID, "name": "Glow Med Spa"})
        if recorded.method != "POST" or not recorded.path.endswith("/me/messages"):
            return Answer(404, {"error": {"message": "Unknown path", "type": "GraphMethodException", "code": 803}})
        recipient = recorded.json.get("recipient", {}).get("id", "")
        return Answer(200, {"recipient_id": recipient, "message_id": f"m_standin{next(self._ids):06d}"})

    def fail_next(self, status: int, code: int | None = None, subcode: int | None = None, *,
                  message: str = "failed", headers: dict[str, str] | None = None) -> None:
        """The next call answers `status` with Meta's error body (codes as given)."""
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "fbtrace_id": "AbCdEf"}
        if code is not None:
            error["code"] = code
        if subcode is not None:
            error["error_subcode"] = subcode
        self.server.script.append(Answer(status, {"error": error}, headers or {}))

    @property
    def sends(self) -> list[Recorded]:
        return [r for r in self.server.requests if r.path.endswith("/me/messages")]

    def sent_to(self, psid: str) -> list[dict[str, Any]]:
        """The JSON bodies of every send to `psid` (the failed tries too)."""
        return [r.json for r in self.sends if r.json.get("recipient", {}).get("id") == psid]

    def close(self) -> None:
        self.server.close()


# --- webhook deliveries -------------------------------------------------------------------------------------------

_MIDS = itertools.count(1)


def text_event(psid: str, text: str, *, mid: str | None = None, to: str = PAGE_ID,
               attachments: list[dict[str, Any]] | None = None, echo: bool = False) -> dict[str, Any]:
    """One `messaging` event carrying a message from `psid` (or, with `echo`, the page's own send)."""
    message: dict[str, Any] = {"mid": mid or f"m_test{next(_MIDS):06d}"}
    if text:
        message["text"] = text
    if attachments:
        message["attachments"] = attachments
    if echo:
        message["is_echo"] = True
        message["app_id"] = 1234
    sender, recipient = (to, psid) if echo else (psid, to)
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": 1764000000000,
            "message": message}


def delivery(*entries: list[dict[str, Any]], kind: str = "page", account: str = PAGE_ID) -> dict[str, Any]:
    """A webhook body: one entry per list of events."""
    return {"object": kind, "entry": [{"id": account, "time": 1764000000000, "messaging": events}
                                      for events in entries]}


# --- a clinic that takes DMs --------------------------------------------------------------------------------------

@dataclass
class MetaClinic:
    clinic: Clinic
    send_api: SendApi

    def post(self, payload: dict[str, Any] | bytes, *, signature: str | bytes | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """A delivery to POST /inbound/meta, signed with the app secret unless `signature` is given ("": none)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        given = sign(APP_SECRET, body) if signature is None else signature
        sent = {b"content-type": b"application/json",
                **{k.lower().encode(): v.encode() for k, v in (headers or {}).items()}}
        if given:
            sent[b"x-hub-signature-256"] = given if isinstance(given, bytes) else given.encode()
        return self.clinic.http.post("/inbound/meta", content=body, headers=sent)

    def dm(self, text: str, psid: str = "2900000000000001", **more: Any) -> httpx.Response:
        """One DM from `psid`, then triage (as the worker would right after the 200)."""
        response = self.post(delivery([text_event(psid, text, **more)]))
        self.clinic.triage()
        return response


def meta_settings(graph_url: str) -> MetaSettings:
    return MetaSettings(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, page_token=PAGE_TOKEN,
                        graph_url=graph_url)


@contextmanager
def running_meta_clinic(tmp_path: Path, config: ClinicConfig) -> Iterator[MetaClinic]:
    """tests/conftest.py's clinic, with Meta set up: signed deliveries accepted, DM replies to the stand-in."""
    clock = ManualClock(local(2026, 11, 24, 10, 30))  # a Tuesday morning, clinic open
    twilio = StandIn(TwilioApi())
    send_api = SendApi()
    settings = TriageSettings(database_url=db_url(tmp_path), web_form_secret=WEB_SECRET, max_body_bytes=16 * 1024)
    twilio_settings = TwilioSettings(account_sid="ACtest", auth_token=TWILIO_TOKEN, from_number=CLINIC_NUMBER,
                                     api_url=twilio.url)

    def dm(db: Database, clock: Clock) -> MetaDm:
        return MetaDm(PAGE_TOKEN, send_api.url, StoredDmHistory(db), clock)

    poster = ConsolePoster()
    service = build_service(settings, twilio_settings, config, clock=clock, poster=poster,
                            messengers={OutboxKind.REPLY_SMS: TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER,
                                                                        twilio.url), "reply.dm": dm},
                            caller=TwilioVoice("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, twilio.url),
                            meta=meta_settings(send_api.url))
    csv_path = tmp_path / "patients.csv"
    csv_path.write_text(PATIENTS_CSV, encoding="utf-8")
    with service.db.transaction() as session:
        import_patients(session, csv_path, TZ)
    try:
        with LocalServer(create_app(service)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            yield MetaClinic(Clinic(service, clock, twilio, poster, http, server.url), send_api)
    finally:
        twilio.close()
        send_api.close()
        service.db.dispose()
