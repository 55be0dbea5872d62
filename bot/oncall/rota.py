"""Who is on call at a moment: the weekly rota in the clinic's time zone, overridden by "/triage oncall set".

Pure: no I/O, no clock. Every datetime given must be timezone-aware; every datetime returned is aware UTC.

A shift runs from `oncall.shift_change` (local wall time) on one day to `shift_change` on the next, so a shift
across a DST change lasts 23 or 25 hours. The weekly entry of the day the shift STARTED applies: with the change at
08:00, Tuesday 03:00 still belongs to Monday's provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config.models import WEEKDAYS, ClinicConfig, Weekday


@dataclass(frozen=True)
class Override:
    """A provider covering instead of the rota for [starts_at, until). The latest created one wins."""

    provider: str  # staff id
    starts_at: datetime
    until: datetime
    set_by: str  # who set it (messenger user id or staff id), shown in `OnCall.source`
    created_at: datetime | None = None  # None: treated as created at starts_at; ties go to the later in the list

    def covers(self, when: datetime) -> bool:
        return self.starts_at <= when < self.until


@dataclass(frozen=True)
class OnCall:
    provider: str | None  # staff id; None only when there is no rota entry, no override and no routing.oncall_provider
    backup: str | None  # staff id from oncall.backup for the shift's day
    source: str  # short human text: "weekly rota (Mon)", "override by U123 until Wed 08:00", ...
    shift_start: datetime  # the rota shift containing the moment (also when an override applies), aware UTC
    shift_end: datetime  # = next_shift_change(...), aware UTC


def as_utc(value: datetime, name: str = "datetime") -> datetime:
    """`value` in UTC; ValueError if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _change_on(config: ClinicConfig, day: date, tz: ZoneInfo) -> datetime:
    """The shift change on a local calendar day, in UTC (zoneinfo resolves the day's own offset)."""
    return datetime.combine(day, config.oncall.shift_change, tzinfo=tz).astimezone(UTC)


def shift_bounds(config: ClinicConfig, when: datetime) -> tuple[date, datetime, datetime]:
    """(local day the shift started, shift start, shift end) for the shift containing `when`."""
    when = as_utc(when, "when")
    tz = config.clinic.tz
    day = when.astimezone(tz).date()
    # Compare in UTC: aware datetimes sharing a tzinfo compare by wall time in Python, which is wrong across DST.
    if when < _change_on(config, day, tz):
        day -= timedelta(days=1)
    return day, _change_on(config, day, tz), _change_on(config, day + timedelta(days=1), tz)


def next_shift_change(config: ClinicConfig, when: datetime) -> datetime:
    """The first shift change strictly after `when`, aware UTC."""
    return shift_bounds(config, when)[2]


def weekday_of(day: date) -> Weekday:
    return WEEKDAYS[day.weekday()]


def _label(day: Weekday) -> str:
    return day.capitalize()


def _until_text(until: datetime, when: datetime, tz: ZoneInfo) -> str:
    local = until.astimezone(tz)
    if until - when < timedelta(days=6):
        return local.strftime("%a %H:%M")
    return local.strftime("%a %Y-%m-%d %H:%M")


def latest_override(overrides: Sequence[Override], when: datetime) -> Override | None:
    """The override covering `when` that was created last (ties: the later in the sequence)."""
    when = as_utc(when, "when")
    best: tuple[datetime, int] | None = None
    chosen = None
    for index, override in enumerate(overrides):
        if not override.covers(when):
            continue
        key = (override.created_at or override.starts_at, index)
        if best is None or key > best:
            best, chosen = key, override
    return chosen


def on_call(config: ClinicConfig, overrides: Sequence[Override], when: datetime) -> OnCall:
    when = as_utc(when, "when")
    tz = config.clinic.tz
    day, start, end = shift_bounds(config, when)
    weekday = weekday_of(day)
    backup = config.oncall.backup.get(weekday) or None
    override = latest_override(overrides, when)
    if override is not None:
        setter = config.staff_member(override.set_by)
        by = setter.name if setter is not None else override.set_by
        source = f"override by {by} until {_until_text(override.until, when, tz)}"
        return OnCall(override.provider, backup, source, start, end)
    rota = config.oncall.weekly.get(weekday)
    if rota:
        return OnCall(rota, backup, f"weekly rota ({_label(weekday)})", start, end)
    fallback = config.routing.oncall_provider
    if fallback:
        return OnCall(fallback, backup, "routing.oncall_provider", start, end)
    return OnCall(None, backup, f"nobody (no rota entry for {_label(weekday)}, no routing.oncall_provider)", start, end)
