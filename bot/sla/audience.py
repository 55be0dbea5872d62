"""Who one ladder step pings, as structured mentions (the messenger renders them)."""

from __future__ import annotations

from bot.config.models import ClinicConfig
from bot.domain import Role
from bot.mentions import Mention, MentionKind
from bot.tickets.people import Person, person_mention, resolve


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
    """A listed staff member as a mention, when they have an id on some messenger."""
    member = config.staff_member(staff_id) if staff_id else None
    if member is None or not member.users:
        return None
    return Person(member).mention()


def role_mentions(config: ClinicConfig, role: Role) -> tuple[Mention, ...]:
    settings = config.roles.for_role(role)
    if settings.usergroup:  # Slack pings a user group; Teams shows it as the role's name (an Entra group has no @)
        group = Mention(MentionKind.GROUP, settings.usergroup, role=role.value, users=(("slack", settings.usergroup),))
        return (group,)
    members = config.role_members(role)
    if not members:
        return (Mention(MentionKind.HERE, role=role.value),)
    people = {resolve(config, member).ref: person(config, member) for member in members}  # each person once
    return tuple(sorted(people.values(), key=lambda m: (m.id, m.staff, m.users)))


def person(config: ClinicConfig, ref: str) -> Mention:
    """An actor id (a staff id, or a messenger user id) as a mention, with their name when the config knows them."""
    return person_mention(config, ref)
