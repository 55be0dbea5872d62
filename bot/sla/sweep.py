"""The SLA sweep: fire each due ladder step of each open ticket exactly once, with as few pings as that takes.

A step is claimed in the database (a unique key, in the same transaction as its message), so two sweeps
that overlap, in one process or in two instances sharing the database, still send each nudge once.

What a sweep sends:
- The steps of one ticket due at the same sweep (the role nudge and the backup page, or a catch-up after
  downtime) are one thread message that mentions each person once; each step is still claimed and audited.
- The nudges of several tickets in one channel are one channel message listing them (see `BATCH_MINUTES`).
- Outside business hours nothing but adverse-event pages mentions anyone: business-time nudges wait for the
  opening, and the role ladder of a paged adverse event posts its lines without a mention (the page ladder
  does the waking).
- An acknowledged page, a claim, or an `other` ticket stops (or never starts) every ladder.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import Category, Role, TicketStatus, is_unreadable
from bot.flows.chat import call_paged, page, refresh_cards, thread_line
from bot.hours import is_open
from bot.humanize import humanize_minutes
from bot.mentions import Mention, union
from bot.outbox.queue import OutboxKind, OutboxStatus, enqueue
from bot.sla.audience import step_audience
from bot.sla.plan import Step
from bot.storage.db import Database
from bot.storage.models import OutboxRow, SeenDeliveryRow, TicketRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.store import record

# Who covers as backup right now (staff id), from the on-call rota; None when nobody is set.
BackupLookup = Callable[[Session, datetime], str | None]

BATCH_MINUTES = 5
"""How long a due nudge may wait for the nudges of other tickets in its channel, so they go out as one message.

