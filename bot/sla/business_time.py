"""Business-time arithmetic in the clinic's zone: the SLA clock runs only while the clinic is open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from bot.config.models import WEEKDAYS, ClinicConfig

MAX_DAYS = 370  # a clinic closed for longer than a year has no business clock at all


def open_intervals(config: ClinicConfig, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Opening intervals (aware UTC) from `start`'s local day on, for up to a year, computed as they are read
    (most callers need the first day or two of them)."""
    tz = config.clinic.tz
    first = start.astimezone(tz).date()
    for offset in range(MAX_DAYS):
        day = first + timedelta(days=offset)
        hours = config.business_hours.for_day(WEEKDAYS[day.weekday()])
        if hours is None or day in config.business_hours.holidays:
            continue
        opens = datetime.combine(day, hours.open, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, hours.close, tzinfo=tz).astimezone(UTC)
        yield opens, closes


def add_business_minutes(config: ClinicConfig, start: datetime, minutes: float) -> datetime:
    """The moment `minutes` of opening time after `start` (a start after hours begins at the next opening)."""
    remaining = timedelta(minutes=minutes)
    for opens, closes in open_intervals(config, start):
        if closes <= start:
            continue
        begin = max(opens, start)
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise ValueError("the clinic config has no business hours in the coming year")
