"""The service with Microsoft Teams as its messenger: the poster (through the Teams SDK's API client), the places
it learns, the listener behind POST /teams/messages, and Entra group lookups through Microsoft Graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.config.models import ClinicConfig
from bot.domain import Role
from bot.ports import ChatPoster
from bot.settings import TriageSettings, TwilioSettings
from bot.storage.db import Database
from bot.storage.places import DbPlaces
from handlers.service import Service
from handlers.teams.bot import GroupMembers, TeamsBot
from handlers.teams.inbound import TeamsInbound
from handlers.wiring import PosterSpec, build_service
from integrations.teams.poster import PLATFORM, TeamsPoster
from integrations.teams.settings import TeamsSettings


def entra_groups(config: ClinicConfig, teams: TeamsSettings) -> GroupMembers | None:
    """Members of the roles' Entra groups (roles.*.entra_group), when the config names any."""
    roles = config.roles
    if not any(roles.for_role(role).entra_group for role in Role):
        return None
    from integrations.teams.graph import EntraGroups

    if teams.tenant_id is None:
        raise ValueError("roles.*.entra_group needs TEAMS_TENANT_ID (the tenant whose group it is)")
    groups = EntraGroups(tenant_id=teams.tenant_id, client_id=teams.app_id, client_secret=teams.app_password,
                         graph_url=teams.graph_url, token_url=teams.graph_token_url)
    return groups.members


@dataclass
class TeamsWiring:
    service: Service
    inbound: TeamsInbound
    posters: list[TeamsPoster]

    def close(self) -> None:
        for poster in self.posters:
            poster.close()


def teams_service(settings: TriageSettings, config: ClinicConfig, teams: TeamsSettings, *,
                  twilio: TwilioSettings | None = None, slack: ChatPoster | None = None,
                  **build: Any) -> TeamsWiring:
    """`slack`: Slack's poster too, when the clinic runs both (every card, page and line goes to each).
    `build`: what else `build_service` takes (a clock, patient messengers: tests and the demo)."""
    posters: list[TeamsPoster] = []
    if "messenger" not in config.paging.model_fields_set:  # page texts say "open Teams", unless the config says
        name = "Slack or Teams" if slack is not None else "Teams"
        config = config.model_copy(update={"paging": config.paging.model_copy(update={"messenger": name})})

    def poster(db: Database, clock: Clock) -> TeamsPoster:
        posters.append(TeamsPoster(teams, DbPlaces(db, clock)))
        return posters[-1]

    chat: dict[str, PosterSpec] = {PLATFORM: poster}
    if slack is not None:
        chat = {"slack": slack, **chat}
    service = build_service(settings, twilio or TwilioSettings(), config, poster=chat, **build)
    listener = TeamsBot(service, DbPlaces(service.db, service.clock), groups=entra_groups(config, teams))
    inbound = TeamsInbound(app_id=teams.app_id, app_password=teams.app_password, tenant_id=teams.tenant_id,
                           listener=listener, openid_metadata_url=teams.openid_metadata_url,
                           token_url=teams.token_url, allow_any_tenant=teams.tenant_id is None)
    return TeamsWiring(service, inbound, posters)
