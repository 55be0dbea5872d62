"""Microsoft Graph: when the clinic config gives a role an Entra group (`roles.<role>.entra_group`), the bot can list
its members with the Teams app's credentials. Only checked when the config names a group."""

from __future__ import annotations

from bot.config.models import ClinicConfig
from bot.domain import Role
from handlers.doctor.report import Check, fail, ok
from handlers.doctor.teams import INSTALL_EXTRA
from integrations.teams.settings import TeamsSettings

NAME = "Graph"
NEEDS = "TEAMS_APP_ID/TEAMS_APP_PASSWORD/TEAMS_TENANT_ID"


def _need(keys: list[str], what: str) -> str:
    return f"{' and '.join(keys)} {'needs' if len(keys) == 1 else 'need'} {what}"


def check_graph(settings: TeamsSettings | None, config: ClinicConfig | None) -> list[Check]:
    if config is None:
        return []
    groups = {f"roles.{role.value}.entra_group": config.roles.for_role(role).entra_group.strip() for role in Role}
    groups = {key: group for key, group in groups.items() if group}
    if not groups:
        return []
    keys = list(groups)
    if settings is None:
        return [fail(NAME, _need(keys, f"{NEEDS} (the Teams app's credentials look the group up in Microsoft "
                                       "Graph) — set them, or remove the entra_group"))]
    if settings.tenant_id is None:
        return [fail(NAME, _need(keys, "TEAMS_TENANT_ID (the tenant whose group it is) — set it; a multi-tenant "
                                       "bot cannot look Entra groups up"))]
    try:
        from integrations.teams.graph import EntraGroups, GroupLookupError
    except ImportError as exc:
        return [fail(NAME, f"{_need(keys, 'the Microsoft packages')}, which are not installed ({exc.name}) — "
                           f"{INSTALL_EXTRA}")]
    lookups = EntraGroups(tenant_id=settings.tenant_id, client_id=settings.app_id,
                          client_secret=settings.app_password, graph_url=settings.graph_url,
                          token_url=settings.graph_token_url)
    checks: list[Check] = []
    try:
        for key, group in groups.items():
            try:
                members = lookups.members(group)
            except GroupLookupError as exc:
                checks.append(fail(NAME, f"{key}: {exc.reason}"))
                continue
            if members:
                checks.append(ok(NAME, f"{key} has {len(members)} member{'s' if len(members) != 1 else ''}"))
            else:
                checks.append(ok(NAME, f"{key} has no members — add the role's staff to the group (Entra admin "
                                       "center → Groups), or list them in "
                                       f"{key.removesuffix('.entra_group')}.members"))
    finally:
        lookups.close()
    return checks
