"""Reading the shared mailbox's inbox by delta query: each page's emails stored once, with the mailbox's position.

**Rounds.** A round is the first page (or the stored delta link), each "@odata.nextLink", and last a page with the
"@odata.deltaLink" where the next round starts. After each page its emails and the link to go on from (the next
link, or at the end the delta link) are committed together (bot/flows/intake.py `accept_all`, the cursor in
channel_cursors), so a process that dies mid-round resumes at the page it had not stored, and one that dies between
the fetch and the commit reads that page again: each email is stored once by its internet message id anyway.

**The first read** lists the whole inbox: only the emails received in the day before it began become messages
(`FIRST_READ_LOOKBACK`; older ones were the clinic's to answer before the bot), a cut-off kept in the cursor so a
round resumed after a restart keeps it. A position Graph no longer knows (410) or one not on GRAPH_API_URL starts
a new first read.

**Skipped** (logged at INFO with the reason and counts only, never a sender, a subject or a body): removed entries,
emails that are not a patient's (handlers/mail/inbound.py `NotAPatientEmail`: the clinic's own, empty, an
automatic reply by its subject).
Attachments are kept as references ("graph:<message id>:<attachment id>"), never their bytes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.clock import Clock, SystemClock
from bot.flows.intake import InboundMessage, accept_all
from bot.flows.mail_thread import VIA_GRAPH
from bot.settings import GraphMailSettings, TriageSettings
from bot.storage.cursors import read_cursor, write_cursor
from bot.storage.db import Database
from handlers.mail.graph_intake import inbox_cursor
from handlers.mail.inbound import MailFields, NotAPatientEmail, to_inbound
from handlers.service import Service
from integrations.graph_mail import GraphMailbox, GraphMessage, MailboxError

log = logging.getLogger(__name__)

FIRST_READ_LOOKBACK = timedelta(days=1)
# The delta query does not give an email's headers (Auto-Submitted): Exchange's own automatic replies are known by
# the subject prefix it writes in the sender's language.
AUTOMATIC_SUBJECTS = ("automatic reply:", "auto reply:", "autoreply:", "out of office:", "respuesta automática:",
                      "réponse automatique :", "automatische antwort:")
MAX_PAGES = 500  # one poll's most pages (then the next poll goes on from where this one stopped)


@dataclass(frozen=True)
class PollResult:
    pages: int
    stored: int
    duplicates: int
    skipped: int
    complete: bool  # the round reached its delta link


def poll_graph_mailbox(service: Service) -> PollResult:
    """One poll of the shared mailbox (`serve`'s job, a change notification's wake, `triage-bot mail poll`).
    MailboxError when Graph fails: what was stored before stays stored, and the next poll goes on from there."""
    if service.graph_mail is None:
        raise ValueError("the shared mailbox is not configured (GRAPH_MAILBOX is not set)")
    return read_inbox(service.db, service.clock, service.graph_mail.mailbox, on_stored=service.on_triage)


def read_inbox(db: Database, clock: Clock, mailbox: GraphMailbox, *,
               on_stored: Callable[[], None] = lambda: None) -> PollResult:
    """`on_stored` runs once when anything new was stored (even if a later page then failed)."""
    name = inbox_cursor(mailbox.address)
    with db.read() as session:
        state = read_cursor(session, name) or {}
    link, since = _position(state, clock.now())
    pages = stored = duplicates = skipped = 0
    complete = False
    own = frozenset({mailbox.address.lower()})
    try:
        while pages < MAX_PAGES and not complete:
            try:
                page = mailbox.delta_page(link)
            except MailboxError as exc:
                if exc.status not in ("410", "link") or link is None:
                    raise
                log.warning("Graph mailbox: the stored position is no longer usable (%s): reading it over",
                            exc.status)
                link, since = None, clock.now() - FIRST_READ_LOOKBACK
                continue
            pages += 1
            messages, passed = _messages(mailbox, page.messages, own, since)
            skipped += passed
            complete = bool(page.delta_link)
            after = page.delta_link or page.next_link
            if not after:
                raise MailboxError("link", "Microsoft Graph gave a mailbox page with neither a next nor a delta "
                                   "link: try again later")
            moved: dict[str, Any] = {"link": after}
            if since is not None and not complete:
                moved["since"] = since.isoformat()
            answers = accept_all(db, messages, also=_moving(name, moved, clock.now()))
            fresh = sum(not answer.duplicate for answer in answers)
            stored += fresh
            duplicates += len(answers) - fresh
            link = after
    finally:
        if stored:
            on_stored()
    if skipped or stored:
        log.info("Graph mailbox: %d page(s), %d stored, %d already stored, %d skipped", pages, stored, duplicates,
                 skipped)
    return PollResult(pages, stored, duplicates, skipped, complete)


def _moving(name: str, state: dict[str, Any], now: datetime) -> Callable[[Session], None]:
    """Moves the cursor in the transaction that stores the page's emails."""
    return lambda session: write_cursor(session, name, state, now)


