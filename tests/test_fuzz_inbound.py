"""Property-based requests against every inbound endpoint, through the real HTTP app on a loopback port.

Both kinds: validly signed odd requests (the signature computed over the odd body, so they get past
authentication and reach the parsers) and unsigned or malformed ones. Whatever comes in: never a 5xx, never a
dropped connection, never a traceback in the log; a refused request stores nothing; every stored message is
triaged (a ticket, a follow-up on one, or an opt-out); the server stays healthy and its memory comes back.

Seeds are fixed (derandomize) so CI runs the same cases every time; FUZZ_SCALE multiplies the case counts.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.config.loader import load_config
from bot.optouts import keyword_of
from bot.storage.models import InboundMessageRow, OptOutRow, TicketEventRow, TicketRow
from handlers.meta import sign as meta_sign
from handlers.web_form import sign
from tests.conftest import CLINIC_NUMBER, HERE, TWILIO_TOKEN, WEB_SECRET, Clinic, running_clinic
from tests.meta_standin import APP_SECRET, PAGE_ID, VERIFY_TOKEN, MetaClinic, running_meta_clinic, text_event
from tests.slack_clinic import SIGNING_SECRET, SlackClinic, running_slack_clinic

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=1, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def cases(n: int) -> settings:
    return settings(FUZZ, max_examples=max(1, int(n * SCALE)))


# --- what the server did -----------------------------------------------------------------------------------------

class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Ledger:
    """Every answer, and what the database held around each refused request."""

    statuses: dict[int, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    stored_by_refusals: list[str] = field(default_factory=list)

    def note(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


def stored(service: Any) -> int:
    with service.db.transaction() as session:
        return int(session.scalar(select(func.count(InboundMessageRow.id))) or 0)


def send(target: Clinic | SlackClinic, ledger: Ledger, what: str, request: httpx.Request) -> httpx.Response | None:
    before = stored(target.service)
    try:
        response = target.http.send(request)
    except httpx.TransportError as exc:  # a dropped connection or a server that stopped answering
        ledger.dropped.append(f"{what}: {type(exc).__name__}")
        return None
    ledger.note(response.status_code)
    if response.status_code >= 500:
        ledger.server_errors.append(f"{what}: {response.status_code} {response.text[:200]}")
    elif response.status_code >= 400:
        if stored(target.service) != before:
            ledger.stored_by_refusals.append(f"{what}: {response.status_code}")
        assert response.content, f"{what}: a {response.status_code} without a reason"
    return response


# --- generators ---------------------------------------------------------------------------------------------------

PHONES = ["+12125550101", "+12125550102", "+12125550104", "(212) 555-0188", "+442071838750", "5550100",
          "not a phone", "+1 212 555 01999999999", "", "١٢١٢٥٥٥٠١٠١", "+12125550199"]
ODD_NUMBERS = ["0", "1", "2", "10", "11", "99", "-1", "1.5", "²", "١", " 1", "1 ", "0x1", "", "1e3", "🙂",
               "999999999999999999999999"]
ODD_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=400),
    st.sampled_from(["STOP", "start", "yes", "BAJA", "what are your hours", "why was I charged twice?",
                     "my lips are swollen and I can't breathe", "\x00", "a\x00b", "\u202e", "\ufeff", " ", "🙂" * 50,
                     "x" * 3000]),
)
URLS = st.one_of(st.sampled_from([
    "https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages/MM1/Media/ME1", "http://x", "javascript:alert(1)",
    "ftp://host/f", "https://", "//host/path", "https://h/ pace", "https://[::1", "https://é.com/x", ""]),
    st.text(max_size=80))
MIME = st.one_of(st.sampled_from(["image/jpeg", "image/png", "text/plain", "", "image", "/", "a/b/c", "image/🙂"]),
                 st.text(max_size=30))
SMS_KEYS = ["MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
            "MediaUrl1", "MediaContentType1", "AccountSid", "Other"]


@st.composite
def sms_forms(draw: st.DrawFn) -> dict[str, str]:
    form: dict[str, str] = {}
    if draw(st.booleans()):
        form["MessageSid"] = draw(st.one_of(st.from_regex(r"SM[0-9a-f]{8,32}", fullmatch=True), st.text(max_size=140)))
    if draw(st.integers(0, 9)) > 0:
        form["From"] = draw(st.one_of(st.sampled_from(PHONES), st.text(max_size=80)))
    if draw(st.booleans()):
        form["To"] = draw(st.one_of(st.just(CLINIC_NUMBER), st.text(max_size=80)))
    if draw(st.integers(0, 9)) > 0:
        form["Body"] = draw(ODD_TEXT)
    if draw(st.booleans()):
        form["NumMedia"] = draw(st.one_of(st.sampled_from(ODD_NUMBERS), st.text(max_size=5)))
        for index in range(draw(st.integers(0, 3))):
            form[f"MediaUrl{index}"] = draw(URLS)
            if draw(st.booleans()):
                form[f"MediaContentType{index}"] = draw(MIME)
    for key in draw(st.lists(st.text(min_size=1, max_size=20), max_size=3)):
        form.setdefault(key, draw(st.text(max_size=30)))
    return form


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)), max_leaves=12)


@st.composite
def web_payloads(draw: st.DrawFn) -> Any:
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(JSON_VALUES)
    payload: dict[str, Any] = {}
    for key, good in (("id", st.from_regex(r"f-[a-z0-9]{1,12}", fullmatch=True)), ("message", ODD_TEXT),
                      ("name", st.text(max_size=250)), ("email", st.sampled_from(
                          ["ava@example.com", "OLIVIA@example.com", "nope", "a@b", "", "ü@ü.de"])),
                      ("phone", st.sampled_from(PHONES))):
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue
        payload[key] = draw(good) if choice > 1 else draw(JSON_VALUES)
    return payload


META_IDS = st.one_of(st.sampled_from(["2900000000000001", "2900000000000002", PAGE_ID, "0", "", "-1", "1e5",
                                      "²", "١٢٣", "9" * 64, "9" * 65, " 12"]), st.integers(), st.text(max_size=20))


@st.composite
def meta_payloads(draw: st.DrawFn) -> Any:
    """Meta webhook bodies: mostly well-formed deliveries with odd fields, some echoes and receipts."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    odd = st.one_of(JSON_VALUES, st.text(max_size=12))

    def maybe(good: Any) -> Any:
        return draw(odd) if draw(st.integers(0, 7)) == 7 else good

    def event() -> Any:
        shape = draw(st.sampled_from(["message", "message", "message", "echo", "read", "delivery", "reaction"]))
        base: dict[str, Any] = {"sender": maybe({"id": draw(META_IDS) if draw(st.integers(0, 4)) == 0 else
                                                 draw(st.sampled_from(["2900000000000001", "2900000000000002"]))}),
                                "recipient": maybe({"id": PAGE_ID}), "timestamp": 1764000000000}
        if shape in ("read", "delivery", "reaction"):
            return {**base, shape: maybe({"watermark": 1, "mid": "m_1"})}
        message: dict[str, Any] = {"mid": maybe(draw(st.one_of(st.from_regex(r"m_[A-Za-z0-9_-]{1,40}", fullmatch=True),
                                                                st.text(max_size=64))))}
        if draw(st.integers(0, 5)) > 0:
            message["text"] = maybe(draw(ODD_TEXT))
        if draw(st.booleans()):
            message["attachments"] = maybe([maybe({"type": draw(st.sampled_from(["image", "video", "file", "", "IMG",
                                                                                 "story_mention", "🙂"])),
                                                   "payload": maybe({"url": draw(URLS)})})
                                            for _ in range(draw(st.integers(0, 3)))])
        if shape == "echo":
            message["is_echo"] = maybe(True)
        return {**base, "message": maybe(message)}

    entries = [maybe({"id": PAGE_ID, "time": 1, "messaging": maybe([event() for _ in range(draw(st.integers(0, 3)))])})
               for _ in range(draw(st.integers(0, 3)))]
    return {"object": maybe(draw(st.sampled_from(["page", "page", "instagram", "user", ""]))), "entry": maybe(entries)}


