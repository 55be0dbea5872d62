"""One email as intake stores it, whichever mailbox it came from (Graph or IMAP).

Stored once by its internet Message-ID (the same email fetched twice, or seen by both a poll and a notification,
is one row); its own words only (handlers/mail/text.py); attachments as references the mailbox can serve again,
never their bytes; `reply_ref` says how to answer in the same thread (bot/flows/mail_thread.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain import Channel
from bot.flows.intake import InboundMessage, stored_provider_id
from bot.flows.mail_thread import MailThread
from bot.match.addresses import InvalidAddress, normalize_email
from handlers.mail.text import own_words


class NotAPatientEmail(ValueError):
    """An email intake skips, with the reason (no usable sender, the clinic's own address, an auto-reply)."""


@dataclass(frozen=True)
class MailFields:
    via: str  # VIA_GRAPH or VIA_IMAP
    mailbox: str  # the address or folder it was read from (kept as the message's recipient)
    message_id: str  # the Message-ID header, with its angle brackets
    sender: str
    sender_name: str
    subject: str
    plain: str | None
    html: str | None
    received_at: datetime
    references: str = ""
    graph_id: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)  # {"filename", "content_type", "size", "ref"}
    auto_submitted: bool = False  # Auto-Submitted other than "no", or an out-of-office: never a ticket


def to_inbound(mail: MailFields, own_addresses: frozenset[str] = frozenset()) -> InboundMessage:
    """The InboundMessage for `mail`, or NotAPatientEmail. `own_addresses`: the clinic's own (never a patient)."""
    if not mail.message_id.strip():
        raise NotAPatientEmail("no Message-ID")
    if mail.auto_submitted:
        raise NotAPatientEmail("an automatic email (Auto-Submitted / out of office)")
    try:
        sender = normalize_email(mail.sender)
    except InvalidAddress:
        raise NotAPatientEmail("no usable From address") from None
    if sender in own_addresses:
        raise NotAPatientEmail("sent by the clinic's own mailbox")
    words = own_words(mail.plain, mail.html)
    subject = " ".join(mail.subject.split())
    body = words or subject  # a subject-only email ("Cancel my appointment") is read by its subject
    if not body and not mail.attachments:
        raise NotAPatientEmail("an empty email")
    thread = MailThread(via=mail.via, message_id=mail.message_id.strip(), subject=subject,
                        references=" ".join(mail.references.split()), graph_id=mail.graph_id)
    return InboundMessage(
        channel=Channel.EMAIL,
        provider_message_id=stored_provider_id(mail.message_id),
        sender=sender,
        body=body,
        received_at=mail.received_at,
        sender_name=mail.sender_name.strip()[:200],
        sender_email=sender,
        recipient=mail.mailbox[:320],
        media=list(mail.attachments),
        reply_ref=thread.as_ref(),
    )
