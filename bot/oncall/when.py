"""Read the time staff type after "until" in chat: "tomorrow 8am", "fri 18:00", "in 90 minutes", ...

Supported (case-insensitive, an optional leading "until" and an "at"/"on" between parts are ignored):
  a time             8am, 8:30pm, 8.30 pm, 20:30, noon, midnight   -> the next such time after now
  a day and a time   tomorrow 8am, today 6pm, friday 6pm, fri 18:00, 8am tomorrow
                     (a weekday means the next such day; today counts if the time is still ahead;
                      "midnight" after a day means the end of that day)
  a date and a time  2026-11-25 08:00, 2026-11-25 8am
  a duration         in 3 hours, in 90 minutes, in 1.5h, in 2 days
Times are wall-clock times in the clinic's zone; the result is aware UTC and always after `now`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.oncall.rota import as_utc

EXAMPLES = '"tomorrow 8am", "fri 18:00", "8:30pm", "2026-11-25 08:00" or "in 3 hours"'

_WEEKDAYS = {
    "mon": 0, "monday": 0,
    "tue": 1, "tues": 1, "tuesday": 1,
    "wed": 2, "weds": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3,
    "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}
_UNITS = {
    "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1,
    "h": 60, "hr": 60, "hrs": 60, "hour": 60, "hours": 60,
    "d": 1440, "day": 1440, "days": 1440,
}
_DURATION = re.compile(r"in\s+(?:(an?)|(\d+(?:\.\d+)?))\s*([a-z]+)")
_AMPM = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\.?")
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_MIDNIGHT = "midnight"


def parse_until(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The moment `text` names, aware UTC. ValueError (message fit to show staff) if unreadable or not ahead."""
    now = as_utc(now, "now")
    original = text.strip()
    cleaned = re.sub(r"\s+", " ", original.lower()).strip(" .,!")
    cleaned = re.sub(r"^until\s+", "", cleaned)
    if not cleaned:
        raise ValueError(f"no time given; try {EXAMPLES}")
    result = _duration(cleaned, now, original)
    if result is None:
        result = _day_and_time(cleaned, now, tz, original)
    if result <= now:
        shown = result.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")
        raise ValueError(f"{original!r} is {shown}, which is not in the future")
    return result


def _duration(text: str, now: datetime, original: str) -> datetime | None:
    match = _DURATION.fullmatch(text)
    if match is None:
        if text.startswith("in "):
            raise ValueError(f"could not read the duration {original!r}; try \"in 3 hours\" or \"in 90 minutes\"")
        return None
    article, amount, unit = match.groups()
    if unit not in _UNITS:
        raise ValueError(f"unknown unit {unit!r} in {original!r}; use minutes, hours or days")
    count = 1.0 if article else float(amount)
    return now + timedelta(minutes=count * _UNITS[unit])


def _day_and_time(text: str, now: datetime, tz: ZoneInfo, original: str) -> datetime:
    words = [w for w in text.split(" ") if w not in ("at", "on")]
    # The day is one word (today, tomorrow, a weekday, a date), first or last; the rest is the time.
    day_word = None
    for index in (0, len(words) - 1):
        if words and _is_day(words[index]):
            day_word = words.pop(index)
            break
    time_text = " ".join(words)
    if not time_text:
        raise ValueError(f"{original!r} has no time of day; try e.g. \"{text} 8am\"")
    clock = _time_of_day(time_text, original)
    local_now = now.astimezone(tz)
    today = local_now.date()
    if day_word is None:
        return _next_at(today, clock, now, tz)
    if day_word in _WEEKDAYS:
        ahead = (_WEEKDAYS[day_word] - today.weekday()) % 7
        candidate = _at(today + timedelta(days=ahead), clock, tz)
        return candidate if candidate > now else _at(today + timedelta(days=ahead + 7), clock, tz)
    if day_word == "today":
        day = today
    elif day_word == "tomorrow":
        day = today + timedelta(days=1)
    else:
        day = _date(day_word, original)
    return _at(day, clock, tz)


def _is_day(word: str) -> bool:
    return word in ("today", "tomorrow") or word in _WEEKDAYS or _DATE.fullmatch(word) is not None


def _date(word: str, original: str) -> date:
    match = _DATE.fullmatch(word)
    assert match is not None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValueError(f"{word!r} in {original!r} is not a real date (use YYYY-MM-DD)") from None


def _time_of_day(text: str, original: str) -> time | str:
    """A wall-clock time, or the marker "midnight" (the end of the day it is attached to)."""
    if text == "noon":
        return time(12)
    if text == _MIDNIGHT:
        return _MIDNIGHT
    match = _AMPM.fullmatch(text)
    if match:
        hour, minute = int(match[1]), int(match[2] or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise ValueError(f"{text!r} in {original!r} is not a valid time")
        return time(hour % 12 + (12 if match[3] == "p" else 0), minute)
    match = _CLOCK.fullmatch(text)
    if match:
        hour, minute = int(match[1]), int(match[2])
        if hour > 23 or minute > 59:
            raise ValueError(f"{text!r} in {original!r} is not a valid time")
        return time(hour, minute)
    if re.fullmatch(r"\d{1,2}", text):
        raise ValueError(f"{text!r} in {original!r} is ambiguous; write {text}am, {text}pm or {text}:00")
    raise ValueError(f"could not read a time in {original!r}; try {EXAMPLES}")


def _at(day: date, clock: time | str, tz: ZoneInfo) -> datetime:
    if clock == _MIDNIGHT:
        day, clock = day + timedelta(days=1), time(0)
    assert isinstance(clock, time)
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def _next_at(today: date, clock: time | str, now: datetime, tz: ZoneInfo) -> datetime:
    """The first such wall-clock time after now ("midnight" alone: tonight's)."""
    for offset in (-1, 0, 1, 2):  # -1: "midnight" attached to yesterday is today 00:00
        candidate = _at(today + timedelta(days=offset), clock, tz)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable")
