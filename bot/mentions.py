"""A mention as the core sees it: who is pinged and how. Each messenger renders it in its own syntax."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class MentionKind(StrEnum):
    USER = "user"  # one person, by their messenger user id
    GROUP = "group"  # a messenger user group standing for a role
    HERE = "here"  # everyone active in the channel: a role with no members or group configured


@dataclass(frozen=True)
class Mention:
    kind: MentionKind
    id: str = ""  # messenger user id (user) or user-group id (group); empty for here
    staff: str = ""  # staff id of a user, when the config knows them
    role: str = ""  # the role a group or here stands for

    @property
    def counted_as(self) -> tuple[str, str]:
        """Who this ping lands on, for counting pings: ("staff", id), ("user", id) or ("role", name)."""
        if self.kind is MentionKind.USER:
            return ("staff", self.staff) if self.staff else ("user", self.id)
        return ("role", self.role)

    def as_json(self) -> dict[str, str]:
        data = {"kind": self.kind.value, "id": self.id, "staff": self.staff, "role": self.role}
        return {key: value for key, value in data.items() if value}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Mention:
        return Mention(MentionKind(str(data["kind"])), str(data.get("id", "")), str(data.get("staff", "")),
                       str(data.get("role", "")))

    @staticmethod
    def all_from_json(items: Iterable[dict[str, Any]] | None) -> tuple[Mention, ...]:
        return tuple(Mention.from_json(item) for item in items or ())


def union(mentions: Iterable[Mention]) -> tuple[Mention, ...]:
    """Each person or group once, in first-seen order."""
    seen: dict[tuple[str, str], Mention] = {}
    for mention in mentions:
        seen.setdefault((mention.kind.value, mention.id or mention.role), mention)
    return tuple(seen.values())
