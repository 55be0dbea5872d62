"""The escalation plan of one ticket, computed once when it is routed and frozen on the ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.config.models import ClinicConfig
from bot.domain import Category
from bot.sla.business_time import add_business_minutes

StepKind = Literal["nudge", "page"]


@dataclass(frozen=True)
class Step:
    key: str  # "clinical:nudge:0:20261124T183000": fires at most once per ticket (claimed in the database)
    at: datetime
    notify: str  # role | lead | manager | backup
    kind: StepKind = "nudge"  # nudge: the role ladder of an unclaimed ticket; page: an unacknowledged page
    paged_at: datetime | None = None  # page steps: when the page went out (a raise pages later than the ticket)
    call: bool = False  # page ladder: also ring the paged providers' phones

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "at": self.at.isoformat(), "notify": self.notify, "kind": self.kind}
        if self.paged_at:
            data["paged_at"] = self.paged_at.isoformat()
        if self.call:
            data["call"] = True
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Step:
        key = str(data["key"])
        # Plans frozen before `kind` was stored carry it in the key ("billing:nudge:0").
        kind: StepKind = "page" if str(data.get("kind") or key.split(":")[1]) == "page" else "nudge"
        paged_at = datetime.fromisoformat(str(data["paged_at"])) if data.get("paged_at") else None
        return Step(key=key, at=datetime.fromisoformat(str(data["at"])), notify=str(data["notify"]), kind=kind,
                    paged_at=paged_at, call=bool(data.get("call", False)))


def _after(config: ClinicConfig, start: datetime, minutes: int, *, business: bool) -> datetime:
    return add_business_minutes(config, start, minutes) if business else start + timedelta(minutes=minutes)


def due_at(config: ClinicConfig, category: Category, routed_at: datetime) -> datetime:
    """Adverse events run on the wall clock; everything else only while the clinic is open."""
    minutes = config.sla_minutes.for_category(category)
    return _after(config, routed_at, minutes, business=category is not Category.ADVERSE_EVENT)


def plan(config: ClinicConfig, category: Category, routed_at: datetime, *, paged: bool) -> list[Step]:
    """The ladder of a ticket routed (or re-routed by a raise) at `routed_at`.

    The ladder is counted from `routed_at` with the category's own SLA, even when a raised ticket keeps an
    earlier due time: a raise starts the new role's ladder afresh, so no step of the new plan lies in the past
    and nothing fires all at once. Each plan's keys carry the moment it was made, so a ticket re-routed back
    into a category it had before gets that ladder again instead of finding its steps already claimed.

    `other` tickets (thanks, emoji, wrong numbers, spam, opt-outs) get no ladder at all: they wait quietly
    in the queue and are counted in the digest.
    """
    if category is Category.OTHER:
        return []
    business = category is not Category.ADVERSE_EVENT
    stamp = routed_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    start = due_at(config, category, routed_at)
    steps = [
        Step(f"{category.value}:nudge:{index}:{stamp}", _after(config, start, step.after_minutes, business=business),
             step.notify, "nudge")
        for index, step in enumerate(config.escalation.ladder)
    ]
    if paged:
        steps += [
            Step(f"{category.value}:page:{index}:{stamp}", routed_at + timedelta(minutes=step.after_minutes),
                 step.notify, "page", paged_at=routed_at, call=step.call)
            for index, step in enumerate(config.escalation.page_ladder)
        ]
    return steps