def nested(depth: int) -> bytes:
    return b'{"id": ' * depth + b"1" + b"}" * depth


# --- the fixtures: one running clinic per module ------------------------------------------------------------------

@dataclass
class Run:
    clinic: Clinic
    slack: SlackClinic
    meta: MetaClinic
    ledger: Ledger
    capture: Capture
    rss_start: int


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    capture = Capture()
    watched = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    for logger in watched:
        logger.addHandler(capture)
    base = tmp_path_factory.mktemp("fuzz")
    (base / "sms").mkdir()
    (base / "slack").mkdir()
    (base / "meta").mkdir()
    try:
        with running_clinic(base / "sms", load_config(HERE / "data_clinic.yml")) as clinic, \
                running_slack_clinic(base / "slack") as slack, \
                running_meta_clinic(base / "meta", load_config(HERE / "data_clinic.yml")) as meta:
            # Warm up (the classifier loads on first use) before measuring where memory starts.
            clinic.sms("what are your hours", sid="SMwarm1")
            clinic.web({"id": "warm-1", "message": "do you do lip filler?", "email": "warm@example.com"})
            slack.sms("what are your hours")
            meta.dm("what are your hours", mid="m_warm1")
            gc.collect()
            yield Run(clinic, slack, meta, Ledger(), capture, psutil.Process().memory_info().rss)
    finally:
        for logger in watched:
            logger.removeHandler(capture)


