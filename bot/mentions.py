"""A mention as the core sees it: who is pinged and how. Each messenger renders it in its own syntax."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    name: str = ""  # how a reader sees it where the messenger cannot show it: the person's name, the role
    # The same person or group on each messenger the clinic runs: (("slack", "U0DRLEE"), ("teams", "8f2…")).
    # `id` is the Slack id, kept for rows written before a person had more than one.
    users: tuple[tuple[str, str], ...] = ()

    def user_on(self, platform: str) -> str:
        """This person's (or group's) id on `platform`, or "" when they have none there."""
        ids = dict(self.users)
        if platform in ids:
            return ids[platform]
        return self.id if platform == "slack" else ""

    @property
    def counted_as(self) -> tuple[str, str]:
        """Who this ping lands on, for counting pings: ("staff", id), ("user", id) or ("role", name)."""
        if self.kind is MentionKind.USER:
            return ("staff", self.staff) if self.staff else ("user", self.id)
        return ("role", self.role)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind.value, "id": self.id, "staff": self.staff, "role": self.role,
                                "name": self.name, "users": dict(self.users)}
        return {key: value for key, value in data.items() if value}

    def audited(self) -> dict[str, Any]:
        """Who was pinged, for the audit log: the Slack id, staff id and role (a name is looked up when shown)."""
        data = self.as_json()
        data.pop("name", None)
        data.pop("users", None)
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Mention:
        users = data.get("users") or {}
        return Mention(MentionKind(str(data["kind"])), str(data.get("id", "")), str(data.get("staff", "")),
                       str(data.get("role", "")), str(data.get("name", "")),
                       tuple(sorted((str(k), str(v)) for k, v in users.items())) if isinstance(users, dict) else ())

    @property
    def label(self) -> str:
        """The mention as plain text: "@Nurse Kim", "@billing", "@here"."""
        if self.kind is MentionKind.HERE:
            return "@here"
        return "@" + (self.name or self.role or self.id or self.staff)

    @staticmethod
    def all_from_json(items: Iterable[dict[str, Any]] | None) -> tuple[Mention, ...]:
        return tuple(Mention.from_json(item) for item in items or ())


def union(mentions: Iterable[Mention]) -> tuple[Mention, ...]:
    """Each person or group once, in first-seen order."""
    seen: dict[tuple[str, str], Mention] = {}
    for mention in mentions:
        seen.setdefault((mention.kind.value, mention.id or mention.role), mention)
    return tuple(seen.values())


Part = str | Mention
Line = tuple[Part, ...]  # text with mentions in place: "Claimed by ", Mention(...), " · 10:42"


def trailing(text: str, mentions: Sequence[Mention]) -> Line:
    """A line, then who it pings: "⏰ Unclaimed, due now — @billing"."""
    if not mentions:
        return (text,)
    parts: list[Part] = [text, " — "]
    for index, mention in enumerate(mentions):
        parts.extend([" ", mention] if index else [mention])
    return tuple(parts)


def plain(line: Line) -> str:
    """The line as plain text. A mention already shows the person's name, so the bracketed name that follows it
    for messengers showing a bare id ("<@U1> (Nurse Kim)" in Slack) is left out: "@Nurse Kim"."""
    out: list[str] = []
    for index, part in enumerate(line):
        if isinstance(part, Mention):
            out.append(part.label)
            continue
        before = line[index - 1] if index else None
        if isinstance(before, Mention) and before.name and part.startswith(f" ({before.name})"):
            part = part.removeprefix(f" ({before.name})")
        out.append(part)
    return "".join(out)


def mentions_in(line: Line) -> tuple[Mention, ...]:
    return tuple(part for part in line if isinstance(part, Mention))


def line_json(line: Line) -> list[str | dict[str, str]]:
    return [part if isinstance(part, str) else part.as_json() for part in line]


def line_from_json(items: Iterable[str | dict[str, Any]]) -> Line:
    return tuple(item if isinstance(item, str) else Mention.from_json(item) for item in items)
