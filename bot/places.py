"""Where the bot may post, as a messenger told it: a conversation it was installed in (a Teams team channel, a
personal chat with one person), learnt from an authenticated activity and kept so that it can post there later
without being asked (a card, a page, the digest).

Slack needs none of this (a channel id or name is enough to post); Teams does (a conversation id and the
serviceUrl its activities came from). The core only stores places and looks them up by what the clinic config
says: a role channel by name within a team, or by id; a person by their user id on the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

PlaceKind = Literal["channel", "personal", "groupChat"]


@dataclass(frozen=True)
class Place:
    platform: str  # "teams"
    conversation: str  # the conversation id to post to (a channel's id, a personal chat's id)
    service_url: str  # where the messenger's API for this conversation answers (seen in an authenticated activity)
    kind: PlaceKind
    tenant: str | None = None
    team: str | None = None  # the team id, for a channel
    team_name: str | None = None
    channel_name: str | None = None  # a channel's display name ("General" for a team's first channel)
    user: str | None = None  # a personal chat: the person's user id on the platform (Teams: Entra object id)


class Places(Protocol):
    """The places known so far (a database table in production, `bot/tickets/places.py`)."""

    def remember(self, place: Place) -> None:
        """Record a place, or refresh what is known of it (its serviceUrl moves now and then)."""
        ...

    def channel(self, platform: str, name: str) -> Place | None:
        """A role channel as the clinic config names it: a conversation id, "Team name/Channel name", or a
        channel name when only one team has a channel of that name."""
        ...

    def personal(self, platform: str, user: str) -> Place | None:
        """The personal chat with `user` (their user id on the platform), when one is known."""
        ...

    def service_url(self, platform: str, tenant: str | None) -> str | None:
        """The most recently seen serviceUrl of the tenant (to open a personal chat with someone new)."""
        ...
