"""The clinic's vocabulary: channels, categories, urgency, roles, ticket states."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    WEB = "web"
    DM = "dm"


class Category(StrEnum):
    """Triage categories, defined in triage-labels.md."""

    ADVERSE_EVENT = "adverse_event"
    CLINICAL = "clinical"
    BILLING = "billing"
    BOOKING = "booking"
    FAQ = "faq"
    OTHER = "other"

    @property
    def severity(self) -> int:
        """Higher is more safety-critical; a ticket only ever moves up this scale."""
        return _SEVERITY[self]

    @property
    def urgency(self) -> Urgency:
        return _URGENCY[self]

    @property
    def is_medical(self) -> bool:
        return self in (Category.ADVERSE_EVENT, Category.CLINICAL)


class Urgency(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Role(StrEnum):
    """The clinic's role channels."""

    FRONT_DESK = "front_desk"
    BILLING = "billing"
    CLINICAL = "clinical"
    MANAGERS = "managers"


class TicketStatus(StrEnum):
    OPEN = "open"  # routed to a role, nobody has claimed it yet
    CLAIMED = "claimed"
    AUTO_RESOLVED = "auto_resolved"  # the bot answered it
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        return self in (TicketStatus.OPEN, TicketStatus.CLAIMED)


_SEVERITY = {
    Category.OTHER: 0,
    Category.FAQ: 1,
    Category.BOOKING: 2,
    Category.BILLING: 3,
    Category.CLINICAL: 4,
    Category.ADVERSE_EVENT: 5,
}

_URGENCY = {
    Category.ADVERSE_EVENT: Urgency.CRITICAL,
    Category.CLINICAL: Urgency.HIGH,
    Category.BILLING: Urgency.NORMAL,
    Category.BOOKING: Urgency.NORMAL,
    Category.FAQ: Urgency.NORMAL,
    Category.OTHER: Urgency.LOW,
}


def most_severe(a: Category, b: Category) -> Category:
    return a if a.severity >= b.severity else b


UNREADABLE = "could not be read"  # the first reason of a ticket made from a message triage kept failing on


def is_unreadable(reasons: list[str] | tuple[str, ...] | None) -> bool:
    """A "could not be read" ticket: filed as `other` (nothing read it), yet a person owes it a look."""
    return reasons is not None and len(reasons) > 0 and str(reasons[0]).startswith(UNREADABLE)