A nudge that falls due waits while another ticket's nudge in the same channel falls due within
`BATCH_MINUTES` of the oldest one waiting, and never longer than that: at the first sweep where nothing else
is coming inside that window (or the window is over), every due nudge of the channel goes out together.
Only the clock decides (the injected one), so every instance sweeping the same database decides alike.
Adverse events and pages never wait and never join a batch: they go to their own card's thread at once.
"""


def claim_once(session: Session, key: str, now: datetime) -> bool:
    """True for the first caller with this key, across processes; False for everyone after."""
    try:
        with session.begin_nested():
            session.add(SeenDeliveryRow(key=key, at=now))
        return True
    except IntegrityError:
        return False


@dataclass(frozen=True)
class _Due:
    """The steps of one ticket that are due at this sweep and not yet fired."""

    ticket_id: int
    role: str
    steps: tuple[Step, ...]
    batchable: bool


@dataclass(frozen=True)
class SlaSweep:
    db: Database
    config: ClinicConfig
    clock: Clock
    backup: BackupLookup

    def run(self) -> int:
        """Fire every step that is due now; returns how many steps fired (merged ones count each)."""
        now = self.clock.now()
        with self.db.transaction() as session:
            tickets = session.scalars(select(TicketRow).where(
                TicketRow.status == TicketStatus.OPEN.value, TicketRow.due_at.is_not(None)).order_by(TicketRow.id))
            due, upcoming = self._survey(session, list(tickets), now)
        fired = 0
        channels: dict[str, list[_Due]] = defaultdict(list)
        for item in due:
            if item.batchable:
                channels[item.role].append(item)
            else:
                fired += self._fire_batch([item], now)
        for role, items in channels.items():
            if not self._waits(items, upcoming[role], now):
                fired += self._fire_batch(items, now)
        return fired

    def _survey(self, session: Session, tickets: list[TicketRow],
                now: datetime) -> tuple[list[_Due], dict[str, list[datetime]]]:
        """Due steps per ticket, and per channel the times of batchable nudges still to come."""
        due: list[_Due] = []
        upcoming: dict[str, list[datetime]] = defaultdict(list)
        shown = _deliveries_of(session, [ticket.id for ticket in tickets])
        for ticket in tickets:
            steps = [shifted for step in _steps(ticket) if _applies(ticket, step)
                     if (shifted := _from_delivery(step, shown.get(ticket.id, []))) is not None]
            batchable = ticket.category != Category.ADVERSE_EVENT.value
            role = ticket.role or Role.FRONT_DESK.value
            if batchable:
                upcoming[role] += [step.at for step in steps if step.at > now]
            ready = tuple(step for step in steps if step.at <= now and self._may_fire(ticket, now)
                          and session.get(SeenDeliveryRow, _claim_key(ticket, step)) is None)
            if ready:
                due.append(_Due(ticket.id, role, ready, batchable))
        return due, upcoming

    def _may_fire(self, ticket: TicketRow, now: datetime) -> bool:
        """Business-time ladders wait for the opening (a catch-up after close waits too); adverse events never."""
        return ticket.category == Category.ADVERSE_EVENT.value or is_open(self.config, now)

    @staticmethod
    def _waits(items: Sequence[_Due], upcoming: Sequence[datetime], now: datetime) -> bool:
        deadline = min(step.at for item in items for step in item.steps) + timedelta(minutes=BATCH_MINUTES)
        return now < deadline and any(at <= deadline for at in upcoming)

    def _fire_batch(self, items: Sequence[_Due], now: datetime) -> int:
        with self.db.transaction() as session:
            claimed: list[tuple[TicketRow, list[Step]]] = []
            for item in items:
                ticket = session.get(TicketRow, item.ticket_id)
                if ticket is None:
                    continue
                steps = [step for step in item.steps
                         if _applies(ticket, step) and claim_once(session, _claim_key(ticket, step), now)]
                if steps:  # the others were fired by another sweep, or the ticket moved on
                    claimed.append((ticket, steps))
            if len(claimed) == 1:
                self._thread_nudge(session, *claimed[0], now)
            elif claimed:
                self._channel_nudge(session, claimed, now)
            for ticket, _ in claimed:
                refresh_cards(session, ticket, now)
            return sum(len(steps) for _, steps in claimed)

    def _thread_nudge(self, session: Session, ticket: TicketRow, steps: list[Step], now: datetime) -> None:
        """One message in the card's thread for every step of this ticket due now, each person mentioned once."""
        # After hours only the page ladder wakes anyone; an adverse event nobody could be paged for is its own page.
        quiet_nudges = bool(ticket.paged) and not is_open(self.config, now)
        per_step: list[tuple[Step, tuple[Mention, ...]]] = []
        carded: set[str] = set()  # staff given the card by DM now: the DM is their ping, not a mention too
        for step in steps:
            backup = self.backup(session, now) if step.notify == "backup" else None
            if step.kind == "page" and backup and backup != ticket.paged:
                page(session, ticket, backup, now)
                carded.add(backup)
            if step.kind == "page" and step.call:
                call_paged(session, ticket, step.key, now)
            mentions = () if step.kind == "nudge" and quiet_nudges else self._audience(ticket, step, backup)
            per_step.append((step, mentions))
        per_step = [(step, tuple(m for m in mentions if m.staff not in carded)) for step, mentions in per_step]
        everyone = union(m for _, mentions in per_step for m in mentions)
        text = _thread_text(ticket, steps, now, quiet=quiet_nudges and not everyone and not carded,
                            carded=bool(carded))
        row = thread_line(session, ticket, text, now, mentions=everyone)
        for step, mentions in per_step:
            _audit(session, ticket, step, mentions, row.id, now, carded=sorted(carded) if step.kind == "page" else [])

    def _channel_nudge(self, session: Session, claimed: list[tuple[TicketRow, list[Step]]], now: datetime) -> None:
        """One post in the channel listing every ticket nudged now: numbers and categories, no patient detail."""
        role = Role(claimed[0][0].role or Role.FRONT_DESK.value)
        audiences = [(ticket, step, self._audience(ticket, step, None)) for ticket, steps in claimed for step in steps]
        everyone = union(m for _, _, mentions in audiences for m in mentions)
        listed = []
        for index, (ticket, _) in enumerate(claimed):
            late = humanize_minutes(_late(ticket, now))
            late = f"overdue {late}" if index == 0 else late
            listed.append(f"#{ticket.id} {ticket.category.replace('_', ' ')} ({late})")
        text = f"⏰ {len(claimed)} tickets unclaimed and overdue: {', '.join(listed)}"
        payload = {"text": text, "mentions": [m.as_json() for m in everyone]}
        row = enqueue(session, OutboxKind.CHAT_POST, self.config.channels.for_role(role), now, payload=payload)
        batch = [ticket.id for ticket, _ in claimed]
        for ticket, step, mentions in audiences:
            _audit(session, ticket, step, mentions, row.id, now, batch=batch)

    def _audience(self, ticket: TicketRow, step: Step, backup: str | None) -> tuple[Mention, ...]:
        return step_audience(self.config, Role(ticket.role or Role.FRONT_DESK.value), step.notify, backup)


@dataclass(frozen=True)
class _Shown:
    """One card or page DM of a ticket: queued at `queued`, seen by staff from `sent` (None: not yet)."""

    kind: str
    queued: datetime
    sent: datetime | None
    pending: bool
    platform: str = ""  # the messenger, when the instance posts to several (each has its own copy)


