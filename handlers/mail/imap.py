"""Patients' email from any IMAP mailbox (Google Workspace, Fastmail, the clinic's own host), polled.

Each poll reads the folder read-only (nothing is marked seen, moved or deleted), takes the UIDs above the one the
cursor remembers, and stores them in batches: a batch's messages and the cursor past it are one commit (intake's
`accept_all(also=...)`), so a process that dies after a fetch reads that batch again and intake stores each email
once (by its Message-ID). A new UIDVALIDITY (the folder was recreated or renumbered) reads the folder again from
the start; intake's dedupe keeps that from storing anything twice. The log says counts, UIDs and reasons, never
a sender or a body.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.clock import Clock
from bot.flows.intake import accept_all
from bot.match.addresses import InvalidAddress, normalize_email
from bot.storage.cursors import read_cursor, write_cursor
from bot.storage.db import Database
from handlers.mail.inbound import NotAPatientEmail, to_inbound
from handlers.mail.mime import Location, read_email

log = logging.getLogger(__name__)

BATCH = 50  # emails per fetch and per commit


class ImapSettings(BaseSettings):
    """The mailbox patients write to. Google Workspace: host imap.gmail.com, the mailbox's address as the username
    and an app password (IMAP on in Gmail's settings). An empty variable counts as unset."""

    model_config = SettingsConfigDict(env_prefix="IMAP_", extra="ignore")

    host: str = ""
    port: int = 993
    username: str = ""
    password: SecretStr | None = None
    folder: str = "INBOX"
    ssl: bool = True
    poll_seconds: int = 60
    first_poll_days: int = 3  # the first poll stores the last few days' email, not the folder's history (0: all)
    timeout: float = 30.0

    @property
    def configured(self) -> bool:
        return bool(self.host or self.username)

    @property
    def missing(self) -> list[str]:
        given = {"IMAP_HOST": self.host, "IMAP_USERNAME": self.username,
                 "IMAP_PASSWORD": self.password.get_secret_value() if self.password else ""}
        return [name for name, value in given.items() if not value]

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def cursor_name(self) -> str:
        return f"imap:{self.username}@{self.host}/{self.folder}"


class MailboxError(Exception):
    """The mailbox could not be read (unreachable, login refused, no such folder): what to check, no secrets."""


class ImapConnection(Protocol):
    """What a poll asks of IMAPClient (a test wraps it to make the process die at a chosen call)."""

    def login(self, username: str, password: str) -> Any: ...
    def select_folder(self, folder: str, readonly: bool = False) -> dict[bytes, Any]: ...
    def search(self, criteria: Any = "ALL", charset: str | None = None) -> list[int]: ...
    def fetch(self, messages: Sequence[int], data: Sequence[str], modifiers: Any = None) -> dict[int, Any]: ...
    def logout(self) -> Any: ...


def connect(settings: ImapSettings) -> ImapConnection:
    client: ImapConnection = IMAPClient(settings.host, port=settings.port, ssl=settings.ssl,
                                        timeout=settings.timeout)
    return client


@dataclass(frozen=True)
class Folder:
    connection: ImapConnection
    uidvalidity: int
    exists: int


@dataclass
class PollResult:
    stored: int = 0
    duplicates: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> how many
    uidvalidity: int = 0
    last_uid: int = 0
    reread: bool = False  # UIDVALIDITY changed: the folder was read again from the start

    @property
    def line(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return (f"{self.stored} stored, {self.duplicates} already stored, {sum(self.skipped.values())} skipped"
                + (f" ({skipped})" if skipped else "")
                + (" — the folder's UIDVALIDITY changed, so it was read again from the start" if self.reread else ""))


def own_addresses(*addresses: str) -> frozenset[str]:
    """The clinic's own addresses (the mailbox, SMTP_SENDER): an email from one is never a patient's."""
    found = set()
    for address in addresses:
        try:
            found.add(normalize_email(parseaddr(address)[1] or address))
        except InvalidAddress:
            continue
    return frozenset(found)


class ImapMailbox:
    def __init__(self, settings: ImapSettings, *, own: frozenset[str] = frozenset(),
                 connect: Callable[[ImapSettings], ImapConnection] = connect, batch: int = BATCH) -> None:
        self.settings = settings
        self._own = own | own_addresses(settings.username)
        self._connect = connect
        self._batch = batch

    @contextmanager
    def open(self) -> Iterator[Folder]:
        """Connected, logged in, the folder selected read-only; MailboxError says what to fix."""
        s = self.settings
        if s.missing:
            raise MailboxError(f"{' and '.join(s.missing)} not set — the mailbox needs IMAP_HOST, IMAP_USERNAME "
                               "and IMAP_PASSWORD")
        with _vendor_errors(s):
            connection = self._connect(s)
        try:
            with _vendor_errors(s):
                connection.login(s.username, s.password.get_secret_value() if s.password else "")
                selected = connection.select_folder(s.folder, readonly=True)
            yield Folder(connection, int(selected[b"UIDVALIDITY"]), int(selected.get(b"EXISTS", 0)))
        finally:
            with suppress(IMAPClientError, imaplib.IMAP4.error, OSError):  # gone already: nothing held open
                connection.logout()

    def poll(self, db: Database, clock: Clock) -> PollResult:
        """Store every email above the cursor, a batch per commit; MailboxError leaves the cursor where the last
        stored batch put it."""
        s = self.settings
        with db.read() as session:
            cursor = read_cursor(session, s.cursor_name) or {}
        result = PollResult()
        with self.open() as folder:
            last_uid = int(cursor.get("last_uid", 0))
            if cursor and int(cursor.get("uidvalidity", 0)) != folder.uidvalidity:
                log.warning("imap %s: UIDVALIDITY changed (%s -> %s); reading the folder again from the start, "
                            "emails already stored are not stored twice", s.folder, cursor.get("uidvalidity"),
                            folder.uidvalidity)
                last_uid, result.reread = 0, True
            result.uidvalidity, result.last_uid = folder.uidvalidity, last_uid
            criteria: list[Any] = ["UID", f"{last_uid + 1}:*"]
            if (since := self._since(cursor, result.reread, clock.now())) is not None:
                criteria += ["SINCE", since]
            with _vendor_errors(s):
                # "n:*" always matches the highest UID, even below n: keep only the ones above the cursor.
                uids = sorted(uid for uid in folder.connection.search(criteria) if uid > last_uid)
            for start in range(0, len(uids), self._batch):
                self._store_batch(db, clock, folder, uids[start:start + self._batch], result)
            if not uids and (not cursor or result.reread):
                self._store_batch(db, clock, folder, [], result)  # remember the folder's (new) UIDVALIDITY
        return result

    def _since(self, cursor: dict[str, Any], reread: bool, now: datetime) -> date | None:
        """How far back a poll without a position reads: the first one `first_poll_days` (a mailbox's years of old
        email are not new tickets); one after a UIDVALIDITY change from a day before the last poll (what came
        since may be unread; what is older was read under the old numbering)."""
        if cursor and not reread:
            return None
        if reread and (read_at := cursor.get("read_at")):
            return (datetime.fromisoformat(str(read_at)) - timedelta(days=1)).date()
        days = self.settings.first_poll_days
        return (now - timedelta(days=days)).date() if days > 0 else None

    def _store_batch(self, db: Database, clock: Clock, folder: Folder, uids: list[int], result: PollResult) -> None:
        s = self.settings
        with _vendor_errors(s):
            fetched = folder.connection.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        now = clock.now()
        messages = []
        for uid in uids:
            raw = fetched.get(uid, {}).get(b"BODY[]")
            if not isinstance(raw, bytes):  # expunged between the search and the fetch
                continue
            at = Location(f"{s.username}@{s.host}", s.folder, folder.uidvalidity, uid)
            try:
                messages.append(to_inbound(read_email(raw, at, mailbox=s.username, now=now), self._own))
            except NotAPatientEmail as why:
                log.info("imap %s: skipped uid %d: %s", s.folder, uid, why)
                result.skipped[str(why)] = result.skipped.get(str(why), 0) + 1
            except (ValueError, LookupError, TypeError, AttributeError) as exc:
                # One email the parser cannot read must not stop every later one: it stays in the mailbox
                # (nothing is deleted or marked), and the log says which UID to open there.
                log.warning("imap %s: uid %d could not be read (%s); left in the mailbox, read it there", s.folder,
                            uid, type(exc).__name__)
                result.skipped["could not be read"] = result.skipped.get("could not be read", 0) + 1
        last = max(uids, default=result.last_uid)
        state = {"uidvalidity": folder.uidvalidity, "last_uid": last, "read_at": now.isoformat()}
        answers = accept_all(db, messages, also=lambda session: write_cursor(session, s.cursor_name, state, now))
        result.last_uid = last
        result.stored += sum(not a.duplicate for a in answers)
        result.duplicates += sum(a.duplicate for a in answers)
        log.info("imap %s: uids %s-%s: %d stored, %d already stored", s.folder, uids[0] if uids else "-",
                 uids[-1] if uids else "-", sum(not a.duplicate for a in answers), sum(a.duplicate for a in answers))


@contextmanager
def _vendor_errors(s: ImapSettings) -> Iterator[None]:
    """IMAP and socket failures as MailboxError, with what to check; the server's own words only when they name
    no patient (a login or SELECT refusal)."""
    try:
        yield
    except LoginError:
        raise MailboxError(f"{s.where} refused the login for {s.username} — check IMAP_USERNAME and IMAP_PASSWORD "
                           "(Google Workspace: an app password, with IMAP turned on in Gmail's settings)") from None
    except TimeoutError:
        raise MailboxError(f"{s.where} did not answer within {s.timeout:.0f} s — check IMAP_HOST and IMAP_PORT "
                           "(993 with IMAP_SSL=true, 143 with IMAP_SSL=false)") from None
    except ssl.SSLError as exc:
        raise MailboxError(f"TLS with {s.where} failed ({exc.reason or type(exc).__name__}) — IMAP_SSL=true wants "
                           "the server's TLS port (usually 993) and IMAP_HOST as named on its certificate") from None
    except OSError as exc:
        raise MailboxError(f"cannot reach the IMAP server at {s.where} ({type(exc).__name__}) — check IMAP_HOST, "
                           "IMAP_PORT and IMAP_SSL, and that the server is up") from None
    except (IMAPClientError, imaplib.IMAP4.error) as exc:
        if "select" in str(exc).lower():
            raise MailboxError(f"{s.where} has no folder {s.folder!r} for {s.username} — check IMAP_FOLDER "
                               "(default INBOX)") from None
        raise MailboxError(f"{s.where}: the IMAP session failed ({type(exc).__name__}) — the next poll tries "
                           "again from where this one stopped") from None
