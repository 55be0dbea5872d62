"""Read what a booking message asks for: the intent (book, move, cancel, accept a slot, running late, a question
about an existing appointment) and the stated preferences (days wanted and ruled out, part of day, a date, this or
next week, provider, treatment), in English and Spanish.

Dates and weekdays come from `dateparser` (its search and its own per-language word lists), relative to the
injected clock's now in the clinic's time zone, preferring the future. The intent is read from the typed cue
tables below; a message none of them fits is `unknown`, and the bot then leaves it to a human.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from bot.config.models import StaffMember
from bot.respond.booking_cues import (
    CHOICE_CUES,
    CLAUSE_BREAKS,
    DURATION_WORDS,
    INTENT_CUES,
    NEGATED_QUESTIONS,
    NEGATION_WORDS,
    PART_OF_DAY_CUES,
    PROVIDER_LEADS,
    PROVIDER_TITLES,
    TIME_LEADS,
    TREATMENT_CUES,
    WEEK_CUES,
    WEEKEND_CUES,
    BookingIntent,
    PartOfDay,
    Week,
)

_WORD = re.compile(r"[\w:@]+")


def fold(text: str) -> str:
    """Lower case without accents or apostrophes, so "próxima"/"proxima" and "doesn't"/"doesnt" read alike."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace("'", "").replace("a.m.", "am").replace("p.m.", "pm")


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _has(folded_words: Sequence[str], phrase: str) -> bool:
    needle = phrase.split()
    n = len(needle)
    return any(list(folded_words[i:i + n]) == needle for i in range(len(folded_words) - n + 1))


def _any(folded_words: Sequence[str], phrases: Iterable[str]) -> bool:
    return any(_has(folded_words, p) for p in phrases)


@cache
def _calendar_words() -> tuple[dict[str, int], frozenset[str], frozenset[str]]:
    """Weekday names (→ 0..6), month names and "today/tomorrow" words, from dateparser's own locale data."""
    from dateparser.languages import default_loader  # dateparser is imported at first use (about 0.3 s)

    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    months = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
              "november", "december")
    weekday: dict[str, int] = {}
    month: set[str] = set()
    relative: set[str] = set()
    for language in ("en", "es"):
        info = default_loader.get_locale(language).info
        for index, name in enumerate(days):
            for word in info.get(name, ()):
                # Two-letter forms ("mi", "tu", "do") are everyday words, not days.
                if len(word) >= 3:
                    weekday[fold(word)] = index
        for name in months:
            month.update(fold(w) for w in info.get(name, ()) if len(w) >= 3)
        for key, phrases in info.get("relative-type", {}).items():
            if key in ("0 day ago", "in 1 day", "in 2 day"):
                relative.update(fold(p) for p in phrases)
    weekday.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})
    month.discard("may")  # "may I book…" is not a month; "May 3" still parses as a date through dateparser
    return weekday, frozenset(month), frozenset(relative)


def _weekday_of(word: str) -> int | None:
    table = _calendar_words()[0]
    if word in table:
        return table[word]
    if word.endswith("s") and word[:-1] in table:  # "mondays", "los martes" is already its own plural
        return table[word[:-1]]
    return None


@dataclass(frozen=True)
class Mention:
    """One date-ish thing the patient wrote, as dateparser read it."""

    text: str
    start: int  # word index in the message
    weekday: int | None = None
    day: date | None = None
    at: time | None = None
    negated: bool = False
    on: date | None = None  # the calendar day it points to ("Tuesday" → the coming Tuesday)


def _next_weekday(today: date, weekday: int) -> date:
    return today + timedelta(days=(weekday - today.weekday()) % 7)


@dataclass(frozen=True)
class Preferences:
    weekdays: tuple[int, ...] = ()
    excluded_weekdays: tuple[int, ...] = ()
    dates: tuple[date, ...] = ()
    excluded_dates: tuple[date, ...] = ()
    parts_of_day: tuple[PartOfDay, ...] = ()
    excluded_parts_of_day: tuple[PartOfDay, ...] = ()
    week: Week | None = None
    at: time | None = None  # a stated clock time ("at 2:30")
    provider: str | None = None  # as the patient named them
    provider_id: str | None = None  # the staff id, when the name matches the clinic's staff
    treatment: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "weekdays": list(self.weekdays), "excluded_weekdays": list(self.excluded_weekdays),
            "dates": [d.isoformat() for d in self.dates],
            "excluded_dates": [d.isoformat() for d in self.excluded_dates],
            "parts_of_day": [p.value for p in self.parts_of_day],
            "excluded_parts_of_day": [p.value for p in self.excluded_parts_of_day],
            "week": self.week, "at": self.at.isoformat(timespec="minutes") if self.at else None,
            "provider": self.provider, "provider_id": self.provider_id, "treatment": self.treatment,
        }

    @property
    def empty(self) -> bool:
        return self == Preferences(treatment=self.treatment)