def _deliveries_of(session: Session, ticket_ids: list[int]) -> dict[int, list[_Shown]]:
    found: dict[int, list[_Shown]] = defaultdict(list)
    kinds = (OutboxKind.CHAT_CARD.value, OutboxKind.CHAT_PAGE.value)
    for chunk in range(0, len(ticket_ids), 500):
        rows = session.execute(select(OutboxRow.ticket_id, OutboxRow.kind, OutboxRow.created_at, OutboxRow.sent_at,
                                      OutboxRow.status, OutboxRow.payload).where(OutboxRow.kind.in_(kinds),
                                                              OutboxRow.ticket_id.in_(ticket_ids[chunk:chunk + 500])))
        for row in rows:
            platform = str((row.payload or {}).get("platform") or "")
            found[int(row.ticket_id)].append(_Shown(row.kind, row.created_at, row.sent_at,
                                                    row.status == OutboxStatus.PENDING.value, platform))
    return found


def _from_delivery(step: Step, shown: Sequence[_Shown]) -> Step | None:
    """The step with its clock started when staff could see what it chases: None while that is not delivered.

    A nudge chases the card, a page step the page DM. The plan was made when the ticket was routed (or the
    page queued); a card or page queued then but posted later moves the step by as long as it was late.
    """
    kind = OutboxKind.CHAT_PAGE.value if step.kind == "page" else OutboxKind.CHAT_CARD.value
    made = step.paged_at if step.kind == "page" else _made_at(step)
    relevant = [item for item in shown if item.kind == kind and (made is None or item.queued >= made)]
    # With several messengers, staff can see it once one of them has it all: the others may still be down.
    waiting = {item.platform for item in relevant if item.pending}
    if waiting and waiting >= {item.platform for item in relevant}:
        return None  # nobody can see it yet: the ladder has not started
    relevant = [item for item in relevant if item.platform not in waiting]
    lag = max((late_by(item.queued, item.sent) for item in relevant if item.sent is not None), default=timedelta(0))
    return replace(step, at=step.at + lag) if lag else step


LATE = timedelta(minutes=1)
"""A card or page posted this much after it was queued (an outage) starts its ladder late; pacing never does."""


def late_by(queued: datetime, sent: datetime) -> timedelta:
    """How far a ladder (and the ticket's due time) moves for a card or page queued at `queued`, posted at `sent`."""
    lag = sent - queued
    return lag if lag >= LATE else timedelta(0)


def _made_at(step: Step) -> datetime | None:
    stamp = step.key.rsplit(":", 1)[-1]
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None  # a plan frozen before keys carried their moment


def _steps(ticket: TicketRow) -> list[Step]:
    return [Step.from_json(data) for data in (ticket.escalation or {}).get("steps", [])]


def _claim_key(ticket: TicketRow, step: Step) -> str:
    return f"sla:{ticket.id}:{step.key}"


def _late(ticket: TicketRow, now: datetime) -> int:
    return max(int((now - (ticket.due_at or now)).total_seconds() // 60), 0)


def _thread_text(ticket: TicketRow, steps: list[Step], now: datetime, *, quiet: bool, carded: bool) -> str:
    parts = []
    page_steps = [step for step in steps if step.kind == "page"]
    pages = [f"{step.notify} (card sent by DM)" if carded and step.notify == "backup" else step.notify
             for step in page_steps]
    if page_steps:
        minutes = int((now - (page_steps[0].paged_at or ticket.created_at)).total_seconds() // 60)
        parts.append(f"🚨 Page not acknowledged after {humanize_minutes(minutes)}: {', '.join(pages)}")
    if any(step.kind == "nudge" for step in steps):
        late = _late(ticket, now)
        parts.append(f"⏰ Unclaimed, overdue by {humanize_minutes(late)}" if late else "⏰ Unclaimed, due now")
    text = " · ".join(parts)
    return f"{text} (after hours: nobody mentioned)" if quiet else text


def _audit(session: Session, ticket: TicketRow, step: Step, mentions: Sequence[Mention], message: int,
           now: datetime, **extra: object) -> None:
    """`mentioned` is who this step pinged (staff ids, role names); `message` the one post that carried it."""
    record(session, ticket, EventKind.NUDGED, BOT, now, step=step.key, step_kind=step.kind, notify=step.notify,
           mentioned=[m.audited() for m in mentions], message=message,
           **{key: value for key, value in extra.items() if value})


def _applies(ticket: TicketRow, step: Step) -> bool:
    """Ladders chase a ticket nobody has answered: a claim or an acknowledged page is an answer."""
    if ticket.status != TicketStatus.OPEN.value:
        return False
    if ticket.category == Category.OTHER.value and not is_unreadable(ticket.reasons):
        return False  # nobody owes thanks or spam an answer (a "could not be read" ticket is owed a look)
    if ticket.acknowledged_by:
        return False  # the page was acknowledged: a provider has it, nobody else is chased about it
    if step.kind == "page":
        return bool(ticket.paged)
    return True

