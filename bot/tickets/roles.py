"""Which roles a staff member has. The messenger handler looks up group memberships; this decides.

A role's members are staff ids or messenger user ids (`roles.*.members`), clinical staff (`staff[].clinical`),
and the members of the role's group in the messenger (a Slack user group, an Entra group for Teams). A role
with no members and no group configured is open to everyone, except clinical: medical tickets are only ever
handled by people the clinic has named as clinical.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config.models import ClinicConfig, RoleMembers, StaffMember
from bot.domain import Role
from bot.tickets.people import actor_ref
from bot.tickets.permissions import Actor

GroupMembers = Callable[[str], frozenset[str]]  # a messenger group id -> the user ids in it (cached by the handler)


def group_of(settings: RoleMembers, platform: str) -> str:
    """The role's group on `platform`: a Slack user group, an Entra group for Teams."""
    return {"slack": settings.usergroup, "teams": settings.entra_group}.get(platform, "")


def _has_group(settings: RoleMembers) -> bool:
    return bool(settings.usergroup or settings.entra_group)


def roles_of(config: ClinicConfig, platform: str, user_id: str, member: StaffMember | None,
             group_members: GroupMembers) -> frozenset[Role]:
    ids = {user_id} | ({member.id, *(uid for _, uid in member.users)} if member else set())
    ids.discard("")
    roles = set()
    for role in Role:
        settings = config.roles.for_role(role)
        members = config.role_members(role)
        group = group_of(settings, platform)
        in_group = bool(group) and user_id in group_members(group)
        open_to_all = not members and not _has_group(settings) and role is not Role.CLINICAL
        if ids & members or in_group or open_to_all:
            roles.add(role)
    return frozenset(roles)


def actor_of(config: ClinicConfig, platform: str, user_id: str, display_name: str,
             group_members: GroupMembers) -> Actor:
    """The acting user: the config's staff name when listed there, else the messenger's display name."""
    member = config.staff_by_user(platform, user_id)
    return Actor(id=actor_ref(platform, user_id, member), name=member.name if member else (display_name or user_id),
                 roles=roles_of(config, platform, user_id, member, group_members),
                 staff_id=member.id if member else None)


def staff_actor(config: ClinicConfig, member: StaffMember) -> Actor:
    """A listed staff member acting outside a messenger (a text from their phone): roles from the config only."""
    roles = roles_of(config, "", "", member, lambda _group: frozenset())
    return Actor(id=member.id, name=member.name, roles=roles, staff_id=member.id)
