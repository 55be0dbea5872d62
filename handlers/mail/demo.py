"""The demo clinic's mailbox: an IMAP folder held in memory, so `triage-bot demo` reads its emails through the
real poller (handlers/mail/imap.py: cursor, parsing, own words, skips) without a mail server or an account."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from handlers.mail.imap import ImapConnection, ImapMailbox, ImapSettings

DEMO_INBOX = ImapSettings(host="imap.demo.invalid", username="hello@lumiere.example",
                          password=SecretStr("demo"), ssl=False, first_poll_days=0)


class DemoFolder:
    """Speaks the part of IMAPClient a poll uses; every email appended gets the next UID."""

    def __init__(self) -> None:
        self._emails: dict[int, bytes] = {}

    def append(self, raw: bytes) -> int:
        uid = len(self._emails) + 1
        self._emails[uid] = raw
        return uid

    def login(self, username: str, password: str) -> Any:
        return b"LOGIN completed"

    def select_folder(self, folder: str, readonly: bool = False) -> dict[bytes, Any]:
        return {b"UIDVALIDITY": 1, b"EXISTS": len(self._emails)}

    def search(self, criteria: Any = "ALL", charset: str | None = None) -> list[int]:
        start = 1
        if isinstance(criteria, list) and "UID" in criteria:  # ["UID", "n:*", ...]: the poll's only form
            start = int(str(criteria[criteria.index("UID") + 1]).split(":", 1)[0])
        return [uid for uid in self._emails if uid >= start]

    def fetch(self, messages: Sequence[int], data: Sequence[str], modifiers: Any = None) -> dict[int, Any]:
        return {uid: {b"BODY[]": self._emails[uid]} for uid in messages if uid in self._emails}

    def logout(self) -> Any:
        return b"LOGOUT completed"


def demo_mailbox(folder: DemoFolder) -> ImapMailbox:
    def connect(_settings: ImapSettings) -> ImapConnection:
        return folder

    return ImapMailbox(DEMO_INBOX, connect=connect)
