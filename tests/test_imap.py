"""Patients' email from an IMAP mailbox, against a real Dovecot on loopback (tests/dovecot.py), into a real database;
answers by SMTP through a local mail server, in the patient's own thread.

Dovecot is the one `.ci/with-dovecot` started (TRIAGE_TEST_IMAP), else one started here when `dovecot` is
installed; each test reads a folder of its own.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from pydantic import SecretStr
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config.loader import load_config
from bot.domain import Role
from bot.flows.actions import Actor, TicketActions
from bot.match.importer import import_patients
from bot.outbox.queue import OutboxKind
from bot.settings import TriageSettings, TwilioSettings
from bot.storage.cursors import read_cursor
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow, TicketRow
from handlers.cli import main
from handlers.doctor.imap import check_imap
from handlers.mail.imap import ImapMailbox, ImapSettings, MailboxError, PollResult, connect
from handlers.mail.polling import MailPolling, mailbox
from handlers.service import Service
from handlers.wiring import build_service, mail_replies
from integrations.console import ConsolePoster
from integrations.email_smtp import SmtpEmail, SmtpSettings
from tests.conftest import HERE, PATIENTS_CSV, TZ, local
from tests.dburl import db_url
from tests.dovecot import ENV, DovecotServer, binary, running_dovecot
from tests.smtp_standin import SmtpStandIn

CLINIC = "front-desk@clinic.example"
OLIVIA = "olivia@example.com"
JESS = Actor(id="jess", name="Jess", roles=frozenset(Role), staff_id="jess")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    if value := os.environ.get(ENV):
        yield DovecotServer.from_env(value)
        return
    if binary() is None:
        pytest.skip(f"needs Dovecot: run under .ci/with-dovecot (it sets {ENV}), or install dovecot-imapd")
    with running_dovecot() as server:
        yield server


@dataclass
class Mailbox:
    server: DovecotServer
    folder: str
    db: Database
    clock: ManualClock

    @property
    def settings(self) -> ImapSettings:
        return ImapSettings(host=self.server.host, port=self.server.port, username=self.server.user,
                            password=SecretStr(self.server.password), folder=self.folder, ssl=False, timeout=10)

    def client(self) -> IMAPClient:
        client = IMAPClient(self.server.host, port=self.server.port, ssl=False, timeout=10)
        client.login(self.server.user, self.server.password)
        return client

    def append(self, *raws: bytes, at: datetime | None = None) -> list[int]:
        """Deliver emails into the folder, as the patient's mail reaching the mailbox; their UIDs."""
        client = self.client()
        try:
            return [int(client.append(self.folder, raw, msg_time=at or self.clock.now()).split(b"]")[0].split()[-1])
                    for raw in raws]
        finally:
            client.logout()

    def recreate(self) -> None:
        """The folder deleted and made again: a new UIDVALIDITY, every UID from 1 again."""
        client = self.client()
        try:
            client.delete_folder(self.folder)
            client.create_folder(self.folder)
        finally:
            client.logout()

    def poll(self, **options: Any) -> PollResult:
        return ImapMailbox(self.settings, **options).poll(self.db, self.clock)

    def stored(self) -> list[InboundMessageRow]:
        with self.db.read() as session:
            return list(session.scalars(select(InboundMessageRow).order_by(InboundMessageRow.id)))

    def cursor(self) -> dict[str, Any] | None:
        with self.db.read() as session:
            return read_cursor(session, self.settings.cursor_name)


@pytest.fixture
def box(dovecot: DovecotServer, tmp_path: Path) -> Iterator[Mailbox]:
    folder = f"t{uuid.uuid4().hex[:10]}"
    db = Database(db_url(tmp_path))
    found = Mailbox(dovecot, folder, db, ManualClock(local(2026, 11, 24, 10, 30)))
    client = found.client()
    client.create_folder(folder)
    client.logout()
    yield found
    client = found.client()
    client.delete_folder(folder)
    client.logout()
    db.dispose()


_IDS = iter(range(1, 10_000))


