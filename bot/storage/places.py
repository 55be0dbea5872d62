"""The places the bot may post in (bot/places.py), kept in the `chat_places` table."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.places import Place
from bot.storage.db import Database
from bot.storage.models import ChatPlaceRow

_LOOSE = re.compile(r"[\s#_\-]+")


def loose(name: str) -> str:
    """A channel name as an admin might type it: "#front-desk", "Front Desk" and "front_desk" are one name."""
    return _LOOSE.sub("", name).casefold()


def _place(row: ChatPlaceRow) -> Place:
    kind = row.kind if row.kind in ("channel", "personal", "groupChat") else "channel"
    return Place(platform=row.platform, conversation=row.conversation, service_url=row.service_url,
                 kind=kind,  # type: ignore[arg-type]
                 tenant=row.tenant, team=row.team, team_name=row.team_name, channel_name=row.channel_name,
                 user=row.user)


class DbPlaces:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def remember(self, place: Place) -> None:
        for attempt in (1, 2):  # two instances learning one conversation at once: the second updates
            try:
                self._upsert(place)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _upsert(self, place: Place) -> None:
        with self._db.transaction() as session:
            row = session.scalars(select(ChatPlaceRow).where(
                ChatPlaceRow.platform == place.platform, ChatPlaceRow.conversation == place.conversation)).first()
            if row is None:
                row = ChatPlaceRow(platform=place.platform, conversation=place.conversation)
                session.add(row)
            row.service_url, row.kind, row.seen_at = place.service_url, place.kind, self._clock.now()
            # What one activity does not say (a channel message names no team name) keeps what another said.
            for field in ("tenant", "team", "team_name", "channel_name", "user"):
                value = getattr(place, field)
                if value:
                    setattr(row, field, value)

    def _all(self, platform: str) -> list[Place]:
        with self._db.transaction() as session:
            rows = session.scalars(select(ChatPlaceRow).where(ChatPlaceRow.platform == platform)
                                   .order_by(ChatPlaceRow.seen_at.desc(), ChatPlaceRow.id.desc())).all()
            return [_place(row) for row in rows]

    def channel(self, platform: str, name: str) -> Place | None:
        places = [p for p in self._all(platform) if p.kind == "channel"]
        for place in places:
            if place.conversation == name:
                return place
        team, sep, channel = name.rpartition("/")
        wanted = loose(channel)
        named = [p for p in places if loose(p.channel_name or "") == wanted]
        if sep:
            named = [p for p in named if loose(p.team_name or "") == loose(team)]
        teams = {p.team for p in named}
        return named[0] if len(teams) == 1 else None  # the same name in two teams: "Team/Channel" says which

    def channels_named(self, platform: str, name: str) -> list[Place]:
        """Every known channel a role channel's name could mean (to tell an admin why it is ambiguous)."""
        team, sep, channel = name.rpartition("/")
        wanted = loose(channel)
        found = [p for p in self._all(platform) if p.kind == "channel" and loose(p.channel_name or "") == wanted]
        return [p for p in found if not sep or loose(p.team_name or "") == loose(team)]

    def personal(self, platform: str, user: str) -> Place | None:
        with self._db.transaction() as session:
            row = session.scalars(select(ChatPlaceRow).where(
                ChatPlaceRow.platform == platform, ChatPlaceRow.kind == "personal", ChatPlaceRow.user == user)
                .order_by(ChatPlaceRow.seen_at.desc())).first()
            return _place(row) if row is not None else None

    def service_url(self, platform: str, tenant: str | None) -> str | None:
        with self._db.transaction() as session:
            query = select(ChatPlaceRow.service_url).where(ChatPlaceRow.platform == platform)
            if tenant:
                query = query.where(ChatPlaceRow.tenant == tenant)
            return session.scalars(query.order_by(ChatPlaceRow.seen_at.desc(), ChatPlaceRow.id.desc())).first()

    def by_conversation(self, platform: str, conversation: str) -> Place | None:
        base = conversation.split(";", 1)[0]  # a channel thread: "19:…@thread.tacv2;messageid=…"
        with self._db.transaction() as session:
            row = session.scalars(select(ChatPlaceRow).where(
                ChatPlaceRow.platform == platform, ChatPlaceRow.conversation == base)).first()
            return _place(row) if row is not None else None


def with_service_url(place: Place, service_url: str) -> Place:
    return replace(place, service_url=service_url)
