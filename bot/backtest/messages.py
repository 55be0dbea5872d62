"""A clinic's past messages, as the backtest reads them: JSON Lines or CSV with text, channel, received_at and,
when known, first_response_at (when a person first answered). Times are ISO 8601; a time without an offset is
the clinic's local time.

Pure: text in, messages out. A problem names the line and the field, never the message's text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain import Channel

REQUIRED = ("text", "channel", "received_at")
CHANNELS = ", ".join(c.value for c in Channel)


@dataclass(frozen=True)
class PastMessage:
    line: int  # where it was in the file, for problems and for tests
    text: str
    channel: Channel
    received_at: datetime  # aware
    first_response_at: datetime | None = None  # aware; None when the file does not say


class InputProblem(ValueError):
    """A file the backtest cannot read; `line` is 0 for the file as a whole."""

    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(f"{line}: {problem}" if line else problem)


def read_messages(text: str, tz: ZoneInfo, *, is_csv: bool) -> list[PastMessage]:
    """Every message of the file, in file order; InputProblem at the first line that cannot be used."""
    records = _csv_records(text) if is_csv else _jsonl_records(text)
    messages = [_message(number, record, tz) for number, record in records]
    if not messages:
        raise InputProblem(0, "no messages in the file")
    return messages


def _jsonl_records(text: str) -> Iterator[tuple[int, Mapping[str, object]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputProblem(number, f"not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise InputProblem(number, "each line must be a JSON object")
        yield number, data


def _csv_records(text: str) -> Iterator[tuple[int, Mapping[str, object]]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return
    missing = [name for name in REQUIRED if name not in reader.fieldnames]
    if missing:
        raise InputProblem(1, f"the CSV header needs the column(s) {', '.join(missing)}")
    for row in reader:
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        yield reader.line_num, row


def _message(number: int, record: Mapping[str, object], tz: ZoneInfo) -> PastMessage:
    body = record.get("text")
    if not isinstance(body, str) or not body.strip():
        raise InputProblem(number, "text: missing or empty")
    channel = record.get("channel")
    try:
        kind = Channel(str(channel).strip().lower()) if isinstance(channel, str) else None
    except ValueError:
        kind = None
    if kind is None:
        raise InputProblem(number, f"channel: unknown channel {channel!r} (one of {CHANNELS})")
    received = _time(number, "received_at", record.get("received_at"), tz)
    if received is None:
        raise InputProblem(number, "received_at: missing")
    answered = _time(number, "first_response_at", record.get("first_response_at"), tz)
    if answered is not None and answered < received:
        raise InputProblem(number, "first_response_at: before received_at")
    return PastMessage(number, body, kind, received, answered)


def _time(number: int, field: str, value: object, tz: ZoneInfo) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InputProblem(number, f"{field}: not a date (an ISO 8601 string, e.g. 2026-11-03T14:05:00)")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputProblem(number, f"{field}: not a date ({value.strip()[:40]!r}; use ISO 8601, e.g. "
                                   "2026-11-03T14:05:00)") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
