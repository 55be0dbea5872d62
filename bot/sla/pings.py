"""Pings per person per day, from the audit log: how much the bot interrupted whom, for the managers' digest.

A ping is one @-mention in one message (a nudge names each person once, however many steps it carries) or
one page delivered to a provider (each PAGED event: the chat DM, and an SMS or a call where the clinic has them).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.mentions import Mention
from bot.storage.models import TicketEventRow
from bot.tickets.events import EventKind
from bot.tickets.people import resolve

_ROLE_NAMES = {"front_desk": "front desk", "billing": "billing", "clinical": "clinical", "managers": "managers"}


@dataclass(frozen=True)
class PingCount:
    who: tuple[str, str]  # ("staff", id), ("user", messenger id) or ("role", name): see Mention.counted_as
    name: str  # "Sam Rivera", "front desk group"
    count: int


def ping_counts(session: Session, config: ClinicConfig, start: datetime, end: datetime) -> tuple[PingCount, ...]:
    """Pings in [start, end), most first, then by name."""
    rows = session.execute(select(TicketEventRow.id, TicketEventRow.kind, TicketEventRow.data).where(
        TicketEventRow.kind.in_([EventKind.NUDGED.value, EventKind.PAGED.value]),
        TicketEventRow.at >= start, TicketEventRow.at < end)).all()
    pinged: set[tuple[str, tuple[str, str]]] = set()  # (message, who): a person named twice in one post counts once
    for event_id, kind, data in rows:
        data = data or {}
        if kind == EventKind.PAGED.value:
            if data.get("provider"):
                pinged.add((f"page:{event_id}", ("staff", str(data["provider"]))))
            continue
        mentioned = data.get("mentioned")
        if not isinstance(mentioned, list):
            continue  # nudges recorded before mentions were structured
        message = f"message:{data.get('message', event_id)}"
        pinged |= {(message, mention.counted_as) for mention in Mention.all_from_json(mentioned)}
    counts = Counter(who for _, who in pinged)
    found = [PingCount(who, _name(config, who), n) for who, n in counts.items()]
    return tuple(sorted(found, key=lambda p: (-p.count, p.name)))


def _name(config: ClinicConfig, who: tuple[str, str]) -> str:
    kind, value = who
    if kind == "staff":
        member = config.staff_member(value)
        return member.name if member else value
    if kind == "user":
        return resolve(config, value).name
    return f"{_ROLE_NAMES.get(value, value)} group"

