"""The figures of one local day, read from the tickets and their audit events.

Only ticket numbers, categories, channels, roles, counts, durations and staff are read or kept here:
no patient, sender or message column is ever selected, so nothing about a patient can reach the digest.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.classify.artifact import ArtifactError, ModelArtifact
from bot.classify.installed import model_in_use
from bot.config.models import ClinicConfig
from bot.domain import Category, Channel, Role, TicketStatus, is_unreadable
from bot.optouts import opt_outs_between
from bot.sla.pings import PingCount, ping_counts
from bot.storage.models import TicketEventRow, TicketRow
from bot.tickets.events import EventKind
from bot.tickets.people import resolve

# Events that count as a human (or the bot's reply) answering a ticket: the first of them is the first response.
RESPONSE_KINDS: tuple[str, ...] = (EventKind.REPLY_SENT.value, EventKind.CLAIMED.value, EventKind.ACKNOWLEDGED.value)
UNROUTED = "unrouted"  # role label for an open ticket that has no role yet

T = TypeVar("T")


@dataclass(frozen=True)
class CategoryCount:
    category: Category
    count: int


@dataclass(frozen=True)
class ChannelCount:
    channel: str  # a Channel value; a value the bot does not know is kept as stored
    count: int


@dataclass(frozen=True)
class FirstResponse:
    """First-response times of one category's tickets of the day (those that had a response)."""

    category: Category
    tickets: int  # tickets of the day in this category
    responded: int  # of which had a first response
    median: timedelta | None  # statistics.median; None when nobody responded
    p90: timedelta | None  # nearest rank: the ceil(0.9 n)-th smallest
    target_minutes: int
    met: int  # first response by the ticket's due time (inclusive)
    breached: int = 0  # first response after the due time, or none yet and past due: the same rule as `breaches`
    waiting: int = 0  # no response yet and not yet due

    @property
    def unanswered(self) -> int:
        return self.tickets - self.responded


@dataclass(frozen=True)
class Breach:
    ticket_id: int
    category: Category
    due_at: datetime
    first_response_at: datetime | None  # None: still no response at `now`
    late_by: timedelta  # (first response, or now) - due_at


@dataclass(frozen=True)
class RoleOpen:
    role: str  # a Role value, or UNROUTED
    count: int
    oldest_age_minutes: int


@dataclass(frozen=True)
class OpenNow:
    """Tickets open and unclaimed at `now`, whatever day they came in."""

    total: int
    by_role: tuple[RoleOpen, ...]  # roles with at least one, in Role order (unrouted last)
    oldest_ticket_id: int | None
    oldest_age_minutes: int | None  # whole minutes (floor) at `now`


@dataclass(frozen=True)
class AdverseEventLine:
    ticket_id: int
    time_to_acknowledge: timedelta | None  # acknowledged_at - created_at; None when never acknowledged
    acknowledged_by: str | None  # staff name when known, else the messenger user id

    @property
    def minutes_to_acknowledge(self) -> float | None:
        if self.time_to_acknowledge is None:
            return None
        return self.time_to_acknowledge.total_seconds() / 60


@dataclass(frozen=True)
class StaffClaims:
    actor: str  # the messenger user id that claimed
    name: str  # the staff member's name, or the actor id when not in the config
    count: int


@dataclass(frozen=True)
class DailyDigest:
    day: date  # local date in the clinic's time zone
    timezone: str
    window_start: datetime  # local midnight, as aware UTC
    window_end: datetime  # next local midnight, as aware UTC (exclusive)
    generated_at: datetime
    total: int
    by_category: tuple[CategoryCount, ...]  # all six categories, Category order
    by_channel: tuple[ChannelCount, ...]  # all four channels, Channel order, then any unknown ones
    auto_resolved: int
    auto_resolved_share: float  # auto_resolved / total, 0.0 when no tickets
    first_response: tuple[FirstResponse, ...]  # all six categories, Category order
    breaches: tuple[Breach, ...]  # by ticket id
    open_now: OpenNow
    adverse_events: tuple[AdverseEventLine, ...]  # by ticket id
    claims: tuple[StaffClaims, ...]  # most claims first, then by name
    pings: tuple[PingCount, ...] = ()  # @-mentions and pages per person, most first (bot/sla/pings.py)
    clinic: str = ""  # the clinic's name, for the chart's title
    opt_outs: int = 0  # STOP and its equivalents recorded today (no ticket, no card: only counted here)
    unreadable: int = 0  # of the `other` tickets, those the bot could not read (a person owes each a look)
    classifier: str = ""  # the model that read them: "model 1.3ac0fa9ca3b0 (shipped, 2362 examples)"

    @property
    def breach_count(self) -> int:
        return len(self.breaches)