@dataclass(frozen=True)
class BookingRead:
    intent: BookingIntent
    preferences: Preferences
    refers_to: date | None = None  # the existing appointment's day, when the patient named it
    choice: int | None = None  # "the first one": an index into the slots we offered
    mentions: tuple[Mention, ...] = ()
    unclear: tuple[str, ...] = field(default_factory=tuple)  # why the bot is not sure

    def as_json(self) -> dict[str, Any]:
        return {"intent": self.intent.value, "preferences": self.preferences.as_json(),
                "refers_to": self.refers_to.isoformat() if self.refers_to else None,
                "choice": self.choice, "unclear": list(self.unclear)}


def _clauses(folded_words: Sequence[str], text: str) -> list[tuple[int, int]]:
    """Word-index spans of the message's clauses: split at punctuation and at "but"/"pero"."""
    spans: list[tuple[int, int]] = []
    index = 0
    for piece in re.split(r"[,.;!?¿¡\n]+", fold(text)):
        count = len(_WORD.findall(piece))
        # "anything but Monday" is one clause with a "no" in it, not two.
        inner = _WORD.findall(piece)
        cut = 0
        for i, word in enumerate(inner):
            if word in CLAUSE_BREAKS and not (i > 0 and inner[i - 1] in ("anything", "anytime")):
                spans.append((index + cut, index + i))
                cut = i + 1
        spans.append((index + cut, index + count))
        index += count
    return [s for s in spans if s[1] > s[0]] or [(0, len(folded_words))]


def _negated(folded_words: Sequence[str], spans: list[tuple[int, int]], position: int) -> bool:
    for lo, hi in spans:
        if lo <= position < hi:
            clause = folded_words[lo:hi]
            if _any(clause, NEGATED_QUESTIONS):
                return False
            return any(w in NEGATION_WORDS for w in clause) or _has(clause, "anything but")
    return False


def _clock(found: datetime, fragment_words: Sequence[str]) -> time | None:
    """The time in a fragment ("2:30", "10am", "a las 3"), afternoon-leaning: nobody books 2:30 at night."""
    explicit_am = any(w == "am" or (w[0].isdigit() and w.endswith("am")) for w in fragment_words)
    explicit_pm = any(w == "pm" or (w[0].isdigit() and w.endswith("pm")) for w in fragment_words)
    has_clock = any(":" in w for w in fragment_words) or explicit_am or explicit_pm or any(
        w in TIME_LEADS and i + 1 < len(fragment_words) and fragment_words[i + 1][:1].isdigit()
        for i, w in enumerate(fragment_words)) or "noon" in fragment_words or "mediodia" in fragment_words
    if not has_clock:
        return None
    hour = found.hour
    if not explicit_am and not explicit_pm and 1 <= hour < 8:
        hour += 12  # clinic hours: "2:30" is 14:30
    return time(hour, found.minute)


