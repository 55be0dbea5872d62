"""Open slots from the clinic's weekly schedule (the embedded booking system), chosen to fit what was asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.config.models import WEEKDAYS, ClinicConfig
from bot.respond.booking_intent import Preferences

MAX_SEARCH_DAYS = 90
TIME_TOLERANCE = timedelta(minutes=60)  # "around 2:30": a slot within the hour either side

_DAY_NAMES = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}


def next_slots(config: ClinicConfig, now: datetime, preferences: Preferences | None = None) -> list[datetime]:
    """The next `offer_count` bookable starts that fit `preferences`, at least `lead_minutes` from now, skipping
    holidays. Never a slot that contradicts what was asked: an empty list when nothing fits."""
    tz = config.clinic.tz
    booking = config.booking
    prefs = preferences or Preferences()
    earliest = now.astimezone(tz) + timedelta(minutes=booking.lead_minutes)
    found: list[datetime] = []
    for offset in range(_search_days(config, earliest.date(), prefs) + 1):
        day = (earliest + timedelta(days=offset)).date()
        if day in config.business_hours.holidays or not _day_fits(day, earliest.date(), prefs):
            continue
        for start in sorted(booking.weekly_slots.get(WEEKDAYS[day.weekday()], ())):
            slot = datetime.combine(day, start, tzinfo=tz)
            if slot >= earliest and _time_fits(slot, prefs):
                found.append(slot)
                if len(found) == booking.offer_count:
                    return found
    return found


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _search_days(config: ClinicConfig, today: date, prefs: Preferences) -> int:
    """The booking horizon, stretched to reach a day or week the patient named (within reason)."""
    days = config.booking.horizon_days
    if prefs.dates:
        days = max(days, (max(prefs.dates) - today).days)
    if prefs.week == "next":
        days = max(days, (_week_of(today) + timedelta(days=13) - today).days)
    return min(days, MAX_SEARCH_DAYS)


def _day_fits(day: date, today: date, prefs: Preferences) -> bool:
    if prefs.dates and day not in prefs.dates:
        return False
    if day in prefs.excluded_dates or day.weekday() in prefs.excluded_weekdays:
        return False
    if prefs.weekdays and day.weekday() not in prefs.weekdays:
        return False
    if prefs.week == "this" and _week_of(day) != _week_of(today):
        return False
    return not (prefs.week == "next" and _week_of(day) != _week_of(today) + timedelta(days=7))


def _time_fits(slot: datetime, prefs: Preferences) -> bool:
    start = slot.time().replace(tzinfo=None)
    if prefs.parts_of_day and not any(part.holds(start) for part in prefs.parts_of_day):
        return False
    if any(part.holds(start) for part in prefs.excluded_parts_of_day):
        return False
    if prefs.at is not None:
        wanted = datetime.combine(slot.date(), prefs.at, tzinfo=slot.tzinfo)
        return abs(slot - wanted) <= TIME_TOLERANCE
    return True


@dataclass(frozen=True)
class Accepted:
    slot: datetime | None  # the one offered slot the patient picked, or None when it is not one of them
    reason: str = ""


def match_offer(offered: list[datetime], weekdays: tuple[int, ...], dates: tuple[date, ...],
                at_hour_minute: tuple[int, int] | None, choice: int | None) -> Accepted:
    """Which of the slots we offered the patient picked: "the first one", "Tuesday 2:30", "2:30 works"."""
    if not offered:
        return Accepted(None, "no slots were offered")
    if choice is not None:
        if -len(offered) <= choice < len(offered):
            return Accepted(offered[choice])
        return Accepted(None, f"picked option {choice + 1} of {len(offered)}")
    candidates = [
        s for s in offered
        if (not weekdays or s.weekday() in weekdays) and (not dates or s.date() in dates)
        and (at_hour_minute is None or (s.hour % 12, s.minute) == (at_hour_minute[0] % 12, at_hour_minute[1]))
    ]
    if not weekdays and not dates and at_hour_minute is None:
        return Accepted(None, "no slot named")
    if len(candidates) == 1:
        return Accepted(candidates[0])
    if candidates and len({(s.weekday(), s.hour, s.minute) for s in candidates}) == 1:
        return Accepted(min(candidates))  # "Wednesday 10am" offered two weeks running: the coming Wednesday
    if not candidates:
        return Accepted(None, "the time named is not one of the slots offered")
    return Accepted(None, "more than one offered slot fits what was named")


def format_slot(slot: datetime, language: str) -> str:
    names = _DAY_NAMES.get(language, _DAY_NAMES["en"])
    day = names[slot.weekday()]
    if language == "es":
        return f"{day} {slot.day}/{slot.month} {slot:%H:%M}"
    hour = slot.strftime("%I:%M %p").lstrip("0")
    return f"{day} {slot.month}/{slot.day} {hour}"


def staff_time(slot: datetime) -> str:
    """For the front desk's card: "Tue Nov 24 2:30 PM"."""
    return f"{slot:%a %b} {slot.day} {slot.strftime('%I:%M %p').lstrip('0')}"


def staff_day(day: date) -> str:
    return f"{day:%a %b} {day.day}"
