"""What an email reply needs to land in the patient's own thread, read from the bot's own records.

The outbox calls a messenger with only the address, the text and an idempotency key (bot/flows/deliver.py). An
email reply also needs the patient's latest email: its Message-ID and References (SMTP's In-Reply-To and
References headers), its subject ("Re: ..."), and, for a Microsoft 365 mailbox, Graph's id of it (Graph's reply
on the same message). The intake of each mailbox stores those as the message's `reply_ref`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from bot.domain import Channel
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow

VIA_GRAPH = "graph"  # came in through the Microsoft 365 shared mailbox
VIA_IMAP = "imap"  # came in through an IMAP mailbox; answered by SMTP


@dataclass(frozen=True)
class MailThread:
    via: str
    message_id: str  # the patient's email's Message-ID, with its angle brackets
    subject: str
    references: str = ""  # that email's own References header
    graph_id: str = ""  # Graph's id of that email in the shared mailbox (via graph)

    def as_ref(self) -> dict[str, str]:
        ref = {"via": self.via, "message_id": self.message_id, "subject": self.subject}
        if self.references:
            ref["references"] = self.references
        if self.graph_id:
            ref["graph_id"] = self.graph_id
        return ref

    @classmethod
    def from_ref(cls, ref: dict[str, Any] | None) -> MailThread | None:
        if not ref or not ref.get("via") or not ref.get("message_id"):
            return None
        return cls(via=str(ref["via"]), message_id=str(ref["message_id"]), subject=str(ref.get("subject", "")),
                   references=str(ref.get("references", "")), graph_id=str(ref.get("graph_id", "")))

    @property
    def reply_subject(self) -> str:
        subject = self.subject.strip()
        return subject if subject.lower().startswith("re:") else f"Re: {subject}" if subject else ""

    @property
    def reply_references(self) -> str:
        """RFC 5322: the parent's References followed by the parent's Message-ID."""
        return f"{self.references} {self.message_id}".strip()


class MailHistory(Protocol):
    def latest(self, address: str) -> MailThread | None: ...


class StoredMailHistory:
    """`MailHistory` from the inbound messages table: the patient's latest email that can be answered in thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def latest(self, address: str) -> MailThread | None:
        with self._db.read() as session:
            refs = session.scalars(
                select(InboundMessageRow.reply_ref).where(
                    InboundMessageRow.channel == Channel.EMAIL.value, InboundMessageRow.sender == address,
                    InboundMessageRow.reply_ref.is_not(None))
                .order_by(InboundMessageRow.received_at.desc(), InboundMessageRow.id.desc()).limit(5))
            for ref in refs:
                if (thread := MailThread.from_ref(ref)) is not None:
                    return thread
        return None
