"""The escalation plan of one ticket, computed once when it is routed and frozen on the ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config.models import ClinicConfig
from bot.domain import Category
from bot.sla.business_time import add_business_minutes


@dataclass(frozen=True)
class Step:
    key: str  # "clinical:nudge:0", "adverse_event:page:1": fires at most once per ticket
    at: datetime
    notify: str  # role | lead | manager | backup
    call: bool = False  # page ladder: also ring the paged providers' phones

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "at": self.at.isoformat(), "notify": self.notify}
        if self.call:
            data["call"] = True
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Step:
        return Step(key=str(data["key"]), at=datetime.fromisoformat(str(data["at"])), notify=str(data["notify"]),
                    call=bool(data.get("call", False)))


def _after(config: ClinicConfig, start: datetime, minutes: int, *, business: bool) -> datetime:
    return add_business_minutes(config, start, minutes) if business else start + timedelta(minutes=minutes)


def due_at(config: ClinicConfig, category: Category, routed_at: datetime) -> datetime:
    """Adverse events run on the wall clock; everything else only while the clinic is open."""
    minutes = config.sla_minutes.for_category(category)
    return _after(config, routed_at, minutes, business=category is not Category.ADVERSE_EVENT)


def plan(config: ClinicConfig, category: Category, routed_at: datetime, due: datetime, *, paged: bool) -> list[Step]:
    business = category is not Category.ADVERSE_EVENT
    steps = [
        Step(f"{category.value}:nudge:{index}", _after(config, due, step.after_minutes, business=business), step.notify)
        for index, step in enumerate(config.escalation.ladder)
    ]
    if paged:
        steps += [
            Step(f"{category.value}:page:{index}", routed_at + timedelta(minutes=step.after_minutes), step.notify,
                 call=step.call)
            for index, step in enumerate(config.escalation.page_ladder)
        ]
    return steps