def twilio_request(clinic: Clinic, form: dict[str, str], *, signed: bool = True) -> httpx.Request:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signed:
        headers["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(
            f"{clinic.url}/inbound/sms", form)
    return clinic.http.build_request("POST", "/inbound/sms", content=urlencode(form).encode(), headers=headers)


def slack_request(slack: SlackClinic, body: bytes, content_type: str, *, timestamp: str | None = None,
                  extra: dict[str, Any] | None = None) -> httpx.Request:
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers: dict[str, Any] = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
                               "X-Slack-Signature": f"v0={digest}", **(extra or {})}
    return slack.http.build_request("POST", "/slack/events", content=body, headers=headers)


# --- the properties -----------------------------------------------------------------------------------------------

def test_signed_odd_sms(run: Run) -> None:
    @cases(500)
    @given(form=sms_forms())
    def check(form: dict[str, str]) -> None:
        send(run.clinic, run.ledger, "signed sms", twilio_request(run.clinic, form))

    check()


RAW_BYTES = st.one_of(st.binary(max_size=300), st.sampled_from([
    b"Body=%FF%FE&From=%2B12125550101&MessageSid=SMraw1", b"Body=\xff\xfe&From=1", b"a=1&a=2",
    b"MessageSid=SMdup&MessageSid=SMdup2&From=%2B12125550101&Body=hi", b"=&&=", b"%", b"payload=%7B", b"{}",
    b"Body=" + b"x" * 40_000]))
CONTENT_TYPES = st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain", "",
                                 "application/x-www-form-urlencoded; charset=latin-1", "multipart/form-data",
                                 "APPLICATION/JSON"])
HEADER_BYTES = st.binary(min_size=1, max_size=40).map(
    lambda b: bytes(c for c in b if 0x21 <= c <= 0x7E or c >= 0x80) or b"x")


def test_unsigned_and_malformed_requests_to_every_endpoint(run: Run) -> None:
    paths = ["/inbound/sms", "/inbound/web", "/inbound/meta", "/inbound/graph-mail", "/slack/events", "/healthz",
             "/readyz", "/metrics"]

    @cases(450)
    @given(path=st.sampled_from(paths), body=RAW_BYTES, content_type=CONTENT_TYPES,
           headers=st.dictionaries(st.sampled_from(["X-Twilio-Signature", "X-Triage-Signature", "X-Slack-Signature",
                                                    "X-Slack-Request-Timestamp", "Content-Length-Ignored",
                                                    "X-Slack-Retry-Num", "X-Hub-Signature-256"]), HEADER_BYTES,
                                   max_size=4),
           method=st.sampled_from(["POST", "POST", "GET", "PUT"]))
    def check(path: str, body: bytes, content_type: str, headers: dict[str, bytes], method: str) -> None:
        target = {"/slack/events": run.slack, "/inbound/meta": run.meta.clinic}.get(path, run.clinic)
        all_headers: dict[str, Any] = {"Content-Type": content_type, **headers}
        request = target.http.build_request(method, path, content=body if method != "GET" else None,
                                            headers=all_headers)
        send(target, run.ledger, f"raw {method} {path}", request)

    check()


