"""What every Slack listener needs: the service, the ticket actions, and who the clicking user is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.flows.actions import Outcome, TicketActions
from bot.tickets.permissions import Actor
from bot.tickets.roles import actor_of
from handlers.service import Service
from integrations.slack.mentions import slack_line

GROUP_CACHE = timedelta(minutes=5)


@dataclass
class SlackContext:
    service: Service
    client: WebClient
    actions: TicketActions
    _groups: dict[str, tuple[datetime, frozenset[str]]] = field(default_factory=dict)

    def actor(self, user: dict[str, Any]) -> Actor:
        """The clicking user. Slack says who they are and which user groups they are in; bot/ decides roles."""
        name = str(user.get("name") or user.get("username") or "")
        return actor_of(self.service.config, "slack", str(user.get("id", "")), name, self._group_members)

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

    def tell(self, body: dict[str, Any], text: str | Outcome) -> None:
        """An ephemeral line to the clicking user only (refusals, 'already claimed by')."""
        if isinstance(text, Outcome):
            text = slack_line(text.line(self.service.config))
        if not text:
            return
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id")
        if channel and user:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)
