"""The ways out, as the core sees them. Integrations implement these and raise only DeliveryError."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.cards.model import Card
from bot.document import Document
from bot.mentions import Line
from bot.posts import PostRef as PostRef  # where a post is: kept here for the ports' callers


class PatientMessenger(Protocol):
    """Sends a text to a patient on one channel; returns the provider's message id."""

    def send(self, to: str, text: str, *, idempotency_key: str) -> str: ...


@runtime_checkable
class SentLookup(Protocol):
    """A messenger that can say whether a text went out (for one whose sender died before hearing back)."""

    def find_sent(self, to: str, text: str, since: datetime, *, not_these: frozenset[str] = frozenset()) -> str | None:
        ...


class PhoneCaller(Protocol):
    """Rings a phone and speaks `text` (a page); returns the provider's call id."""

    def call(self, to: str, text: str, *, idempotency_key: str) -> str: ...


class ChatPoster(Protocol):
    """Posts cards and lines in the clinic's messenger (Slack, Teams, or the console).

    A `channel` is a role channel as the clinic config names it, or a person's user id on `platform` (a page
    sent to them directly).
    """

    @property
    def platform(self) -> str:
        """Whose user ids address people here: "slack" or "teams" (the config's staff[].slack_user / teams_user)."""
        ...

    def post_card(self, channel: str, card: Card, *, tag: str = "") -> PostRef:
        """`tag` (the outbox row's id) is carried with the post where the messenger allows it."""
        ...

    def post_text(self, channel: str, text: str | Line, *, thread: PostRef | None = None, tag: str = "") -> PostRef:
        """`text` may carry mentions in place (a Line): each is pinged, in the messenger's own syntax."""
        ...

    def post_document(self, channel: str, document: Document, *, tag: str = "") -> PostRef:
        """A formatted post (the digest), in the messenger's own markup."""
        ...

    def find_tagged(self, channel: str, tag: str, *, thread: PostRef | None = None) -> PostRef | None:
        """A recent post carrying `tag` (a try whose outcome is unknown did land), or None."""
        ...

    def update_card(self, ref: PostRef, card: Card) -> None: ...

    def post_file(self, channel: str, filename: str, data: bytes, title: str, *,
                  thread: PostRef | None = None) -> None: ...


@dataclass(frozen=True)
class Media:
    data: bytes
    content_type: str


class MediaFetcher(Protocol):
    """Downloads a file a patient sent (an MMS photo) with the vendor's credentials: never a public link."""

    def fetch(self, url: str) -> Media: ...