def test_signed_odd_web_forms(run: Run) -> None:
    @cases(450)
    @given(payload=web_payloads(), depth=st.sampled_from([0, 0, 0, 0, 50, 2000]))
    def check(payload: Any, depth: int) -> None:
        body = nested(depth) if depth else json.dumps(payload).encode()
        request = run.clinic.http.build_request("POST", "/inbound/web", content=body, headers={
            "Content-Type": "application/json", "X-Triage-Signature": sign(WEB_SECRET, body)})
        send(run.clinic, run.ledger, "signed web", request)

    check()


def meta_request(meta: MetaClinic, body: bytes, *, secret: str = APP_SECRET) -> httpx.Request:
    return meta.clinic.http.build_request("POST", "/inbound/meta", content=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": meta_sign(secret, body)})


def test_signed_odd_meta_deliveries(run: Run) -> None:
    @cases(450)
    @given(payload=meta_payloads(), depth=st.sampled_from([0, 0, 0, 0, 0, 50, 2000]),
           badly_signed=st.sampled_from([False] * 7 + [True]))
    def check(payload: Any, depth: int, badly_signed: bool) -> None:
        body = nested(depth) if depth else json.dumps(payload).encode()
        secret = "not-the-app-secret" if badly_signed else APP_SECRET  # badly signed: 401, nothing stored
        response = send(run.meta.clinic, run.ledger, "signed meta", meta_request(run.meta, body, secret=secret))
        if response is not None and secret != APP_SECRET:
            assert response.status_code == 401
        run.meta.clinic.triage()

    check()


def test_a_batched_meta_delivery_and_its_redelivery(run: Run) -> None:
    body = json.dumps({"object": "page", "entry": [
        {"id": PAGE_ID, "messaging": [text_event("2900000000000007", "what are your hours", mid="m_fz1"),
                                      text_event("2900000000000007", "thanks", mid="m_fz2", echo=True)]},
        {"id": PAGE_ID, "messaging": [text_event("2900000000000008", "why was I charged twice?", mid="m_fz3")]},
    ]}).encode()
    for _ in range(2):
        response = send(run.meta.clinic, run.ledger, "meta batch", meta_request(run.meta, body))
        assert response is not None and response.status_code == 200
    assert response.json()["duplicates"] == 2


def test_odd_meta_handshakes(run: Run) -> None:
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    odd = st.one_of(st.sampled_from(["", "☃", "a" * 300, "<b>", "unsubscribe", VERIFY_TOKEN + " "]),
                    st.text(max_size=30))

    @cases(150)
    @given(shapes=st.tuples(*[st.sampled_from(["good", "good", "good", "odd", "absent", "twice"])] * 3),
           values=st.tuples(odd, odd, odd), extra=st.booleans())
    def check(shapes: tuple[str, str, str], values: tuple[str, str, str], extra: bool) -> None:
        params: list[tuple[str, str]] = []
        for (name, right), shape, value in zip(good.items(), shapes, values, strict=True):
            if shape != "absent":
                params.append((name, right if shape in ("good", "twice") else value))
            if shape == "twice":
                params.append((name, value))
        if extra:
            params.append(("x", values[0]))
        request = run.meta.clinic.http.build_request("GET", "/inbound/meta", params=params)
        response = send(run.meta.clinic, run.ledger, "meta handshake", request)
        if response is not None and response.status_code == 200:
            assert dict(params)["hub.verify_token"] == VERIFY_TOKEN and response.text == dict(params)["hub.challenge"]

    check()


SLACK_TYPES = st.sampled_from(["event_callback", "block_actions", "view_submission", "view_closed", "shortcut",
                               "url_verification", "app_rate_limited", "nonsense"])
ACTION_IDS = st.sampled_from(["triage_claim", "triage_unclaim", "triage_resolve", "triage_acknowledge",
                              "triage_reply", "triage_escalate", "triage_show_message", "triage_more", "other"])


@st.composite
def slack_payloads(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    kind = draw(SLACK_TYPES)
    odd = st.one_of(JSON_VALUES, st.text(max_size=12))

    def maybe(good: Any) -> Any:
        return draw(st.one_of(st.just(good), odd)) if draw(st.integers(0, 4)) == 0 else good

    payload: dict[str, Any] = {"type": kind, "team": maybe({"id": "T1"}), "api_app_id": "A1", "token": "legacy",
                               "user": maybe({"id": draw(st.sampled_from(["UJESS", "UNURSE", "UDRLEE", "UX"])),
                                              "name": "x"}),
                               "trigger_id": draw(st.from_regex(r"[0-9]{1,6}\.[0-9a-f]{1,8}", fullmatch=True))}
    if kind == "event_callback":
        payload["event_id"] = maybe(draw(st.from_regex(r"Ev[0-9A-Z]{1,8}", fullmatch=True)))
        payload["event"] = maybe({"type": draw(st.sampled_from(["app_home_opened", "message", "reaction_added"])),
                                  "user": maybe("UJESS"), "tab": maybe("home"), "channel": maybe("D1")})
    elif kind == "block_actions":
        value = draw(st.one_of(st.sampled_from(["1", "2", "999999999999", "0", "-1", "", "²"]), st.text(max_size=8)))
        action = {"action_id": draw(ACTION_IDS), "block_id": "b", "type": "button", "value": maybe(value),
                  "action_ts": "1.2", "selected_option": maybe({"value": draw(st.sampled_from(
                      ["triage_resolve:1", "triage_reclassify:1", "x:y", ":", "triage_resolve:²"]))})}
        payload["actions"] = maybe([maybe(action)])
        payload["channel"] = maybe({"id": "clinical"})
        payload["container"] = maybe({"type": "message", "channel_id": "clinical"})
    elif kind in ("view_submission", "view_closed"):
        state = {"values": maybe({"msg": maybe({"input": maybe({"value": maybe("hello")})}),
                                  "target": {"target_input": {"selected_option": maybe({"value": "manager"})}}})}
        payload["view"] = maybe({"id": "V1", "callback_id": draw(st.sampled_from(
            ["triage_reply_modal", "triage_escalate_modal", "triage_reclassify_modal", "x"])),
            "private_metadata": maybe(draw(st.sampled_from(["1", "", "x", "²"]))), "state": maybe(state)})
    elif kind == "url_verification":
        payload["challenge"] = maybe("abc")
    for key in draw(st.lists(st.sampled_from(["authorizations", "enterprise", "channel", "message", "response_url",
                                              "is_enterprise_install", "is_ext_shared_channel", "view"]), max_size=2)):
        payload[key] = draw(odd)
    return payload


def test_signed_odd_slack_requests(run: Run) -> None:
    @cases(700)
    @given(payload=slack_payloads(), shape=st.sampled_from(["event", "interaction", "command", "command",
                                                            "form-odd", "nested"]),
           text=st.text(max_size=40), retry=st.booleans())
    def check(payload: Any, shape: str, text: str, retry: bool) -> None:
        if shape == "event":
            body, kind = json.dumps(payload).encode(), "application/json"
        elif shape == "interaction":
            body, kind = urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
        elif shape == "command":
            body = urlencode({"command": "/triage", "text": text, "user_id": "UJESS", "user_name": "jess",
                              "channel_id": "C1", "team_id": "T1", "trigger_id": f"t{time.monotonic_ns()}",
                              "api_app_id": "A1", "response_url": f"{run.slack.slack.url}/response"}).encode()
            kind = "application/x-www-form-urlencoded"
        elif shape == "form-odd":
            body, kind = urlencode({"payload": text, "x": json.dumps(payload)}).encode(), \
                "application/x-www-form-urlencoded"
        else:
            body, kind = nested(3000), "application/json"
        extra = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        send(run.slack, run.ledger, f"signed slack {shape}", slack_request(run.slack, body, kind, extra=extra))

    check()


def test_odd_slack_signature_headers(run: Run) -> None:
    @cases(200)
    @given(timestamp=st.one_of(st.text(max_size=20), st.sampled_from(
        ["١٧٠٠٠٠٠٠٠٠", "1e9", "-1", "99999999999999999999", "0", " 1", "1700000000.5", "²"])),
           use_bytes=st.booleans())
    def check(timestamp: str, use_bytes: bool) -> None:
        body = b'{"type":"event_callback","event_id":"EvT","event":{"type":"app_home_opened","user":"UJESS"}}'
        stamp = timestamp.encode("utf-8") if use_bytes else timestamp.encode("latin-1", "replace")
        if not stamp or any(c < 0x20 or c == 0x7F for c in stamp) or stamp != stamp.strip():
            return  # not a header a client can send; nothing of it would reach the server
        digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp + b":" + body, hashlib.sha256).hexdigest()
        headers: dict[str, Any] = {"Content-Type": "application/json", "X-Slack-Signature": f"v0={digest}",
                                   "X-Slack-Request-Timestamp": stamp}
        request = run.slack.http.build_request("POST", "/slack/events", content=body, headers=headers)
        send(run.slack, run.ledger, "slack timestamp", request)

    check()


def test_retried_slack_deliveries_are_handled_once(run: Run) -> None:
    slack = run.slack
    slack.sms("why was I charged twice for my last visit??", sender="+12125550104")
    slack.deliver()
    [ticket_id] = [t.id for t in _tickets(slack.service) if t.sender == "+12125550104"]
    click = {"type": "block_actions", "user": {"id": "UJESS", "name": "jess"}, "team": {"id": "T1"},
             "trigger_id": "once.1", "channel": {"id": "billing"}, "api_app_id": "A1",
             "container": {"type": "message", "channel_id": "billing"},
             "actions": [{"action_id": "triage_claim", "block_id": "b", "type": "button", "value": str(ticket_id),
                          "action_ts": "9.9"}]}
    body = urlencode({"payload": json.dumps(click)}).encode()
    for retry in (None, {"X-Slack-Retry-Num": "1"}):
        response = send(slack, run.ledger, "click", slack_request(slack, body, "application/x-www-form-urlencoded",
                                                                  extra=retry))
        assert response is not None and response.status_code == 200
    with slack.service.db.transaction() as session:
        kinds = list(session.scalars(select(TicketEventRow.kind).where(TicketEventRow.ticket_id == ticket_id)))
    assert kinds.count("claimed") == 1


def _tickets(service: Any) -> list[TicketRow]:
    with service.db.transaction() as session:
        return list(session.scalars(select(TicketRow).order_by(TicketRow.id)))


# --- and afterwards -------------------------------------------------------------------------------------------------

def test_zz_afterwards_nothing_broke(run: Run) -> None:
    ledger = run.ledger
    assert sum(ledger.statuses.values()) > 1000 * min(SCALE, 1), ledger.statuses
    unexpected = [r.getMessage() for r in run.capture.records if r.name == "handlers.http_app"]
    assert (ledger.server_errors, unexpected) == ([], [])
    assert ledger.dropped == []
    assert ledger.stored_by_refusals == []
    for target in (run.clinic, run.slack, run.meta.clinic):
        longest = 128 if target is run.meta.clinic else 64  # Meta's message ids are longer than Twilio's sids
        target.service.sweep()
        with target.service.db.transaction() as session:
            untriaged = session.scalar(select(func.count(InboundMessageRow.id))
                                       .where(InboundMessageRow.processed_at.is_(None)))
            assert untriaged == 0
            # Every stored message became a ticket (new, or a follow-up on an open one) or an opt-out/opt-in.
            opt_outs = select(OptOutRow.message_id).where(OptOutRow.message_id.is_not(None)).union(
                select(OptOutRow.back_in_message_id).where(OptOutRow.back_in_message_id.is_not(None)))
            orphans = session.scalars(select(InboundMessageRow).where(
                InboundMessageRow.ticket_id.is_(None), ~InboundMessageRow.id.in_(opt_outs))).all()
            # ... or a repeated keyword (a second STOP from an address already opted out changes nothing).
            assert [m.id for m in orphans if m.channel != "sms" or keyword_of(m.body) is None] == []
            kept = session.execute(select(InboundMessageRow.body, InboundMessageRow.provider_message_id)).all()
            assert [sid for body, sid in kept if "\x00" in body or len(sid) > longest] == []
        assert target.http.get("/healthz").status_code == 200
        assert target.http.get("/readyz").status_code == 200
    tracebacks = [r for r in run.capture.records if r.levelno >= logging.ERROR]
    assert [f"{r.name}: {r.getMessage()}" for r in tracebacks] == []
    gc.collect()
    grown = psutil.Process().memory_info().rss - run.rss_start
    assert grown < 120 * 1024 * 1024, f"resident memory grew by {grown / 2**20:.0f} MB"