def mail(text: str | None = "Can I move my facial to Thursday?", *, subject: str = "My appointment",
         sender: str = f"Olivia Bennett <{OLIVIA}>", html: str | None = None, message_id: str | None = "",
         headers: dict[str, str] | None = None, attachment: tuple[str, str, bytes] | None = None) -> bytes:
    """An email as a patient's mail app sends it; `message_id=None`: none at all."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = CLINIC
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
    if message_id is not None:
        message["Message-ID"] = message_id or f"<patient-{next(_IDS)}@mail.example.com>"
    for name, value in (headers or {}).items():
        message[name] = value
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    if attachment is not None:
        filename, content_type, data = attachment
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


class DiesAfterFetch:
    """The IMAP connection of a process that is killed right after its `nth` fetch came back (nothing stored yet)."""

    def __init__(self, inner: Any, nth: int) -> None:
        self._inner, self._nth, self.fetched = inner, nth, []

    def fetch(self, messages: Sequence[int], data: Sequence[str], modifiers: Any = None) -> dict[int, Any]:
        answer: dict[int, Any] = self._inner.fetch(messages, data)
        self.fetched.append(list(messages))
        if len(self.fetched) == self._nth:
            raise SystemExit("killed")  # not an IMAP error: nothing in the poll may catch it
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Recording(DiesAfterFetch):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner, nth=0)


# --- reading the mailbox ------------------------------------------------------------------------------------------

def test_an_email_is_stored_once_with_how_to_answer_it_and_a_second_poll_reads_nothing(box: Mailbox) -> None:
    [uid] = box.append(mail(message_id="<first@mail.example.com>"))
    result = box.poll()
    assert (result.stored, result.duplicates, result.skipped) == (1, 0, {})
    [row] = box.stored()
    assert (row.channel, row.provider_message_id, row.sender, row.sender_email, row.sender_name) == (
        "email", "<first@mail.example.com>", OLIVIA, OLIVIA, "Olivia Bennett")
    assert row.body == "Can I move my facial to Thursday?" and row.media == []
    assert row.reply_ref == {"via": "imap", "message_id": "<first@mail.example.com>", "subject": "My appointment"}
    assert row.received_at.replace(tzinfo=UTC) == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert box.cursor() == {"uidvalidity": result.uidvalidity, "last_uid": uid, "read_at": box.clock.now().isoformat()}

    again = box.poll()
    assert (again.stored, again.duplicates, again.last_uid) == (0, 0, uid)
    assert len(box.stored()) == 1


def test_the_poll_marks_nothing_seen(box: Mailbox) -> None:
    [uid] = box.append(mail())
    box.poll()
    client = box.client()
    try:
        client.select_folder(box.folder, readonly=True)
        assert b"\\Seen" not in client.get_flags([uid])[uid]
    finally:
        client.logout()


def test_an_html_only_email_is_stored_without_its_quoted_history_or_signature(box: Mailbox) -> None:
    html = ("<html><body><div>Hi, my lips are still swollen two days after the filler. Is that normal?</div>"
            "<div><br></div><div>-- <br>Olivia Bennett<br>Marketing Director, Acme Corp<br>+1 212 555 0101</div>"
            "<div><br></div><div>On Mon, Nov 23, 2026 at 9:00 AM Lumière Front Desk &lt;front-desk@clinic.example&gt;"
            " wrote:<br></div><blockquote>Thank you for visiting us today! Your aftercare notes are attached."
            "</blockquote></body></html>")
    box.append(mail(None, html=html, subject="Re: Your visit"))
    box.poll()
    [row] = box.stored()
    assert row.body == "Hi, my lips are still swollen two days after the filler. Is that normal?"
    assert "aftercare" not in row.body and "Marketing Director" not in row.body and "<" not in row.body


def test_an_attachment_is_kept_as_a_reference_never_its_bytes(box: Mailbox) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    [uid] = box.append(mail("Photo of the bruise attached", attachment=("bruise.png", "image/png", photo)))
    result = box.poll()
    [row] = box.stored()
    assert row.media == [{"filename": "bruise.png", "content_type": "image/png", "size": len(photo),
                          "ref": f"imap:{box.folder}:{result.uidvalidity}:{uid}:2"}]
    assert row.body == "Photo of the bruise attached" and "bruise" not in str(row.reply_ref)
    client = box.client()  # the reference names the part the mailbox serves again
    try:
        client.select_folder(box.folder, readonly=True)
        assert base64.b64decode(client.fetch([uid], ["BODY.PEEK[2]"])[uid][b"BODY[2]"]) == photo
    finally:
        client.logout()


def test_automatic_emails_and_the_clinics_own_are_skipped_and_the_log_names_no_one(
        box: Mailbox, caplog: pytest.LogCaptureFixture) -> None:
    box.append(mail("I am out of the office until Monday.", headers={"Auto-Submitted": "auto-replied"}),
               mail("Away", headers={"X-Autoreply": "yes"}),
               mail("Away too", headers={"Precedence": "auto_reply"}),
               mail("Reminder: your appointment", sender=f"Front Desk <{CLINIC}>"),
               mail("Auto-Submitted: no is a person", headers={"Auto-Submitted": "no"}))
    with caplog.at_level(logging.INFO):
        result = box.poll()
    assert result.stored == 1 and sum(result.skipped.values()) == 4
    assert result.skipped == {"an automatic email (Auto-Submitted / out of office)": 3,
                              "sent by the clinic's own mailbox": 1}
    [row] = box.stored()
    assert row.body == "Auto-Submitted: no is a person"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "skipped uid" in logged
    for secret in (OLIVIA, "Olivia", "out of the office", "Away", box.server.password):
        assert secret not in logged


def test_the_same_message_id_twice_is_stored_once(box: Mailbox) -> None:
    box.append(mail(message_id="<same@mail.example.com>"), mail(message_id="<same@mail.example.com>"))
    result = box.poll()
    assert (result.stored, result.duplicates) == (1, 1)
    assert [row.provider_message_id for row in box.stored()] == ["<same@mail.example.com>"]


def test_an_email_without_a_message_id_gets_one_from_where_it_sits(box: Mailbox) -> None:
    [uid] = box.append(mail(message_id=None))
    result = box.poll()
    [row] = box.stored()
    assert row.provider_message_id.startswith(f"<imap.{result.uidvalidity}.{uid}.")
    assert row.reply_ref is not None and row.reply_ref["message_id"] == row.provider_message_id


def test_only_the_new_email_is_fetched_on_the_next_poll(box: Mailbox) -> None:
    box.append(mail(), mail())
    box.poll()
    [new] = box.append(mail("One more thing: can I bring my sister?"))
    recording: list[Recording] = []

    def connect_recording(settings: ImapSettings) -> Any:
        recording.append(Recording(connect(settings)))
        return recording[-1]

    result = box.poll(connect=connect_recording)
    assert result.stored == 1 and recording[0].fetched == [[new]]
    assert box.stored()[-1].body == "One more thing: can I bring my sister?"


def test_a_process_killed_after_a_fetch_loses_nothing_and_stores_nothing_twice(box: Mailbox) -> None:
    uids = box.append(*(mail(f"Question number {n}") for n in range(1, 6)))  # batches of 2: [1 2] [3 4] [5]
    dying: list[DiesAfterFetch] = []

    def connect_dying(settings: ImapSettings) -> Any:
        dying.append(DiesAfterFetch(connect(settings), nth=2))
        return dying[-1]

    with pytest.raises(SystemExit):
        box.poll(connect=connect_dying, batch=2)
    assert dying[0].fetched == [uids[0:2], uids[2:4]]
    assert [row.body for row in box.stored()] == ["Question number 1", "Question number 2"]
    assert box.cursor() is not None and box.cursor()["last_uid"] == uids[1]  # type: ignore[index]

    result = box.poll(batch=2)  # the restarted process
    assert (result.stored, result.duplicates) == (3, 0)
    assert [row.body for row in box.stored()] == [f"Question number {n}" for n in range(1, 6)]
    assert box.cursor()["last_uid"] == uids[-1]  # type: ignore[index]


def test_a_new_uidvalidity_reads_the_folder_again_and_stores_only_what_is_new(
        box: Mailbox, caplog: pytest.LogCaptureFixture) -> None:
    old = [mail(message_id=f"<kept-{n}@mail.example.com>") for n in range(3)]
    box.append(*old)
    first = box.poll()
    box.recreate()
    box.append(*old, mail("After the move", message_id="<new@mail.example.com>"))
    with caplog.at_level(logging.WARNING):
        result = box.poll()
    assert result.reread and result.uidvalidity != first.uidvalidity
    assert (result.stored, result.duplicates) == (1, 3)
    assert len(box.stored()) == 4
    assert box.cursor() is not None and (box.cursor()["uidvalidity"], box.cursor()["last_uid"]) == (  # type: ignore[index]
        result.uidvalidity, 4)
    assert any("UIDVALIDITY changed" in record.getMessage() for record in caplog.records)
    assert box.poll().reread is False


def test_an_empty_folder_remembers_its_uidvalidity(box: Mailbox) -> None:
    result = box.poll()
    assert result.stored == 0 and box.cursor() == {"uidvalidity": result.uidvalidity, "last_uid": 0,
                                                   "read_at": box.clock.now().isoformat()}


def test_the_first_poll_reads_the_last_few_days_not_the_folders_history(box: Mailbox) -> None:
    box.append(mail("An old thread from last spring"), at=local(2026, 4, 2, 9, 0))
    [recent] = box.append(mail("Yesterday's question"), at=local(2026, 11, 23, 16, 0))
    result = box.poll()
    assert result.stored == 1 and [row.body for row in box.stored()] == ["Yesterday's question"]
    assert result.last_uid == recent
    box.append(mail("And today's"), at=local(2026, 4, 3, 9, 0))  # an odd arrival date: read, it is after the cursor
    assert box.poll().stored == 1


# --- when the mailbox cannot be read ------------------------------------------------------------------------------

def test_a_wrong_password_is_a_clear_error_and_stores_nothing(box: Mailbox) -> None:
    box.append(mail())
    wrong = box.settings.model_copy(update={"password": SecretStr("not-the-password")})
    with pytest.raises(MailboxError) as caught:
        ImapMailbox(wrong).poll(box.db, box.clock)
    assert str(caught.value) == (f"127.0.0.1:{box.server.port} refused the login for {box.server.user} — check "
                                 "IMAP_USERNAME and IMAP_PASSWORD (Google Workspace: an app password, with IMAP "
                                 "turned on in Gmail's settings)")
    assert "not-the-password" not in str(caught.value)
    assert box.stored() == [] and box.cursor() is None
    assert box.poll().stored == 1  # with the right one, the email is still there to read


def test_an_unreachable_server_and_a_missing_folder_say_what_to_check(box: Mailbox) -> None:
    with pytest.raises(MailboxError, match=r"cannot reach the IMAP server at 127\.0\.0\.1:1 \(ConnectionRefused"):
        ImapMailbox(box.settings.model_copy(update={"port": 1})).poll(box.db, box.clock)
    with pytest.raises(MailboxError, match=r"has no folder 'Nope' .* check IMAP_FOLDER"):
        ImapMailbox(box.settings.model_copy(update={"folder": "Nope"})).poll(box.db, box.clock)
    with pytest.raises(MailboxError, match="IMAP_PASSWORD not set"):
        ImapMailbox(box.settings.model_copy(update={"password": None})).poll(box.db, box.clock)
    assert box.cursor() is None


def test_doctor_logs_in_and_counts_the_folder(box: Mailbox) -> None:
    box.append(mail(), mail())
    check = check_imap(box.settings)
    assert check.line == (f"✓ IMAP: 127.0.0.1:{box.server.port} (no TLS) logged in as {box.server.user}; "
                          f"{box.folder} has 2 message(s), polled every 60 s")
    wrong = check_imap(box.settings.model_copy(update={"password": SecretStr("nope")}))
    assert wrong.line.startswith(f"✗ IMAP: 127.0.0.1:{box.server.port} refused the login")
    assert check_imap(ImapSettings(host="", username="")).line.startswith("– IMAP: not configured")
    assert check_imap(ImapSettings(host="imap.gmail.com", username=CLINIC)).line == (
        "✗ IMAP: IMAP_PASSWORD not set — the mailbox needs IMAP_HOST, IMAP_USERNAME and IMAP_PASSWORD")


def test_the_scheduled_poll_logs_a_refusal_in_one_line_and_goes_on(box: Mailbox, tmp_path: Path,
                                                                    smtp: SmtpStandIn,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    service, _ = clinic_service(tmp_path, box, smtp)
    try:
        wrong = box.settings.model_copy(update={"password": SecretStr("not-the-password")})
        with caplog.at_level(logging.WARNING):
            MailPolling(service, mailbox(wrong, SmtpSettings())).run()
        [line] = [record.getMessage() for record in caplog.records if record.name == "handlers.mail.polling"]
        assert line.startswith("IMAP: 127.0.0.1:") and "refused the login" in line and "not-the-password" not in line
    finally:
        service.db.dispose()


def test_mail_poll_on_the_command_line(box: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    box.append(mail(), mail(headers={"Auto-Submitted": "auto-replied"}))
    s = box.settings
    for name, value in {"IMAP_HOST": s.host, "IMAP_PORT": str(s.port), "IMAP_USERNAME": s.username,
                        "IMAP_PASSWORD": box.server.password, "IMAP_FOLDER": s.folder, "IMAP_SSL": "false",
                        "IMAP_FIRST_POLL_DAYS": "0",  # the command's clock is the machine's, not the test's
                        "TRIAGE_DATABASE_URL": db_url(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    assert main(["mail", "poll"]) == 0
    out = capsys.readouterr().out
    assert out == (f"{s.username} {s.folder}: 1 stored, 0 already stored, 1 skipped (1 an automatic email "
                   "(Auto-Submitted / out of office))\n")
    monkeypatch.setenv("IMAP_PASSWORD", "wrong")
    assert main(["mail", "poll"]) == 1
    assert "refused the login" in capsys.readouterr().err


# --- end to end: an email becomes a ticket, and the answer lands in the patient's thread --------------------------

@pytest.fixture
def smtp() -> Iterator[SmtpStandIn]:
    server = SmtpStandIn()
    yield server
    server.close()


def clinic_service(tmp_path: Path, box: Mailbox, smtp: SmtpStandIn) -> tuple[Service, ConsolePoster]:
    smtp_settings = SmtpSettings(host="127.0.0.1", port=smtp.port, sender=f"Lumière Front Desk <{CLINIC}>",
                                 starttls=False)
    poster = ConsolePoster()
    service = build_service(
        TriageSettings(database_url=db_url(tmp_path, "clinic")), TwilioSettings(),
        load_config(HERE / "data_clinic.yml"), clock=box.clock, poster=poster,
        messengers={OutboxKind.REPLY_EMAIL: mail_replies(SmtpEmail(smtp_settings, subject="Your message"))})
    csv = tmp_path / "patients.csv"
    csv.write_text(PATIENTS_CSV, encoding="utf-8")
    with service.db.transaction() as session:
        import_patients(session, csv, TZ)
    return service, poster


def test_a_polled_email_becomes_a_ticket_and_the_reply_threads_under_it(box: Mailbox, tmp_path: Path,
                                                                       smtp: SmtpStandIn) -> None:
    service, poster = clinic_service(tmp_path, box, smtp)
    woken: list[int] = []
    service.on_triage = lambda: woken.append(1)
    try:
        box.append(mail("I was charged twice for my facial last week, can you refund one?",
                        subject="Charged twice", message_id="<charge@mail.example.com>",
                        headers={"References": "<earlier@mail.example.com>"}))
        polling = MailPolling(service, mailbox(box.settings, SmtpSettings(sender=CLINIC)))
        assert polling.poll().stored == 1 and woken == [1]
        assert service.run_triage() == 1
        with service.db.read() as session:
            [ticket] = session.scalars(select(TicketRow))
            ticket_id, category = ticket.id, ticket.category
        service.run_outbox()
        [(channel, card)] = poster.posts  # the card, in the billing channel, with the patient's words
        assert (category, channel) == ("billing", "billing") and "charged twice" in card

        outcome = TicketActions(service.db, service.config, service.clock).reply(
            ticket_id, JESS, "So sorry — we refunded the second charge today.", submission_id="s-1")
        assert outcome.ok, outcome.notice
        service.run_outbox()
        [sent] = smtp.messages
        assert sent["To"] == OLIVIA and sent["Subject"] == "Re: Charged twice"
        assert sent["In-Reply-To"] == "<charge@mail.example.com>"
        assert sent["References"] == "<earlier@mail.example.com> <charge@mail.example.com>"
        assert "refunded the second charge" in sent.get_payload(decode=True).decode()

        polling.poll()  # the next poll finds nothing new: the ticket is not made twice
        assert service.run_triage() == 0
    finally:
        service.db.dispose()
