"""What every Slack listener needs: the service, the ticket actions, and who the clicking user is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import Role
from bot.flows.actions import TicketActions
from bot.tickets.permissions import Actor
from handlers.service import Service

GROUP_CACHE = timedelta(minutes=5)


@dataclass
class SlackContext:
    service: Service
    client: WebClient
    actions: TicketActions
    _groups: dict[str, tuple[datetime, frozenset[str]]] = field(default_factory=dict)

    def actor(self, user: dict[str, Any]) -> Actor:
        """The clicking user, with the roles the clinic config (and Slack user groups) give them.

        A role with no members configured is open to everyone, except clinical: medical tickets are
        only ever handled by people the clinic has named as clinical.
        """
        user_id = str(user.get("id", ""))
        config = self.service.config
        staff = config.staff_by_chat_user(user_id)
        roles = set()
        for role in Role:
            settings = config.roles.for_role(role)
            members = config.role_members(role) | self._group_members(settings.usergroup)
            if user_id in members or (not members and not settings.usergroup and role is not Role.CLINICAL):
                roles.add(role)
        name = staff.name if staff else str(user.get("name") or user.get("username") or user_id)
        return Actor(id=user_id, name=name, roles=frozenset(roles), staff_id=staff.id if staff else None)

    def _group_members(self, usergroup: str) -> frozenset[str]:
        if not usergroup:
            return frozenset()
        now = self.service.clock.now()
        cached = self._groups.get(usergroup)
        if cached and now - cached[0] < GROUP_CACHE:
            return cached[1]
        try:
            users = self.client.usergroups_users_list(usergroup=usergroup).get("users") or []
        except SlackApiError:
            return cached[1] if cached else frozenset()  # keep the last known members through a Slack outage
        members = frozenset(str(u) for u in users)
        self._groups[usergroup] = (now, members)
        return members

    def tell(self, body: dict[str, Any], text: str) -> None:
        """An ephemeral line to the clicking user only (refusals, 'already claimed by')."""
        if not text:
            return
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id")
        if channel and user:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)
