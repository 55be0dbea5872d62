"""Who one ladder step pings, as structured mentions (the messenger renders them)."""

from __future__ import annotations

from bot.config.models import ClinicConfig
from bot.domain import Role
from bot.mentions import Mention, MentionKind


def step_audience(config: ClinicConfig, role: Role, notify: str, backup: str | None) -> tuple[Mention, ...]:
    """The role's user group, or its members; a lead; the backup provider; the manager.

    A rung with nobody configured passes to the manager, and a clinic with no manager to the managers' role.
    """
    if notify == "role":
        return role_mentions(config, role)
    if notify == "lead" and (lead := staff_mention(config, config.roles.for_role(role).lead)):
        return (lead,)
    if notify == "backup" and (covering := staff_mention(config, backup or "")):
        return (covering,)
    if manager := staff_mention(config, config.escalation.manager):
        return (manager,)
    return role_mentions(config, Role.MANAGERS)


def staff_mention(config: ClinicConfig, staff_id: str) -> Mention | None:
    member = config.staff_member(staff_id) if staff_id else None
    if member is None or not member.chat_user:
        return None
    return Mention(MentionKind.USER, member.chat_user, staff=member.id, name=member.name)


def role_mentions(config: ClinicConfig, role: Role) -> tuple[Mention, ...]:
    settings = config.roles.for_role(role)
    if settings.usergroup:
        return (Mention(MentionKind.GROUP, settings.usergroup, role=role.value),)
    members = sorted(config.role_members(role))
    if not members:
        return (Mention(MentionKind.HERE, role=role.value),)
    return tuple(person(config, member) for member in members)


def person(config: ClinicConfig, chat_user: str) -> Mention:
    """A messenger user as a mention, with their staff id and name when the config knows them."""
    member = config.staff_by_chat_user(chat_user)
    return Mention(MentionKind.USER, chat_user, staff=member.id if member else "", name=member.name if member else "")
