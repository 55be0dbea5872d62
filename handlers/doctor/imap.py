"""IMAP: connect, log in and select the folder read-only, as a poll does. Nothing is read or marked."""

from __future__ import annotations

from handlers.doctor.report import Check, fail, ok, skip
from handlers.mail.imap import ImapMailbox, ImapSettings, MailboxError

NAME = "IMAP"


def check_imap(settings: ImapSettings) -> Check:
    if not settings.configured:
        return skip(NAME, "not configured (set IMAP_HOST, IMAP_USERNAME and IMAP_PASSWORD to read patients' email "
                          "from a mailbox)")
    try:
        with ImapMailbox(settings).open() as folder:
            count = folder.exists
    except MailboxError as exc:
        return fail(NAME, str(exc))
    tls = "TLS" if settings.ssl else "no TLS"
    return ok(NAME, f"{settings.where} ({tls}) logged in as {settings.username}; {settings.folder} has {count} "
                    f"message(s), polled every {settings.poll_seconds} s")
