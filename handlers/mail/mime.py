"""One raw RFC 5322 email (as an IMAP server holds it) read into `MailFields`.

Attachments become references the mailbox can serve again (`imap:<folder>:<uidvalidity>:<uid>:<section>`, the
section as IMAP numbers body parts), never their bytes. An email without a Message-ID gets a stable one made of
where it sits (UIDVALIDITY and UID), so reading it twice still stores it once.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from typing import Any

from bot.flows.mail_thread import VIA_IMAP
from handlers.mail.inbound import MailFields

# What marks an email written by a machine (RFC 3834's Auto-Submitted, and the older out-of-office headers).
AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond")


@dataclass(frozen=True)
class Location:
    """Where an email sits in the mailbox: enough to name it and its parts again."""

    account: str  # user@host, for a synthesized Message-ID
    folder: str
    uidvalidity: int
    uid: int

    def part_ref(self, section: str) -> str:
        return f"imap:{self.folder}:{self.uidvalidity}:{self.uid}:{section}"

    @property
    def synthesized_id(self) -> str:
        where = hashlib.sha256(f"{self.account}/{self.folder}".encode()).hexdigest()[:16]
        return f"<imap.{self.uidvalidity}.{self.uid}.{where}@triage-bot.invalid>"


def read_email(raw: bytes, at: Location, *, mailbox: str, now: datetime) -> MailFields:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
    sender, name = _from(message)
    plain_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    bodies = [part for part in (plain_part, html_part) if part is not None]
    references = _header(message, "References") or _header(message, "In-Reply-To")
    return MailFields(
        via=VIA_IMAP,
        mailbox=mailbox,
        message_id=_header(message, "Message-ID") or at.synthesized_id,
        sender=sender,
        sender_name=name,
        subject=_header(message, "Subject"),
        plain=_text(plain_part),
        html=_text(html_part),
        received_at=_sent_at(message, now),
        references=references,
        attachments=[_reference(part, section, at) for section, part in _leaves(message)
                     if not any(part is body for body in bodies) and _is_attachment(part)],
        auto_submitted=is_automatic(message),
    )


def is_automatic(message: Message) -> bool:
    auto = _header(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if any(message.get(name) is not None for name in AUTO_REPLY_HEADERS):
        return True
    return _header(message, "Precedence").lower() == "auto_reply"


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser cannot make sense of counts as absent
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _from(message: Message) -> tuple[str, str]:
    try:
        header: Any = message.get("From")
        addresses = tuple(getattr(header, "addresses", ()))
    except (ValueError, IndexError, TypeError):
        return "", ""
    if not addresses:
        return "", ""
    return str(addresses[0].addr_spec), str(addresses[0].display_name)


def _sent_at(message: Message, now: datetime) -> datetime:
    """The Date header, never later than now (a sender's clock running fast must not put the SLA in the future)."""
    try:
        header: Any = message.get("Date")
        sent = getattr(header, "datetime", None)
    except (ValueError, IndexError, TypeError):
        sent = None
    if not isinstance(sent, datetime):
        return now
    sent = sent if sent.tzinfo is not None else sent.replace(tzinfo=UTC)
    return min(sent.astimezone(UTC), now)


def _text(part: Message | None) -> str | None:
    if part is None:
        return None
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else None


def _leaves(part: Message, section: str = "") -> Iterator[tuple[str, Message]]:
    """Every non-multipart part with its IMAP section number ("1", "2.1", ...); an attached email is one leaf."""
    if part.get_content_maintype() == "multipart":
        for index, child in enumerate(part.get_payload() or [], 1):  # type: ignore[arg-type]
            if isinstance(child, Message):
                yield from _leaves(child, f"{section}.{index}" if section else str(index))
    else:
        yield section or "1", part


def _is_attachment(part: Message) -> bool:
    if part.get_filename() or part.get_content_disposition() == "attachment":
        return True
    return part.get_content_maintype() != "text"  # an inline photo (a reaction pasted into the email) counts


def _reference(part: Message, section: str, at: Location) -> dict[str, Any]:
    payload = part.get_payload(decode=True)
    size = len(payload) if isinstance(payload, bytes) else len(part.as_bytes())  # an attached email: as sent
    return {"filename": part.get_filename() or f"part-{section}", "content_type": part.get_content_type(),
            "size": size, "ref": at.part_ref(section)}