def _settings(now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    return {"RELATIVE_BASE": now.astimezone(tz).replace(tzinfo=None), "PREFER_DATES_FROM": "future",
            "TIMEZONE": tz.key, "RETURN_AS_TIMEZONE_AWARE": False}


def _hours_spelled_out(text: str) -> str:
    """ "at 2" → "at 2:00", "a las 10" → "a las 10:00": dateparser reads a bare hour after "at" as a month."""
    pieces = text.split(" ")
    for i in range(1, len(pieces)):
        bare = pieces[i].rstrip("?!.,")
        if bare.isdigit() and 1 <= int(bare) <= 12 and fold(pieces[i - 1]) in TIME_LEADS:
            pieces[i] = pieces[i].replace(bare, f"{bare}:00", 1)
    return " ".join(pieces)


def _is_relative_day(fragment_words: Sequence[str], start: int, all_words: Sequence[str],
                     relative_words: frozenset[str]) -> bool:
    """ "tomorrow", "hoy", "mañana", but not the "mañana" of "por la mañana" (the morning)."""
    for offset, word in enumerate(fragment_words):
        if not any(_has(fragment_words[offset:], r) and r.split()[0] == word for r in relative_words):
            continue
        before = all_words[start + offset - 1] if start + offset > 0 else ""
        if word == "manana" and before in ("la", "las", "de"):
            continue
        return True
    return False


def _mentions(text: str, now: datetime, tz: ZoneInfo, languages: list[str]) -> list[Mention]:
    import dateparser
    from dateparser.search import search_dates

    _, month_words, relative_words = _calendar_words()
    text = _hours_spelled_out(text)
    all_words = words(text)
    spans = _clauses(all_words, text)
    found = search_dates(text, languages=languages, settings=_settings(now, tz)) or []
    mentions: list[Mention] = []
    cursor = 0
    used: set[int] = set()
    for fragment, when in found:
        fragment_words = words(fragment)
        if not fragment_words:
            continue
        start = _find(all_words, fragment_words, cursor)
        if start is None:
            continue
        cursor = start + len(fragment_words)
        if any(w in DURATION_WORDS for w in fragment_words):
            continue  # "10 min" is how late, not when
        weekday = next((d for d in (_weekday_of(w) for w in fragment_words) if d is not None), None)
        at = _clock(when, fragment_words)
        numbers = [w for i, w in enumerate(fragment_words) if w[:1].isdigit() and ":" not in w
                   and not w.endswith(("am", "pm")) and not (i > 0 and fragment_words[i - 1] in TIME_LEADS)]
        relative = _is_relative_day(fragment_words, start, all_words, relative_words)
        has_month = any(w in month_words for w in fragment_words)
        day = when.date() if numbers or relative else None
        if weekday is None and day is None and at is None:
            continue  # "mi", a bare month, a duration: not a day the patient asked about
        if has_month and not numbers and weekday is None:
            continue
        used.update(range(start, start + len(fragment_words)))
        mentions.append(Mention(fragment, start, weekday if day is None else None, day, at,
                                _negated(all_words, spans, start), when.date()))
    # Weekdays dateparser skipped ("mondays don't work"): every day name counts.
    for index, word in enumerate(all_words):
        if index in used:
            continue
        weekday = _weekday_of(word)
        if weekday is not None:
            mentions.append(Mention(word, index, weekday, None, None, _negated(all_words, spans, index),
                                    _next_weekday(now.astimezone(tz).date(), weekday)))
    # Spanish "el 28" / "del 28": dateparser reads the bare number as that day of this or next month.
    for index, word in enumerate(all_words):
        if index in used or not word.isdigit() or not 1 <= int(word) <= 31:
            continue
        before = all_words[index - 1] if index else ""
        after = all_words[index + 1] if index + 1 < len(all_words) else ""
        if before in ("el", "del", "dia", "the") and after not in DURATION_WORDS and ":" not in after:
            parsed = dateparser.parse(word, languages=languages, settings=_settings(now, tz))
            if parsed:
                mentions.append(Mention(word, index, None, parsed.date(), None,
                                        _negated(all_words, spans, index), parsed.date()))
    return sorted(mentions, key=lambda m: m.start)


def warm_up() -> None:
    """Import dateparser and load its English and Spanish data now (about 1 s), rather than at the first booking
    message; `serve` calls it in the background at start."""
    tz = ZoneInfo("UTC")
    _mentions("tomorrow at 3pm or el 28", datetime.now(tz), tz, ["en", "es"])


def _find(haystack: Sequence[str], needle: Sequence[str], start: int) -> int | None:
    n = len(needle)
    for i in range(start, len(haystack) - n + 1):
        if list(haystack[i:i + n]) == list(needle):
            return i
    for i in range(0, len(haystack) - n + 1):
        if list(haystack[i:i + n]) == list(needle):
            return i
    return None


def _parts_of_day(all_words: list[str], spans: list[tuple[int, int]]) -> tuple[list[PartOfDay], list[PartOfDay]]:
    wanted: list[PartOfDay] = []
    excluded: list[PartOfDay] = []
    for part, cues in PART_OF_DAY_CUES.items():
        for cue in cues:
            needle = cue.split()
            position = _find(all_words, needle, 0)
            if position is None:
                continue
            target = excluded if _negated(all_words, spans, position) else wanted
            if part not in target:
                target.append(part)
            break
    # Spanish "mañana por la mañana" leaves "morning"; a bare "mañana" alone is tomorrow (a date, read above).
    return wanted, excluded


def _provider(text: str, staff: Sequence[StaffMember]) -> tuple[str | None, str | None]:
    raw = re.findall(r"[\w.]+", text)
    folded = [fold(w).strip(".") for w in raw]
    for i, word in enumerate(folded):
        named = None
        if word in PROVIDER_TITLES and i + 1 < len(folded) and raw[i + 1][:1].isupper():
            named = folded[i + 1]
            shown = f"{raw[i].strip('.').capitalize()}. {raw[i + 1].strip('.')}"
        elif word in PROVIDER_LEADS and i + 1 < len(folded):
            named = folded[i + 1] if folded[i + 1] not in ("la", "el") else (folded[i + 2] if i + 2 < len(folded)
                                                                               else None)
            shown = ""
        if not named:
            continue
        member = next((m for m in staff if m.clinical and named in [fold(p).strip(".") for p in m.name.split()]),
                      None)
        if member:
            return member.name, member.id
        if shown:
            return shown, None
    return None, None


def _treatment(all_words: list[str]) -> str | None:
    return next((name for name, cues in TREATMENT_CUES if _any(all_words, cues)), None)


def _choice(all_words: list[str]) -> int | None:
    return next((index for index, cues in CHOICE_CUES.items() if _any(all_words, cues)), None)


def read_booking(
    text: str, language: str, now: datetime, tz: ZoneInfo, staff: Sequence[StaffMember] = ()
) -> BookingRead:
    """What this message asks of the clinic's calendar. `now` is the injected clock's; `tz` the clinic's."""
    languages = [language, "es" if language == "en" else "en"] if language in ("en", "es") else ["en", "es"]
    all_words = words(text)
    spans = _clauses(all_words, text)
    mentions = _mentions(text, now, tz, languages)
    wanted_parts, excluded_parts = _parts_of_day(all_words, spans)
    week: Week | None = next((w for w, cues in WEEK_CUES.items() if _any(all_words, cues)), None)
    weekend = _any(all_words, WEEKEND_CUES)
    provider, provider_id = _provider(text, staff)
    choice = _choice(all_words)
    intent = next((i for i, cues in INTENT_CUES if _any(all_words, cues)), BookingIntent.UNKNOWN)
    positive = [m for m in mentions if not m.negated]
    clock = next((m.at for m in positive if m.at is not None), None)
    specific = clock is not None and any(m.weekday is not None or m.day is not None for m in positive)
    if intent is BookingIntent.CONFIRM and not specific and choice is None:
        # "sounds good" with no slot named: a new booking if it asks for one, else about an existing appointment.
        booking = next((i for i, cues in INTENT_CUES[4:5] if _any(all_words, cues)), None)
        intent = booking or BookingIntent.EXISTING
    if intent is BookingIntent.UNKNOWN and (mentions or week or wanted_parts or excluded_parts or choice is not None):
        intent = BookingIntent.CONFIRM if (specific or choice is not None) else BookingIntent.BOOK_NEW
    refers_to: date | None = None
    wanted = positive
    if intent in (BookingIntent.CANCEL, BookingIntent.RUNNING_LATE, BookingIntent.EXISTING):
        # Every day named is the appointment's, not a wish, and a "can't" is about making it ("I can't make it
        # tomorrow"), not a day ruled out.
        refers_to = next((m.day or m.on for m in mentions if (m.day or m.on) is not None), None)
        wanted = []
        mentions = [replace(m, negated=False) for m in mentions]
    elif intent is BookingIntent.RESCHEDULE and len({(m.weekday, m.day) for m in positive}) > 1:
        first = positive[0]  # "move my appointment on the 28th to Thursday"
        refers_to = first.day or first.on
        wanted = positive[1:]
    unclear: list[str] = []
    weekdays = tuple(dict.fromkeys(m.weekday for m in wanted if m.weekday is not None))
    if weekend:
        weekdays = tuple(dict.fromkeys((*weekdays, 5, 6)))
    excluded = tuple(dict.fromkeys(m.weekday for m in mentions if m.negated and m.weekday is not None))
    if set(weekdays) & set(excluded):
        unclear.append("the same day is both asked for and ruled out")
    if intent is BookingIntent.UNKNOWN:
        unclear.append("no booking request recognised")
    preferences = Preferences(
        weekdays=weekdays, excluded_weekdays=excluded,
        dates=tuple(dict.fromkeys(m.day for m in wanted if m.day is not None)),
        excluded_dates=tuple(dict.fromkeys(m.day for m in mentions if m.negated and m.day is not None)),
        parts_of_day=tuple(wanted_parts), excluded_parts_of_day=tuple(excluded_parts), week=week,
        at=next((m.at for m in wanted if m.at is not None), None),
        provider=provider, provider_id=provider_id, treatment=_treatment(all_words),
    )
    return BookingRead(intent, preferences, refers_to, choice, tuple(mentions), tuple(unclear))
