"""One line per check: what was found and, when something is wrong, what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "✓"
    FAIL = "✗"
    SKIP = "–"  # not configured, and the clinic's config does not need it


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    text: str

    @property
    def line(self) -> str:
        return f"{self.status.value} {self.name}: {self.text}"


def ok(name: str, text: str) -> Check:
    return Check(Status.OK, name, text)


def fail(name: str, text: str) -> Check:
    return Check(Status.FAIL, name, text)


def skip(name: str, text: str) -> Check:
    return Check(Status.SKIP, name, text)
