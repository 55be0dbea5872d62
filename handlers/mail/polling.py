"""The IMAP mailbox as a scheduled job of `serve` and as `triage-bot mail poll`: poll, then wake triage."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from handlers.mail.imap import ImapMailbox, ImapSettings, MailboxError, PollResult, own_addresses
from handlers.service import Service
from integrations.email_smtp import SmtpSettings

log = logging.getLogger(__name__)


def mailbox(imap: ImapSettings, smtp: SmtpSettings) -> ImapMailbox:
    """The mailbox, knowing the clinic's own addresses (its username and SMTP_SENDER) are never a patient's."""
    return ImapMailbox(imap, own=own_addresses(imap.username, smtp.sender))


@dataclass
class MailPolling:
    service: Service
    mailbox: ImapMailbox

    def poll(self) -> PollResult:
        """One poll; what it stored is triaged by the workers it wakes. MailboxError: nothing moved."""
        result = self.mailbox.poll(self.service.db, self.service.clock)
        if result.stored:
            self.service.on_triage()
        return result

    def run(self) -> None:
        """The scheduled job: a failure is one log line (what to check), and the next poll tries again."""
        try:
            self.poll()
        except MailboxError as exc:
            log.warning("IMAP: %s", exc)
