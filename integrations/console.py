"""A messenger that prints instead of posting: the demo, and a service run with no chat app configured."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field

from bot.cards.model import Card
from bot.cards.text import render_text
from bot.document import Document, plain_document
from bot.mentions import Line, plain
from bot.ports import Media, PostRef


@dataclass
class ConsolePoster:
    """Keeps every post in order, per channel; `echo` also prints them as they happen."""

    echo: bool = False
    platform: str = "slack"  # whose user ids address a page sent to a person directly (the demo's are Slack's)
    posts: list[tuple[str, str]] = field(default_factory=list)
    updates: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _cards: dict[str, int] = field(default_factory=dict)  # post's message id -> ticket number, to label thread lines
    _tags: dict[str, PostRef] = field(default_factory=dict)  # outbox id -> where it was posted

    def post_card(self, channel: str, card: Card, *, tag: str = "") -> PostRef:
        ref = self._post(channel, render_text(card), tag)
        self._cards[ref.message_id] = card.ticket_id
        return ref

    def post_text(self, channel: str, text: str | Line, *, thread: PostRef | None = None, tag: str = "") -> PostRef:
        text = text if isinstance(text, str) else plain(text)
        if thread is None:
            return self._post(channel, text, tag)
        return self._post(channel, f"  ↳ in the thread of #{self._cards.get(thread.message_id, '?')}: {text}", tag)

    def post_document(self, channel: str, document: Document, *, tag: str = "") -> PostRef:
        return self._post(channel, plain_document(document), tag)

    def find_tagged(self, channel: str, tag: str, *, thread: PostRef | None = None) -> PostRef | None:
        return self._tags.get(tag)

    def update_card(self, ref: PostRef, card: Card) -> None:
        self.updates.append((ref.conversation, render_text(card)))

    def post_file(self, channel: str, filename: str, data: bytes, title: str, *,
                  thread: PostRef | None = None) -> None:
        self.files.append((channel, filename, data))
        where = f" in the thread of #{self._cards.get(thread.message_id, '?')}" if thread else ""
        if self.echo:
            print(f"[#{channel}]{where} file {filename} ({len(data)} bytes): {title}\n", flush=True)

    def _post(self, channel: str, text: str, tag: str = "") -> PostRef:
        self.posts.append((channel, text))
        if self.echo:
            print(f"[#{channel}]\n{text}\n", flush=True)
        ref = PostRef("console", channel, f"console-{next(self._ids)}")
        if tag:
            self._tags[tag] = ref
        return ref


# A 1x1 PNG: what the demo "downloads" for a patient's MMS photo, so the demo never goes out to Twilio.
DEMO_PHOTO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


@dataclass
class DemoMedia:
    """Demo only: MMS media 'fetched' without a network, each URL asked for recorded."""

    fetched: list[str] = field(default_factory=list)

    def fetch(self, url: str) -> Media:
        self.fetched.append(url)
        return Media(data=DEMO_PHOTO, content_type="image/png")


@dataclass
class RecordingMessenger:
    """Demo only: replies that would go to patients are kept here instead of being sent."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        self.sent.append((to, text))
        return f"demo-{idempotency_key}"


@dataclass
class RecordingCaller:
    """Demo only: voice-call pages are kept here instead of ringing anyone."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def call(self, to: str, text: str, *, idempotency_key: str) -> str:
        self.calls.append((to, text))
        return f"demo-call-{idempotency_key}"