def _position(state: dict[str, Any], now: datetime) -> tuple[str | None, datetime | None]:
    link = state.get("link")
    if not isinstance(link, str) or not link:
        return None, now - FIRST_READ_LOOKBACK
    since = state.get("since")
    try:
        return link, datetime.fromisoformat(since) if isinstance(since, str) else None
    except ValueError:
        return link, None


def _messages(mailbox: GraphMailbox, items: list[GraphMessage], own: frozenset[str],
              since: datetime | None) -> tuple[list[InboundMessage], int]:
    messages: list[InboundMessage] = []
    skipped: dict[str, int] = {}
    for item in items:
        if item.removed:
            continue  # moved out of the inbox or deleted: what was stored stays
        if since is not None and item.received_at is not None and item.received_at < since:
            skipped["received before the first read"] = skipped.get("received before the first read", 0) + 1
            continue
        try:
            messages.append(to_inbound(_fields(mailbox, item), own))
        except NotAPatientEmail as exc:
            skipped[str(exc)] = skipped.get(str(exc), 0) + 1
    for reason, count in skipped.items():
        log.info("Graph mailbox: skipped %d email(s): %s", count, reason)
    return messages, sum(skipped.values())


def _fields(mailbox: GraphMailbox, item: GraphMessage) -> MailFields:
    if item.received_at is None:
        raise NotAPatientEmail("no receivedDateTime")
    attachments = [{"filename": found.name, "content_type": found.content_type, "size": found.size,
                    "ref": f"graph:{item.id}:{found.id}"}
                   for found in (mailbox.attachments(item.id) if item.has_attachments else [])]
    return MailFields(via=VIA_GRAPH, mailbox=mailbox.address, message_id=item.internet_message_id,
                      sender=item.sender, sender_name=item.sender_name, subject=item.subject, plain=item.plain,
                      html=item.html, received_at=item.received_at, graph_id=item.id, attachments=attachments,
                      auto_submitted=item.subject.strip().lower().startswith(AUTOMATIC_SUBJECTS))


def poll_once(graph: GraphMailSettings, settings: TriageSettings) -> int:
    """`triage-bot mail poll` for the shared mailbox: one poll, one line (counts only), the exit code."""
    if missing := graph.missing():
        print(f"triage-bot mail poll: GRAPH_MAILBOX is set but {', '.join(missing)} "
              f"{'is' if len(missing) == 1 else 'are'} not — set them", file=sys.stderr)
        return 2
    mailbox = GraphMailbox(graph)
    db = Database(settings.database_url, migrate=settings.auto_migrate, require_current=True)
    try:
        result = read_inbox(db, SystemClock(), mailbox)
    except MailboxError as exc:
        print(f"triage-bot mail poll: {mailbox.address}: {exc.reason}", file=sys.stderr)
        return 1
    finally:
        mailbox.close()
        db.dispose()
    print(f"{mailbox.address} inbox: {result.stored} stored, {result.duplicates} already stored, {result.skipped} "
          f"skipped ({result.pages} page{'s' if result.pages != 1 else ''}"
          f"{'' if result.complete else ', more next time'})")
    if result.stored:
        print("a running `triage-bot serve` triages them within a second", file=sys.stderr)
    return 0
