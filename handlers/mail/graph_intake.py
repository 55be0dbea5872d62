"""The Microsoft 365 shared mailbox as `serve` runs it: the mailbox, and how to make the next read happen now.

Imports nothing of the Microsoft SDKs at run time (they are the optional `microsoft` extra): the webhook
(handlers/mail/graph_notify.py) is mounted whether or not the mailbox is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from integrations.graph_mail import GraphMailbox


class MailboxSetupError(Exception):
    """GRAPH_MAILBOX is set but cannot be used (a variable missing, the Microsoft packages absent). One line, with
    what to do."""


@dataclass
class GraphMailIntake:
    mailbox: GraphMailbox
    # `serve` sets it to run the mailbox's poll job now (a change notification); the poll job runs anyway.
    wake: Callable[[], None] = field(default=lambda: None)

    @property
    def client_state(self) -> str:
        return self.mailbox.client_state


def inbox_cursor(address: str) -> str:
    """channel_cursors: where the inbox's delta query is (a next link mid-round, else the delta link)."""
    return f"graph:{address.strip().lower()}/inbox"


def subscription_cursor(address: str) -> str:
    """channel_cursors: the change-notification subscription's id and expiry."""
    return f"graph:{address.strip().lower()}/subscription"