def day_window(config: ClinicConfig, day: date) -> tuple[datetime, datetime]:
    """[local midnight, next local midnight) of `day` in the clinic's zone, as aware UTC (23 or 25 h on DST days)."""
    tz = config.clinic.tz
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return _utc(start), _utc(end)


def nearest_rank(values: Iterable[T], fraction: float) -> T:
    """The ceil(fraction * n)-th smallest value (nearest-rank percentile), in exact arithmetic."""
    ordered = sorted(values)  # type: ignore[type-var]
    if not ordered:
        raise ValueError("nearest_rank of no values")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    exact = Fraction(fraction).limit_denominator(10_000)  # 0.9 -> 9/10 exactly: ceil(0.9 * 70) is 63, not 64
    rank = -(-exact.numerator * len(ordered) // exact.denominator)
    return ordered[max(rank, 1) - 1]


def compute_digest(session: Session, config: ClinicConfig, day: date, now: datetime) -> DailyDigest:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    start, end = day_window(config, day)
    tickets = session.execute(
        select(
            TicketRow.id, TicketRow.status, TicketRow.category, TicketRow.channel, TicketRow.created_at,
            TicketRow.due_at, TicketRow.acknowledged_at, TicketRow.acknowledged_by, TicketRow.reasons,
        )
        .where(TicketRow.created_at >= start, TicketRow.created_at < end)
        .order_by(TicketRow.id)
    ).all()
    first_at = _first_responses(session, [t.id for t in tickets])

    categories = {t.id: _category(t.category) for t in tickets}
    category_counts = Counter(categories.values())
    by_category = tuple(CategoryCount(c, category_counts.get(c, 0)) for c in Category)

    channel_counts = Counter(str(t.channel) for t in tickets)
    known = [c.value for c in Channel]
    extra = sorted(c for c in channel_counts if c not in known)
    by_channel = tuple(ChannelCount(c, channel_counts.get(c, 0)) for c in [*known, *extra])

    auto = sum(1 for t in tickets if t.status == TicketStatus.AUTO_RESOLVED.value)
    share = auto / len(tickets) if tickets else 0.0

    # One rule for met and breached, read against each ticket's due time (business minutes where they apply):
    # the same rule the cards and the breach list use, so the digest cannot contradict itself.
    breaches = []
    verdicts: dict[int, str] = {}
    for t in tickets:
        if t.due_at is None or categories[t.id] is Category.OTHER:
            continue  # thanks, emoji, wrong numbers, spam: nobody owes them an answer, so nothing is breached
        due = _utc(t.due_at)
        responded = first_at.get(t.id)
        if responded is not None and responded <= due:
            verdicts[t.id] = "met"
        elif responded is not None:
            verdicts[t.id] = "breached"
            breaches.append(Breach(t.id, categories[t.id], due, responded, responded - due))
        elif now > due:
            verdicts[t.id] = "breached"
            breaches.append(Breach(t.id, categories[t.id], due, None, _utc(now) - due))
        else:
            verdicts[t.id] = "waiting"

    response_times: dict[Category, list[timedelta]] = {c: [] for c in Category}
    tallies: dict[Category, Counter[str]] = {c: Counter() for c in Category}
    for t in tickets:
        if t.id in first_at:
            response_times[categories[t.id]].append(first_at[t.id] - _utc(t.created_at))
        if t.id in verdicts:
            tallies[categories[t.id]][verdicts[t.id]] += 1
    first_response = tuple(
        _first_response(c, category_counts.get(c, 0), response_times[c], config.sla_minutes.for_category(c),
                        tallies[c])
        for c in Category
    )

    adverse = tuple(
        AdverseEventLine(
            t.id,
            _utc(t.acknowledged_at) - _utc(t.created_at) if t.acknowledged_at is not None else None,
            _staff_name(config, t.acknowledged_by) if t.acknowledged_by else None,
        )
        for t in tickets
        if categories[t.id] is Category.ADVERSE_EVENT
    )

    return DailyDigest(
        day=day,
        timezone=config.clinic.timezone,
        window_start=start,
        window_end=end,
        generated_at=_utc(now),
        total=len(tickets),
        by_category=by_category,
        by_channel=by_channel,
        auto_resolved=auto,
        auto_resolved_share=share,
        first_response=first_response,
        breaches=tuple(breaches),
        open_now=_open_now(session, _utc(now)),
        adverse_events=adverse,
        claims=_claims(session, config, start, end),
        pings=ping_counts(session, config, start, end),
        clinic=config.clinic.name,
        opt_outs=opt_outs_between(session, start, end),
        unreadable=sum(is_unreadable(t.reasons) for t in tickets),
        classifier=_classifier(session),
    )


def _classifier(session: Session) -> str:
    try:
        return model_in_use(session, ModelArtifact.load()).line()
    except ArtifactError:
        return ""


def _first_responses(session: Session, ticket_ids: Sequence[int]) -> dict[int, datetime]:
    """Earliest response per ticket: a claim, a page acknowledged, or a reply that answers (not an acknowledgement)."""
    first: dict[int, datetime] = {}
    for chunk in _chunks(ticket_ids, 500):
        rows = session.execute(
            select(TicketEventRow.ticket_id, TicketEventRow.at, TicketEventRow.kind, TicketEventRow.data).where(
                TicketEventRow.ticket_id.in_(chunk), TicketEventRow.kind.in_(RESPONSE_KINDS)
            )
        ).all()
        for ticket_id, at, kind, data in rows:
            if kind == EventKind.REPLY_SENT.value and (data or {}).get("response") is False:
                continue  # an after-hours acknowledgement is not a response
            at = _utc(at)
            if ticket_id not in first or at < first[ticket_id]:
                first[ticket_id] = at
    return first


def _first_response(category: Category, tickets: int, times: list[timedelta], target: int,
                    tally: Counter[str]) -> FirstResponse:
    met, breached, waiting = tally.get("met", 0), tally.get("breached", 0), tally.get("waiting", 0)
    if not times:
        return FirstResponse(category, tickets, 0, None, None, target, met, breached, waiting)
    return FirstResponse(
        category=category,
        tickets=tickets,
        responded=len(times),
        median=statistics.median(times),  # type: ignore[type-var]  # works on timedeltas
        p90=nearest_rank(times, 0.9),
        target_minutes=target,
        met=met,
        breached=breached,
        waiting=waiting,
    )


def _open_now(session: Session, now: datetime) -> OpenNow:
    rows = session.execute(
        select(TicketRow.id, TicketRow.role, TicketRow.created_at)
        .where(TicketRow.status == TicketStatus.OPEN.value, TicketRow.created_at <= now)
        .order_by(TicketRow.created_at, TicketRow.id)
    ).all()
    if not rows:
        return OpenNow(0, (), None, None)
    per_role: dict[str, list[int]] = {}
    for row in rows:
        per_role.setdefault(row.role or UNROUTED, []).append(_age_minutes(now, row.created_at))
    order = [r.value for r in Role]
    roles = sorted(per_role, key=lambda r: (order.index(r) if r in order else len(order), r))
    oldest = rows[0]
    return OpenNow(
        total=len(rows),
        by_role=tuple(RoleOpen(r, len(per_role[r]), max(per_role[r])) for r in roles),
        oldest_ticket_id=oldest.id,
        oldest_age_minutes=_age_minutes(now, oldest.created_at),
    )


def _claims(session: Session, config: ClinicConfig, start: datetime, end: datetime) -> tuple[StaffClaims, ...]:
    actors = session.scalars(
        select(TicketEventRow.actor).where(
            TicketEventRow.kind == EventKind.CLAIMED.value, TicketEventRow.at >= start, TicketEventRow.at < end
        )
    ).all()
    counts = Counter(actors)
    claims = [StaffClaims(actor, _staff_name(config, actor), n) for actor, n in counts.items()]
    return tuple(sorted(claims, key=lambda c: (-c.count, c.name, c.actor)))


def _staff_name(config: ClinicConfig, actor: str) -> str:
    return resolve(config, actor).name


def _category(value: str) -> Category:
    try:
        return Category(value)
    except ValueError:
        return Category.OTHER  # never stored by the bot; counted rather than lost


def _age_minutes(now: datetime, created_at: datetime) -> int:
    return int((now - _utc(created_at)).total_seconds() // 60)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime in the digest")
    return value.astimezone(UTC)


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
