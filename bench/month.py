"""A month of a four-provider clinic's patient messages, for the backtest (`python -m bench.backtest`, and
tests/test_backtest.py).

1,150 messages near the seed's benchmark mix (66% booking and FAQ, 24% billing, 10% clinical, 1% adverse
events), drawn from the repo's own training examples (bot/classify/training/, never the held-out dev set), spread
over the month with about four in five inside business hours, and most with the time a person first answered
(a few business minutes to hours later; adverse events on the wall clock). Seeded: the same month every time.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from bot.classify.training import Example, load_examples
from bot.config.models import WEEKDAYS, ClinicConfig
from bot.domain import Category
from bot.sla.business_time import add_business_minutes

MONTH_MESSAGES = 1_150
MIX = {Category.BOOKING: 0.40, Category.FAQ: 0.25, Category.BILLING: 0.24, Category.CLINICAL: 0.10,
       Category.ADVERSE_EVENT: 0.01}
CHANNELS = (("sms", 0.6), ("email", 0.2), ("web", 0.2))
OPEN_SHARE = 0.8  # of messages sent while the clinic is open
ANSWERED_SHARE = 0.8  # of messages with a first-response time in the file
# Median minutes to a person's first answer (business minutes; adverse events: wall-clock minutes).
MEDIAN_RESPONSE = {Category.BOOKING: 25.0, Category.FAQ: 30.0, Category.BILLING: 45.0, Category.CLINICAL: 12.0,
                   Category.ADVERSE_EVENT: 6.0}


@dataclass(frozen=True)
class GeneratedMonth:
    records: tuple[dict[str, str], ...]  # as written to the file
    labels: tuple[Category, ...]  # the training label of each record's text

    def write_jsonl(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records), encoding="utf-8")
        return path


def category_counts(messages: int) -> dict[Category, int]:
    """The mix as whole messages, at least one adverse event; the largest share takes the rounding."""
    counts = {c: max(round(messages * share), 1 if c is Category.ADVERSE_EVENT else 0) for c, share in MIX.items()}
    counts[Category.BOOKING] += messages - sum(counts.values())
    return counts


def generate_month(config: ClinicConfig, *, messages: int = MONTH_MESSAGES, year: int = 2026, month: int = 11,
                   seed: int = 1150) -> GeneratedMonth:
    rng = random.Random(seed)
    pool: dict[Category, list[Example]] = {}
    for example in load_examples():
        pool.setdefault(example.category, []).append(example)
    labels = [c for c, n in category_counts(messages).items() for _ in range(n)]
    rng.shuffle(labels)
    days = _days(year, month)
    received = sorted(_received(config, rng, rng.choice(days)) for _ in labels)
    records = []
    for label, at in zip(labels, received, strict=True):
        record = {"text": rng.choice(pool[label]).text,
                  "channel": rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0],
                  "received_at": _local(config, at)}
        if rng.random() < ANSWERED_SHARE:
            record["first_response_at"] = _local(config, _answered(config, rng, label, at))
        records.append(record)
    return GeneratedMonth(tuple(records), tuple(labels))


def _days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return [first + timedelta(days=n) for n in range((following - first).days)]


def _received(config: ClinicConfig, rng: random.Random, day: date) -> datetime:
    tz = config.clinic.tz
    hours = config.business_hours.for_day(WEEKDAYS[day.weekday()])
    open_day = hours is not None and day not in config.business_hours.holidays
    minute = rng.randrange(24 * 60)
    if open_day and hours is not None:
        opens, closes = _minutes(hours.open), _minutes(hours.close)
        if rng.random() < OPEN_SHARE:
            minute = rng.randrange(opens, closes)
        else:  # evening or early morning: most after closing
            minute = rng.randrange(closes, 24 * 60) if rng.random() < 0.7 else rng.randrange(0, opens)
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)


def _answered(config: ClinicConfig, rng: random.Random, label: Category, at: datetime) -> datetime:
    minutes = max(1.0, rng.lognormvariate(math.log(MEDIAN_RESPONSE[label]), 0.9))
    if label is Category.ADVERSE_EVENT:
        return at + timedelta(minutes=minutes)
    return add_business_minutes(config, at, minutes)


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _local(config: ClinicConfig, at: datetime) -> str:
    """Naive local time, as a clinic's export usually has it (the backtest reads it in the clinic's zone)."""
    return at.astimezone(config.clinic.tz).replace(tzinfo=None).isoformat(timespec="seconds")
