"""Who an actor id stands for. Tickets and audit events store staff ids, never a messenger's user ids.

An actor id is the config's staff id ("dr-lee") for a listed staff member, else the messenger and its user id
("teams:8f2c…", "slack:U0XYZ") for someone the config does not list. Rows written when the bot knew only Slack
hold a bare Slack user id ("U0DRLEE"); `normalize_stored` rewrites those on tickets at start-up, and audit
events (never rewritten) are read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.config.models import PLATFORMS, ClinicConfig, StaffMember
from bot.mentions import Mention, MentionKind
from bot.storage.models import TicketRow

LEGACY_PLATFORM = "slack"  # a bare id that is not a staff id was written by the Slack-only bot


@dataclass(frozen=True)
class Person:
    member: StaffMember | None
    platform: str = ""  # the messenger of an unlisted person
    user_id: str = ""

    @property
    def name(self) -> str:
        return self.member.name if self.member else self.user_id

    @property
    def ref(self) -> str:
        return actor_ref(self.platform, self.user_id, self.member)

    def mention(self) -> Mention:
        """A user mention carrying the person's id on every messenger the config knows them on."""
        if self.member is not None:
            users = self.member.users
            return Mention(MentionKind.USER, self.member.slack_user, staff=self.member.id, name=self.member.name,
                           users=users)
        users = ((self.platform, self.user_id),) if self.platform and self.user_id else ()
        return Mention(MentionKind.USER, self.user_id if self.platform == "slack" else "", users=users)


def actor_ref(platform: str, user_id: str, member: StaffMember | None) -> str:
    """What tickets and audit events store for someone acting from `platform` as `user_id`."""
    if member is not None:
        return member.id
    return f"{platform}:{user_id}"


def resolve(config: ClinicConfig, ref: str) -> Person:
    """The person behind a stored actor id (or a legacy bare Slack id)."""
    member = config.staff_member(ref)
    if member is not None:
        return Person(member)
    platform, sep, user_id = ref.partition(":")
    if not sep or platform not in PLATFORMS:
        platform, user_id = LEGACY_PLATFORM, ref
    return Person(config.staff_by_user(platform, user_id), platform, user_id)


def person_mention(config: ClinicConfig, ref: str) -> Mention:
    return resolve(config, ref).mention()


def same_person(config: ClinicConfig, a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a == b or resolve(config, a).ref == resolve(config, b).ref


def normalize_stored(session: Session, config: ClinicConfig) -> int:
    """Rewrite bare Slack user ids on tickets (claimed by, page acknowledged by) to actor ids. Idempotent."""
    changed = 0
    staff_ids = {m.id for m in config.staff}
    for column in (TicketRow.claimed_by, TicketRow.acknowledged_by):
        values = session.scalars(session.query(column).filter(column.is_not(None)).distinct().statement).all()
        for value in values:
            if not value or value in staff_ids or ":" in value:
                continue
            target = resolve(config, value).ref
            result = session.execute(update(TicketRow).where(column == value).values({column.key: target})
                                     .execution_options(synchronize_session=False))
            changed += int(getattr(result, "rowcount", 0) or 0)
    return changed
