"""Patients' email from the clinic's Microsoft 365 shared mailbox: msgraph-sdk against a local Graph stand-in
(tests/graph_standin.py) over real HTTP, into a real database; replies with Graph's reply on the patient's message;
change notifications into the real app on a loopback port; the subscription kept alive by an injected clock."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config.loader import load_config
from bot.domain import Role
from bot.flows.actions import Actor, TicketActions
from bot.flows.mail_thread import MailThread
from bot.match.importer import import_patients
from bot.outbox.errors import DeliveryError
from bot.outbox.queue import OutboxKind
from bot.settings import GraphMailSettings, TriageSettings, TwilioSettings
from bot.storage.cursors import read_cursor, write_cursor
from bot.storage.models import InboundMessageRow, TicketRow
from handlers.doctor.graph_mail import check_graph_mail
from handlers.doctor.report import Status
from handlers.http_app import create_app
from handlers.local_server import LocalServer
from handlers.mail.graph_intake import inbox_cursor, subscription_cursor
from handlers.mail.graph_poll import PollResult, poll_graph_mailbox
from handlers.mail.graph_subscription import LIFETIME, keep_subscribed
from handlers.service import Service
from handlers.wiring import build_service, mail_replies
from integrations.console import ConsolePoster
from integrations.graph_mail import GraphMailbox, MailboxError
from tests.conftest import HERE, PATIENTS_CSV, TZ, local
from tests.dburl import db_url
from tests.graph_standin import APP_ID, APP_PASSWORD, TENANT_ID, GraphStandIn, mail_message

MAILBOX = "front-desk@clinic.example"
OLIVIA = "olivia@example.com"
CLIENT_STATE = "test-graph-client-state"
PUBLIC_URL = "https://triage.clinic.example"
JESS = Actor(id="jess", name="Jess", roles=frozenset(Role), staff_id="jess")
NOW = local(2026, 11, 24, 10, 30)  # 15:30 UTC


def settings_for(graph: GraphStandIn, **more: Any) -> GraphMailSettings:
    given: dict[str, Any] = {"tenant_id": TENANT_ID, "client_id": APP_ID, "client_secret": SecretStr(APP_PASSWORD),
                             "mailbox": MAILBOX, "api_url": graph.graph_url, "token_url": graph.token_url,
                             "client_state": SecretStr(CLIENT_STATE)}
    return GraphMailSettings(**{**given, **more})


@dataclass
class Shared:
    graph: GraphStandIn
    mailbox: GraphMailbox
    service: Service
    clock: ManualClock
    tmp_path: Path
    poster: ConsolePoster
    woken: list[str] = field(default_factory=list)
    _ids: int = 0

    def mail(self, text: str = "Can I book a facial on Friday?", *, html: str | None = None,
             internet_id: str | None = None, sender: str = OLIVIA, received: str = "2026-11-24T15:00:00Z",
             attachments: list[dict[str, Any]] | None = None, subject: str = "Question") -> str:
        self._ids += 1
        graph_id = f"AAMkAGraphMessage{self._ids:03d}"
        self.graph.add_mail(MAILBOX, mail_message(
            graph_id, internet_id=internet_id or f"<m{self._ids}@mail.example.com>", sender=sender, name="Olivia B",
            subject=subject, html=html, text=None if html is not None else text, received=received,
            has_attachments=bool(attachments)), attachments)
        return graph_id

    def poll(self) -> PollResult:
        return poll_graph_mailbox(self.service)

    def stored(self) -> list[InboundMessageRow]:
        with self.service.db.read() as session:
            return list(session.scalars(select(InboundMessageRow).order_by(InboundMessageRow.id)))

    def cursor(self) -> dict[str, Any] | None:
        with self.service.db.read() as session:
            return read_cursor(session, inbox_cursor(MAILBOX))

    def restart(self) -> None:
        """A new process: a new mailbox client and service on the same database (what it knows is stored)."""
        self.mailbox.close()
        self.service.db.dispose()
        self.mailbox = GraphMailbox(settings_for(self.graph))
        self.service = build(self.tmp_path, self.mailbox, self.clock, self.poster, import_csv=False,
                             database_url=self.service.settings.database_url)  # the same database (PostgreSQL too)
        self.service.on_triage = lambda: self.woken.append("triage")


def build(tmp_path: Path, mailbox: GraphMailbox, clock: ManualClock, poster: ConsolePoster, *,
          import_csv: bool = True, database_url: str | None = None) -> Service:
    settings = TriageSettings(database_url=database_url or db_url(tmp_path), public_url=PUBLIC_URL,
                              max_body_bytes=16 * 1024)
    service = build_service(settings, TwilioSettings(), load_config(HERE / "data_clinic.yml"), clock=clock,
                            poster=poster, messengers={OutboxKind.REPLY_EMAIL: mail_replies(None, mailbox)},
                            mailbox=mailbox)
    if import_csv:
        csv = tmp_path / "patients.csv"
        csv.write_text(PATIENTS_CSV, encoding="utf-8")
        with service.db.transaction() as session:
            import_patients(session, csv, TZ)
    return service


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Shared]:
    with GraphStandIn() as graph:
        graph.open_mailbox(MAILBOX)
        mailbox = GraphMailbox(settings_for(graph))
        clock, poster = ManualClock(NOW), ConsolePoster()
        box = Shared(graph, mailbox, build(tmp_path, mailbox, clock, poster), clock, tmp_path, poster)
        box.service.on_triage = lambda: box.woken.append("triage")
        try:
            yield box
        finally:
            box.mailbox.close()
            box.service.db.dispose()


def delta_calls(graph: GraphStandIn) -> list[Any]:
    return [c for c in graph.calls("GET", "/messages/delta()")]


# --- the delta query ----------------------------------------------------------------------------------------------

def test_a_round_follows_the_next_link_and_keeps_the_delta_link(shared: Shared) -> None:
    for n in range(3):
        shared.mail(f"Question number {n} about my booking")
    result = shared.poll()
    assert (result.pages, result.stored, result.complete) == (2, 3, True)
    assert [row.body for row in shared.stored()] == [f"Question number {n} about my booking" for n in range(3)]
    first, second = delta_calls(shared.graph)
    assert first.path == f"/v1.0/users/{MAILBOX}/mailFolders/inbox/messages/delta()"  # the SDK's parentheses
    assert "internetMessageId" in first.query["$select"] and "$skiptoken" in second.query
    cursor = shared.cursor()
    assert cursor is not None and "$deltatoken=3" in cursor["link"] and "since" not in cursor
    assert shared.woken == ["triage"]


def test_the_next_poll_starts_at_the_delta_link_and_reads_only_what_is_new(shared: Shared) -> None:
    shared.mail("first email")
    shared.poll()
    shared.mail("second email")
    result = shared.poll()
    assert (result.stored, result.duplicates, result.pages) == (1, 0, 1)
    assert delta_calls(shared.graph)[-1].query.get("$deltatoken") == "1"
    assert [row.body for row in shared.stored()] == ["first email", "second email"]
    assert shared.poll().stored == 0  # nothing new


def test_a_restart_in_the_middle_of_a_round_goes_on_from_the_page_it_had_not_stored(shared: Shared) -> None:
    for n in range(3):
        shared.mail(f"email {n}")
    shared.graph.fail_matching("$skiptoken", 500)  # page 2 of 2 fails: the process gives up there
    with pytest.raises(MailboxError) as failed:
        shared.poll()
    assert failed.value.status == "500"
    assert [row.body for row in shared.stored()] == ["email 0", "email 1"]  # page 1, with its next link
    cursor = shared.cursor()
    assert cursor is not None and "$skiptoken" in cursor["link"] and "since" in cursor
    shared.restart()
    result = shared.poll()
    assert (result.pages, result.stored, result.duplicates, result.complete) == (1, 1, 0, True)
    assert "$skiptoken" in delta_calls(shared.graph)[-1].query  # resumed at page 2, not from the start
    rows = shared.stored()
    assert sorted(row.body for row in rows) == ["email 0", "email 1", "email 2"]
    assert len({row.provider_message_id for row in rows}) == 3


def test_a_page_read_twice_after_a_crash_before_its_commit_is_stored_once(shared: Shared) -> None:
    for n in range(3):
        shared.mail(f"email {n}")
    shared.poll()
    with shared.service.db.transaction() as session:  # as if the process died between the fetch and the commit
        write_cursor(session, inbox_cursor(MAILBOX), {}, NOW)
    result = shared.poll()
    assert (result.stored, result.duplicates) == (0, 3)
    assert len(shared.stored()) == 3


def test_a_position_graph_no_longer_knows_starts_a_new_first_read(shared: Shared) -> None:
    shared.mail("kept across the reset")
    shared.poll()
    shared.mail("arrived while the position was lost")
    with shared.service.db.transaction() as session:
        link = f"{shared.graph.graph_url}/users/{MAILBOX}/mailFolders/inbox/messages/delta()?$deltatoken=99"
        write_cursor(session, inbox_cursor(MAILBOX), {"link": link}, NOW)  # Graph answers 410 for it
    result = shared.poll()
    assert (result.stored, result.duplicates, result.complete) == (1, 1, True)
    assert [row.body for row in shared.stored()] == ["kept across the reset", "arrived while the position was lost"]


def test_the_first_read_takes_the_last_day_not_the_inboxs_history(shared: Shared) -> None:
    shared.mail("an old email the clinic answered long ago", received="2026-10-01T12:00:00Z")
    shared.mail("a fresh one", received="2026-11-24T09:00:00Z")
    result = shared.poll()
    assert (result.stored, result.skipped) == (1, 1)
    assert [row.body for row in shared.stored()] == ["a fresh one"]


def test_an_html_email_is_stored_without_its_quoted_history_or_signature(shared: Shared) -> None:
    html = ("<html><body><div>Is the lip filler appointment still on for Thursday?</div><br>"
            "<div>-- <br>Olivia Bennett<br>Sent from my iPhone</div>"
            "<div>On Mon, Nov 23, 2026 at 9:00 AM Front Desk &lt;front-desk@clinic.example&gt; wrote:</div>"
            "<blockquote>Your appointment is confirmed for Thursday at 2 pm.</blockquote></body></html>")
    shared.mail(html=html)
    shared.poll()
    [row] = shared.stored()
    assert "lip filler appointment still on for Thursday" in row.body
    for quoted in ("confirmed for Thursday at 2 pm", "wrote:", "Sent from my iPhone", "Olivia Bennett"):
        assert quoted not in row.body
    assert row.reply_ref == {"via": "graph", "message_id": "<m1@mail.example.com>", "subject": "Question",
                             "graph_id": "AAMkAGraphMessage001"}
    assert (row.sender, row.sender_name, row.recipient) == (OLIVIA, "Olivia B", MAILBOX)


def test_an_attachment_is_kept_as_a_reference_never_its_bytes(shared: Shared) -> None:
    graph_id = shared.mail("Here is a photo of the reaction", attachments=[
        {"@odata.type": "#microsoft.graph.fileAttachment", "id": "AAMkAtt1", "name": "cheek.jpg",
         "contentType": "image/jpeg", "size": 48213, "contentBytes": "/9j/4AAQSkZJRg=="}])
    shared.poll()
    [row] = shared.stored()
    assert row.media == [{"filename": "cheek.jpg", "content_type": "image/jpeg", "size": 48213,
                          "ref": f"graph:{graph_id}:AAMkAtt1"}]
    [listing] = shared.graph.calls("GET", "/attachments")
    assert listing.query["$select"] == "id,name,contentType,size"


def test_the_same_internet_message_id_twice_is_stored_once(shared: Shared) -> None:
    shared.mail("same email", internet_id="<dup@mail.example.com>")
    shared.mail("same email", internet_id="<dup@mail.example.com>")  # e.g. copied back into the inbox
    result = shared.poll()
    assert (result.stored, result.duplicates) == (1, 1)
    assert len(shared.stored()) == 1


def test_the_clinics_own_and_automatic_replies_are_skipped_and_the_log_names_no_one(
        shared: Shared, caplog: pytest.LogCaptureFixture) -> None:
    shared.mail("Reminder: your appointment tomorrow", sender=MAILBOX.upper())
    shared.mail("I am away until Monday", subject="Automatic reply: Question")
    shared.mail("A real question about Botox")
    graph_id = shared.mail("to be removed")
    shared.poll()
    shared.graph.remove_mail(MAILBOX, graph_id)
    with caplog.at_level(logging.INFO):
        shared.poll()  # the removal comes as {"@removed"}: what was stored stays
    assert [row.body for row in shared.stored()] == ["A real question about Botox", "to be removed"]
    caplog.clear()
    shared.mail("Reminder again", sender=MAILBOX)
    with caplog.at_level(logging.INFO):
        assert shared.poll().skipped == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "sent by the clinic's own mailbox" in logged
    for secret in (OLIVIA, "Olivia", "Reminder", "Botox", APP_PASSWORD, CLIENT_STATE):
        assert secret not in logged


# --- replies ------------------------------------------------------------------------------------------------------

def test_a_staff_reply_goes_out_as_graphs_reply_on_the_patients_message(shared: Shared) -> None:
    graph_id = shared.mail("I was charged twice for my facial, can you refund one?", subject="Charged twice")
    shared.poll()
    service = shared.service
    assert service.run_triage() == 1
    with service.db.read() as session:
        [ticket] = session.scalars(select(TicketRow))
        ticket_id = ticket.id
    service.run_outbox()
    outcome = TicketActions(service.db, service.config, service.clock).reply(
        ticket_id, JESS, "So sorry — we refunded the second charge today.", submission_id="s-1")
    assert outcome.ok, outcome.notice
    service.run_outbox()
    [reply] = shared.graph.replies
    assert (reply["mailbox"], reply["message_id"]) == (MAILBOX, graph_id)
    assert reply["body"] == {"Comment": "So sorry — we refunded the second charge today."}
    assert shared.graph.sent_mail == []
    shared.poll()  # the next poll finds nothing new: no second ticket
    assert service.run_triage() == 0


def test_a_patient_who_never_emailed_gets_a_new_email_from_the_mailbox(shared: Shared) -> None:
    key = "outbox-7"
    assert shared.mailbox.send_new("harper@example.com", "Your appointment is confirmed.",
                                   idempotency_key=key) == key
    [sent] = shared.graph.sent_mail
    message = sent["body"]["Message"]
    assert message["toRecipients"] == [{"emailAddress": {"address": "harper@example.com"}}]
    assert message["body"] == {"content": "Your appointment is confirmed.", "contentType": "text"}
    assert sent["body"]["SaveToSentItems"] is True


THREAD = MailThread(via="graph", message_id="<m1@mail.example.com>", subject="Question",
                    graph_id="AAMkAGraphMessage001")


@pytest.mark.parametrize(("status", "transient", "says"), [
    (401, False, "GRAPH_CLIENT_ID"),
    (403, False, "Mail.Send"),
    (404, False, "no longer in the shared mailbox"),
    (400, False, "refused the reply (400)"),
    (500, True, "500"),
])
def test_graphs_refusals_of_a_reply_say_what_to_fix(shared: Shared, status: int, transient: bool,
                                                     says: str) -> None:
    shared.mail()
    shared.graph.fail_next(status)
    with pytest.raises(DeliveryError) as failed:
        shared.mailbox.reply(THREAD, "hello", idempotency_key="k")
    assert failed.value.transient is transient and says in failed.value.reason
    assert shared.graph.replies == []


def test_a_rate_limited_reply_waits_without_counting_as_a_failure(shared: Shared) -> None:
    shared.mail()
    shared.graph.fail_next(429, 429, retry_after="0")  # the SDK tries once more itself
    with pytest.raises(DeliveryError) as failed:
        shared.mailbox.reply(THREAD, "hello", idempotency_key="k")
    assert failed.value.rate_limited and failed.value.transient and not failed.value.counts


def test_an_unknown_message_is_a_404_and_a_refused_token_names_the_credentials(shared: Shared) -> None:
    with pytest.raises(DeliveryError) as gone:
        shared.mailbox.reply(THREAD, "hello", idempotency_key="k")  # no such message in the stand-in's mailbox
    assert not gone.value.transient and "404" in gone.value.reason
    broken = GraphMailbox(settings_for(shared.graph, client_secret=SecretStr("wrong")))
    try:
        with pytest.raises(MailboxError) as refused:
            broken.delta_page(None)
        assert "GRAPH_CLIENT_ID/GRAPH_CLIENT_SECRET" in refused.value.reason
        assert "wrong" not in refused.value.reason
    finally:
        broken.close()


@pytest.mark.parametrize(("status", "says"), [(401, "GRAPH_CLIENT_ID"), (403, "Mail.Read"), (404, "GRAPH_MAILBOX")])
def test_a_refused_read_says_what_to_fix_and_stores_nothing(shared: Shared, status: int, says: str) -> None:
    shared.mail()
    shared.graph.fail_next(status)
    with pytest.raises(MailboxError) as failed:
        shared.poll()
    assert failed.value.status == str(status) and says in failed.value.reason
    assert shared.stored() == [] and shared.cursor() is None


# --- change notifications -----------------------------------------------------------------------------------------

@pytest.fixture
def app(shared: Shared) -> Iterator[httpx.Client]:
    woken = shared.woken
    assert shared.service.graph_mail is not None
    shared.service.graph_mail.wake = lambda: woken.append("poll")
    with LocalServer(create_app(shared.service)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def notification(client_state: str | None = CLIENT_STATE) -> dict[str, Any]:
    item: dict[str, Any] = {"subscriptionId": "sub-1", "changeType": "created", "tenantId": TENANT_ID,
                            "resource": f"Users/{MAILBOX}/Messages/AAMkAGraphMessage001",
                            "subscriptionExpirationDateTime": "2026-11-27T10:00:00Z",
                            "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "AAMkAGraphMessage001"}}
    if client_state is not None:
        item["clientState"] = client_state
    return {"value": [item]}


def post(http: httpx.Client, payload: dict[str, Any] | bytes, content_type: str = "application/json"
         ) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return http.post("/inbound/graph-mail", content=body, headers={"Content-Type": content_type})


def test_the_validation_handshake_echoes_the_token_as_text(app: httpx.Client, shared: Shared) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1f2e"
    response = app.post("/inbound/graph-mail", params={"validationToken": token},
                        headers={"Content-Type": "text/plain; charset=utf-8"})
    assert (response.status_code, response.text) == (200, token)
    assert response.headers["content-type"].startswith("text/plain")
    assert shared.woken == []
    bad = app.post("/inbound/graph-mail", params={"validationToken": "<script>\u2603"})
    assert bad.status_code == 400 and "validationToken" in bad.json()["error"]


def test_a_good_notification_wakes_the_poll_and_the_poll_stores_the_email(app: httpx.Client, shared: Shared) -> None:
    shared.mail("Can I move my appointment?")
    response = post(app, notification())
    assert (response.status_code, response.json()) == (202, {"status": "accepted", "notifications": 1})
    assert shared.woken == ["poll"]
    assert shared.stored() == []  # the request stores nothing itself: the woken poll reads the inbox
    assert shared.poll().stored == 1


@pytest.mark.parametrize(("payload", "status", "reason"), [
    (notification("forged"), 403, "clientState does not match"),
    (notification(None), 403, "clientState is missing"),
    ({"value": [notification()["value"][0], notification("forged")["value"][0]]}, 403, "value[1].clientState"),
    (b'{"value": [', 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    ({"value": []}, 400, "list of notifications"),
    ({"value": ["x"]}, 400, "value[0]: must be an object"),
    ({"value": [{"clientState": 7}]}, 400, "must be a string"),
    (b"\xff\xfe", 400, "UTF-8"),
])
def test_a_bad_notification_is_refused_with_a_reason_and_nothing_happens(
        app: httpx.Client, shared: Shared, payload: dict[str, Any] | bytes, status: int, reason: str) -> None:
    shared.mail()
    response = post(app, payload)
    assert response.status_code == status and reason in response.json()["error"]
    assert shared.woken == [] and shared.stored() == []


def test_an_oversized_or_mistyped_notification_is_refused(app: httpx.Client, shared: Shared) -> None:
    big = json.dumps({"value": [notification()["value"][0]], "pad": "x" * 20_000}).encode()
    assert post(app, big).status_code == 413
    mistyped = post(app, notification(), content_type="text/plain")
    assert mistyped.status_code == 415 and "application/json" in mistyped.json()["error"]
    assert shared.woken == []


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                        max_size=4), max_leaves=12)


def test_odd_notifications_never_fail_the_server_and_only_good_ones_wake_the_poll(app: httpx.Client,
                                                                                  shared: Shared) -> None:
    @settings(derandomize=True, max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(items=st.lists(st.dictionaries(st.sampled_from(["clientState", "subscriptionId", "resource", "x"]),
                                          st.sampled_from([CLIENT_STATE, "forged", None, 7]) | JSON_VALUES,
                                          max_size=4), max_size=3) | JSON_VALUES,
           raw=st.none() | st.binary(max_size=200),
           content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]))
    def check(items: Any, raw: bytes | None, content_type: str) -> None:
        shared.woken.clear()
        body = raw if raw is not None else json.dumps({"value": items}).encode()
        response = post(app, body, content_type)
        assert response.status_code in (202, 400, 403, 413, 415), response.text
        good = (raw is None and content_type.startswith("application/json") and isinstance(items, list) and items
                and all(isinstance(i, dict) and i.get("clientState") == CLIENT_STATE for i in items))
        assert (response.status_code == 202) is bool(good)
        assert shared.woken == (["poll"] if good else [])
        if response.status_code != 202:
            assert isinstance(response.json()["error"], str)

    check()
    assert shared.stored() == []


def test_without_a_mailbox_the_endpoint_says_it_is_not_configured(shared: Shared, tmp_path: Path) -> None:
    shared.service.graph_mail = None
    with LocalServer(create_app(shared.service)) as server, httpx.Client(base_url=server.url) as http:
        response = post(http, notification())
        handshake = http.post("/inbound/graph-mail", params={"validationToken": "abc"})
    assert response.status_code == 403 and "GRAPH_MAILBOX" in response.json()["error"]
    assert handshake.status_code == 403


# --- the subscription ---------------------------------------------------------------------------------------------

def subscription_state(shared: Shared) -> dict[str, Any] | None:
    with shared.service.db.read() as session:
        return read_cursor(session, subscription_cursor(MAILBOX))


def test_the_subscription_is_created_kept_and_renewed_before_it_expires(shared: Shared) -> None:
    created = keep_subscribed(shared.service)
    assert created is not None and created.action == "created"
    [(sub_id, sub)] = shared.graph.subscriptions.items()
    assert sub["changeType"] == "created" and sub["clientState"] == CLIENT_STATE
    assert sub["resource"] == f"users/{MAILBOX}/mailFolders('inbox')/messages"
    assert sub["notificationUrl"] == f"{PUBLIC_URL}/inbound/graph-mail"
    expires = datetime.fromisoformat(sub["expirationDateTime"].replace("Z", "+00:00"))
    assert timedelta(minutes=4000) < expires - NOW.astimezone(UTC) < timedelta(minutes=4230)  # Graph's limit
    assert subscription_state(shared) == {"id": sub_id, "expires": created.expires.isoformat()}

    shared.clock.advance(timedelta(hours=20))
    kept = keep_subscribed(shared.service)
    assert kept is not None and kept.action == "kept" and shared.graph.calls("PATCH") == []

    shared.clock.advance(timedelta(hours=30))  # less than a day left
    renewed = keep_subscribed(shared.service)
    assert renewed is not None and (renewed.action, renewed.id) == ("renewed", sub_id)
    [patch] = shared.graph.calls("PATCH")
    assert patch.path == f"/v1.0/subscriptions/{sub_id}"
    assert renewed.expires - shared.clock.now() > LIFETIME - timedelta(minutes=1)
    assert len(shared.graph.subscriptions) == 1


def test_a_subscription_graph_forgot_is_created_again(shared: Shared) -> None:
    first = keep_subscribed(shared.service)
    assert first is not None
    shared.graph.subscriptions.clear()
    shared.clock.advance(LIFETIME - timedelta(hours=2))
    again = keep_subscribed(shared.service)
    assert again is not None and again.action == "created" and again.id != first.id


def test_no_public_url_means_no_subscription(shared: Shared) -> None:
    shared.service.settings.public_url = ""
    assert keep_subscribed(shared.service) is None and shared.graph.subscriptions == {}


# --- doctor -------------------------------------------------------------------------------------------------------

def test_doctor_reads_the_inbox_and_says_what_is_wrong(shared: Shared) -> None:
    shared.mail()
    check = check_graph_mail(settings_for(shared.graph), PUBLIC_URL)
    assert check.status is Status.OK and "1 item" in check.text and "/inbound/graph-mail" in check.text
    shared.graph.fail_next(403)
    refused = check_graph_mail(settings_for(shared.graph))
    assert refused.status is Status.FAIL and "Mail.Read" in refused.text
    assert check_graph_mail(GraphMailSettings(mailbox="")).status is Status.SKIP
    missing = check_graph_mail(GraphMailSettings(mailbox=MAILBOX))
    assert missing.status is Status.FAIL and "GRAPH_TENANT_ID" in missing.text


def test_creating_the_subscription_passes_graphs_handshake_on_the_running_app(shared: Shared) -> None:
    shared.graph.validate_subscriptions = True
    with LocalServer(create_app(shared.service)) as server:
        shared.service.settings.public_url = server.url
        created = keep_subscribed(shared.service)
        assert created is not None and created.action == "created"
        [(url, status, _)] = shared.graph.validations
        assert (url, status) == (f"{server.url}/inbound/graph-mail", 200)
        shared.service.graph_mail = None  # an app that does not read the mailbox refuses the handshake
        with pytest.raises(MailboxError) as refused:
            shared.mailbox.subscribe(f"{server.url}/inbound/graph-mail", CLIENT_STATE, NOW + LIFETIME)
        assert refused.value.status == "400" and shared.graph.validations[-1][1] == 403
        assert len(shared.graph.subscriptions) == 1


# --- serve and the command line -----------------------------------------------------------------------------------

def test_serve_polls_on_a_schedule_and_a_notification_runs_the_poll_now(shared: Shared) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from handlers.mail.graph_jobs import POLL_JOB, SUBSCRIPTION_JOB, schedule_graph_mail

    scheduler = BackgroundScheduler(timezone=UTC)
    schedule_graph_mail(scheduler, shared.service, settings_for(shared.graph, mail_poll_seconds=45))
    poll = scheduler.get_job(POLL_JOB)
    assert poll is not None and poll.trigger.interval == timedelta(seconds=45)
    assert scheduler.get_job(SUBSCRIPTION_JOB) is not None  # TRIAGE_PUBLIC_URL is set
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduler.modify_job(POLL_JOB, next_run_time=later)
    assert shared.service.graph_mail is not None
    shared.service.graph_mail.wake()
    assert scheduler.get_job(POLL_JOB).next_run_time < later
    shared.mail("scheduled")
    poll.func()
    assert [row.body for row in shared.stored()] == ["scheduled"]

    intake = shared.service.graph_mail
    reads = len(delta_calls(shared.graph))

    def arrives_during_the_poll() -> None:  # Graph notifies while the poll is still running
        if len(shared.stored()) == 2:
            shared.mail("arrived while polling")
            intake.wake()

    shared.service.on_triage = arrives_during_the_poll
    shared.mail("next")
    poll.func()
    assert len(delta_calls(shared.graph)) == reads + 2  # read once more, not left to the next interval
    assert [row.body for row in shared.stored()] == ["scheduled", "next", "arrived while polling"]


def test_mail_poll_on_the_command_line_reads_the_shared_mailbox(shared: Shared, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from handlers.cli import main

    for key, value in {"GRAPH_TENANT_ID": TENANT_ID, "GRAPH_CLIENT_ID": APP_ID, "GRAPH_CLIENT_SECRET": APP_PASSWORD,
                       "GRAPH_MAILBOX": MAILBOX, "GRAPH_API_URL": shared.graph.graph_url,
                       "GRAPH_TOKEN_URL": shared.graph.token_url,
                       "TRIAGE_DATABASE_URL": shared.service.settings.database_url}.items():
        monkeypatch.setenv(key, value)
    for key in ("IMAP_HOST", "IMAP_USERNAME", "IMAP_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    shared.mail("from the command line", received=datetime.now(UTC).isoformat())
    assert main(["mail", "poll"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == f"{MAILBOX} inbox: 1 stored, 0 already stored, 0 skipped (1 page)"
    assert OLIVIA not in out.out + out.err
    assert [row.body for row in shared.stored()] == ["from the command line"]
    shared.graph.fail_next(403)
    assert main(["mail", "poll"]) == 1
    assert "Mail.Read" in capsys.readouterr().err
