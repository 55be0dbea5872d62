"""What a backtest found: one `Outcome` per message (no text: categories, times and decisions only), and the
counts the report shows, computed from them."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.digest.compute import nearest_rank
from bot.domain import Category, Channel, Role

# The seed's benchmark for a four-provider clinic (1,150 messages a month): booking and FAQ together, billing,
# clinical, adverse events (its shares add up to 101%, as published).
BENCHMARK: tuple[tuple[str, tuple[Category, ...], float], ...] = (
    ("booking + FAQ", (Category.BOOKING, Category.FAQ), 0.66),
    ("billing", (Category.BILLING,), 0.24),
    ("clinical", (Category.CLINICAL,), 0.10),
    ("adverse event", (Category.ADVERSE_EVENT,), 0.01),
    ("other", (Category.OTHER,), 0.0),
)
REPORT_ORDER = (Category.BOOKING, Category.FAQ, Category.BILLING, Category.CLINICAL, Category.ADVERSE_EVENT,
                Category.OTHER)


class Handling(StrEnum):
    FAQ_ANSWERED = "faq_answered"  # the answer book had the answer: the ticket is auto-resolved
    SLOTS_OFFERED = "slots_offered"  # a new booking or a move, with fitting slots from the weekly schedule
    TO_STAFF = "to_staff"  # a card in the role's channel, due by the SLA
    COLLECTED = "collected_quietly"  # `other`: no nudges, no SLA

    @property
    def auto_answered(self) -> bool:
        return self in (Handling.FAQ_ANSWERED, Handling.SLOTS_OFFERED)


class Sla(StrEnum):
    MET = "met"
    BREACHED = "breached"
    NO_RESPONSE_TIME = "no_response_time"  # the file does not say when a person answered
    NONE = "none"  # `other` has no SLA


@dataclass(frozen=True)
class Outcome:
    line: int
    channel: Channel
    received_at: datetime
    open_at_receipt: bool
    category: Category
    confidence: float
    also: tuple[Category, ...]
    role: Role
    handling: Handling
    handed_on: str  # why a routine message went to a person ("faq: no answer in the answer book"), else ""
    paged: str | None  # the provider's staff id
    after_hours_ack: bool
    due_at: datetime | None  # the SLA due time the bot would have set; None for `other`
    first_response_at: datetime | None  # the clinic's, from the file

    @property
    def sla(self) -> Sla:
        """The clinic's own first response against the due time the bot would have set."""
        if self.due_at is None:
            return Sla.NONE
        if self.first_response_at is None:
            return Sla.NO_RESPONSE_TIME
        return Sla.MET if self.first_response_at <= self.due_at else Sla.BREACHED

    @property
    def response_time(self) -> timedelta | None:
        return None if self.first_response_at is None else self.first_response_at - self.received_at

    @property
    def target(self) -> timedelta | None:
        """Wall-clock time from receipt to the due time (business minutes stretch over closed hours)."""
        return None if self.due_at is None else self.due_at - self.received_at


@dataclass(frozen=True)
class FirstResponse:
    """One category's first responses: the clinic's, against the targets the bot would have set."""

    category: Category
    sla_minutes: int
    business_time: bool  # False for adverse events: the wall clock
    messages: int
    with_response_time: int
    met: int
    breached: int
    median_actual: timedelta | None
    p90_actual: timedelta | None
    median_target: timedelta | None  # over the messages with a response time
    p90_target: timedelta | None
    auto_answered: int  # with the bot: answered in seconds
    to_staff: int  # with the bot: routed to a person with this SLA


@dataclass(frozen=True)
class Backtest:
    clinic: str
    timezone: str
    model_version: str
    outcomes: tuple[Outcome, ...]
    sla_minutes: dict[Category, int]
    business_span: tuple[float, float] | None  # earliest opening, latest closing in the week (local hours)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def first_day(self) -> date:
        return min(o.received_at for o in self.outcomes).astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        return max(o.received_at for o in self.outcomes).astimezone(self.tz).date()

    @property
    def categories(self) -> Counter[Category]:
        return Counter(o.category for o in self.outcomes)

    @property
    def handling(self) -> Counter[Handling]:
        return Counter(o.handling for o in self.outcomes)

    @property
    def auto_answered(self) -> int:
        return sum(1 for o in self.outcomes if o.handling.auto_answered)

    @property
    def handed_on(self) -> Counter[str]:
        """Routine messages (booking, FAQ) the bot would have handed to a person, by reason."""
        return Counter(o.handed_on for o in self.outcomes if o.handed_on)

    @property
    def open_share(self) -> float:
        return sum(1 for o in self.outcomes if o.open_at_receipt) / len(self.outcomes)

    @property
    def pages(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.paged)

    @property
    def pages_open(self) -> int:
        return sum(1 for o in self.pages if o.open_at_receipt)

    @property
    def pages_closed(self) -> int:
        return len(self.pages) - self.pages_open

    @property
    def pages_by_hour(self) -> tuple[int, ...]:
        """Pages per local hour of the day, 0 to 23."""
        hours = Counter(o.received_at.astimezone(self.tz).hour for o in self.pages)
        return tuple(hours.get(h, 0) for h in range(24))

    @property
    def paged_providers(self) -> Counter[str]:
        return Counter(o.paged for o in self.pages if o.paged)

    @property
    def unpaged_adverse(self) -> int:
        """Adverse events nobody could be paged for (no rota entry and no routing.oncall_provider)."""
        return sum(1 for o in self.outcomes if o.category is Category.ADVERSE_EVENT and not o.paged)

    @property
    def after_hours_acks(self) -> int:
        return sum(1 for o in self.outcomes if o.after_hours_ack)

    @property
    def with_response_time(self) -> int:
        return sum(1 for o in self.outcomes if o.first_response_at is not None)

    def first_response(self) -> tuple[FirstResponse, ...]:
        rows = []
        for category in REPORT_ORDER:
            if category is Category.OTHER:
                continue
            mine = [o for o in self.outcomes if o.category is category]
            timed = [o for o in mine if o.first_response_at is not None]
            actual = [t for o in timed if (t := o.response_time) is not None]
            targets = [t for o in timed if (t := o.target) is not None]
            rows.append(FirstResponse(
                category=category, sla_minutes=self.sla_minutes[category],
                business_time=category is not Category.ADVERSE_EVENT, messages=len(mine),
                with_response_time=len(timed), met=sum(1 for o in timed if o.sla is Sla.MET),
                breached=sum(1 for o in timed if o.sla is Sla.BREACHED),
                median_actual=_median(actual), p90_actual=nearest_rank(actual, 0.9) if actual else None,
                median_target=_median(targets), p90_target=nearest_rank(targets, 0.9) if targets else None,
                auto_answered=sum(1 for o in mine if o.handling.auto_answered),
                to_staff=sum(1 for o in mine if o.handling is Handling.TO_STAFF),
            ))
        return tuple(rows)


def _median(values: list[timedelta]) -> timedelta | None:
    return statistics.median(values) if values else None  # type: ignore[type-var]  # works on timedeltas
