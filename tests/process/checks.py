"""The promises, checked from outside: the database as stored, and what the vendors' stand-ins received."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from bot.domain import TicketStatus
from tests.process.harness import Store
from tests.slack_standin import SlackStandIn
from tests.standins import StandIn

CHAT_KINDS = ("chat.card", "chat.page", "chat.alert", "chat.thread", "chat.post")
SMS_KINDS = ("reply.sms", "page.sms", "staff.sms")
DELIVERY_KINDS = (*CHAT_KINDS, *SMS_KINDS, "chat.update", "page.call")


def slack_posts(slack: SlackStandIn) -> list[dict[str, Any]]:
    """Every message the Slack stand-in holds (top-level and thread replies): the posts Slack accepted."""
    found: list[dict[str, Any]] = []
    with slack._lock:  # the stand-in's own state: what "Slack" has, whatever the bot believes
        for channel, messages in slack._channels.items():
            for message in messages:
                found.append({**message, "channel": channel})
                found.extend({**reply, "channel": channel} for reply in message.get("replies", []))
    return found


def twilio_messages(twilio: StandIn) -> list[tuple[str, str]]:
    """(To, Body) of every SMS the Twilio stand-in accepted."""
    return [(r.form.get("To", ""), r.form.get("Body", "")) for r in list(twilio.requests)
            if r.path.endswith("/Messages.json")]


def stored_once(store: Store, acknowledged: Iterable[str]) -> list[str]:
    """Problems: an acknowledged MessageSid not stored, or stored more than once."""
    counts = Counter(m.provider_message_id for m in store.inbound())
    return [f"{sid}: stored {counts[sid]} times" for sid in set(acknowledged) if counts[sid] != 1]


def one_ticket_per_sender(store: Store) -> list[str]:
    tickets: dict[str, set[int | None]] = defaultdict(set)
    for message in store.inbound():
        tickets[message.sender].add(message.ticket_id)
    return [f"{sender}: messages in tickets {sorted(map(str, ids))}" for sender, ids in tickets.items()
            if len(ids) != 1 or None in ids]


def needs_human(store: Store) -> list[int]:
    return [t.id for t in store.tickets() if t.status != TicketStatus.AUTO_RESOLVED.value]


def cards_per_ticket(store: Store, slack: SlackStandIn) -> dict[int, int]:
    """How many top-level card posts Slack holds for each ticket (by the ticket number in the post's text)."""
    cards: Counter[int] = Counter()
    for post in slack_posts(slack):
        if post.get("thread_ts") or not post.get("blocks"):
            continue
        text = str(post.get("text", ""))
        if " ticket #" in text and not post["channel"].startswith("U"):  # a DM to a provider is a page
            number = text.rsplit("#", 1)[1].split()[0]
            if number.isdigit():
                cards[int(number)] += 1
    return dict(cards)


def one_card_each(store: Store, slack: SlackStandIn) -> list[str]:
    cards = cards_per_ticket(store, slack)
    return [f"ticket #{tid}: {cards.get(tid, 0)} cards" for tid in needs_human(store) if cards.get(tid, 0) != 1]


def chat_delivered_once(store: Store, slack: SlackStandIn) -> list[str]:
    """Every post Slack accepted is one sent outbox row, and every sent chat row is one post Slack holds."""
    posts = Counter((p["channel"], p["ts"]) for p in slack_posts(slack) if p.get("subtype") != "file_share")
    held = {channel for channel, _ in posts}

    def where(channel: str) -> str:  # a DM found again by its id (D<user>) is the one posted to <user>
        return channel[1:] if channel.startswith("D") and channel[1:] in held else channel

    sent = Counter((where(str(r.result.get("conversation"))), str(r.result.get("message_id")))
                   for r in store.outbox(*CHAT_KINDS) if r.status == "sent" and r.result.get("message_id"))
    problems = [f"Slack holds {key} {n}× but the outbox sent it {sent.get(key, 0)}×" for key, n in posts.items()
                if sent.get(key, 0) != 1]
    problems += [f"outbox row says it posted {key}, Slack does not hold it" for key in sent if key not in posts]
    return problems


def sms_delivered_once(store: Store, twilio: StandIn) -> list[str]:
    """No text reached a phone twice, and every text Twilio accepted is one sent outbox row."""
    received = Counter(twilio_messages(twilio))
    problems = [f"{to} got the same text {n}×: {body[:60]!r}" for (to, body), n in received.items() if n > 1]
    sent = sum(1 for r in store.outbox(*SMS_KINDS) if r.status == "sent" and r.result.get("provider_id"))
    if sent != sum(received.values()):
        problems.append(f"Twilio accepted {sum(received.values())} texts, the outbox sent {sent}")
    return problems


def pending(store: Store, kinds: Iterable[str] = DELIVERY_KINDS) -> list[str]:
    return [f"#{r.id} {r.kind} attempts={r.attempts} {r.last_error[:80]}" for r in store.outbox(*kinds)
            if r.status == "pending"]
