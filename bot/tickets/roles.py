"""Which roles a staff member has. The messenger handler looks up group memberships; this decides.

A role with no members and no user group configured is open to everyone, except clinical: medical tickets
are only ever handled by people the clinic has named as clinical.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config.models import ClinicConfig
from bot.domain import Role
from bot.tickets.permissions import Actor


def roles_of(config: ClinicConfig, user_id: str, group_members: Callable[[str], frozenset[str]]) -> frozenset[Role]:
    """`group_members(usergroup)` gives the messenger's members of a user group (cached by the handler)."""
    roles = set()
    for role in Role:
        settings = config.roles.for_role(role)
        members = config.role_members(role) | (group_members(settings.usergroup) if settings.usergroup else frozenset())
        if user_id in members or (not members and not settings.usergroup and role is not Role.CLINICAL):
            roles.add(role)
    return frozenset(roles)


def actor_of(config: ClinicConfig, user_id: str, display_name: str,
             group_members: Callable[[str], frozenset[str]]) -> Actor:
    """The acting user: the config's staff name when listed there, else the messenger's display name."""
    staff = config.staff_by_chat_user(user_id)
    return Actor(id=user_id, name=staff.name if staff else (display_name or user_id),
                 roles=roles_of(config, user_id, group_members), staff_id=staff.id if staff else None)
