"""Slack: the bot token, the app's scopes, how Slack reaches us, and the bot's membership of each role channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config.models import ClinicConfig
from bot.domain import Role
from handlers.doctor.report import Check, fail, ok, skip
from integrations.slack.poster import web_client
from integrations.slack.settings import SlackSettings

NAME = "Slack"
# The bot scopes manifest.yml declares (a test keeps the two in step).
REQUIRED_SCOPES = frozenset({"chat:write", "chat:write.public", "commands", "im:write", "users:read",
                             "usergroups:read", "channels:read", "groups:read", "files:write",
                             "channels:history", "groups:history", "im:history"})
TOKEN_PAGE = "the app's OAuth & Permissions page"


def slack_problem(exc: SlackApiError | SlackClientError | OSError, url: str, *, app_token: bool = False) -> str:
    """One line for a failed Slack call: what Slack said and what to do (never a traceback). `app_token`: the
    call was made with SLACK_APP_TOKEN (Socket Mode), not the bot token."""
    if not isinstance(exc, SlackApiError):
        return f"cannot reach Slack at {url} ({type(exc).__name__}) — check the network, or SLACK_API_URL"
    status = exc.response.status_code
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error", "")) or f"HTTP {status}"
    if status == 429:
        return "Slack is rate limiting us (429) — this passes by itself; try again in a minute"
    if status >= 500:
        return f"Slack answered {status} (a problem on Slack's side, see status.slack.com) — try again later"
    if app_token and error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired",
                               "not_allowed_token_type"):
        return (f"Slack refused the app-level token ({error}) — create one with the connections:write scope "
                "under the app's Basic Information → App-Level Tokens and put it (xapp-…) in SLACK_APP_TOKEN")
    if error in ("invalid_auth", "not_authed"):
        return (f"Slack refused the bot token ({error}) — copy the Bot User OAuth Token (xoxb-…) from "
                f"{TOKEN_PAGE} into SLACK_BOT_TOKEN")
    if error in ("token_revoked", "account_inactive", "token_expired"):
        return (f"the bot token no longer works ({error}) — reinstall the app to the workspace and put the new "
                f"xoxb-… token in SLACK_BOT_TOKEN")
    if error == "missing_scope":
        needed = str(data.get("needed", "")) or "?"
        return (f"the app lacks the scope {needed} — add it under {TOKEN_PAGE} (or recreate the app from "
                "manifest.yml) and reinstall the app")
    return f"Slack answered {error} — see https://api.slack.com/methods for what it means"


def check_slack(settings: SlackSettings, config: ClinicConfig | None) -> list[Check]:
    if settings.bot_token is None:
        return [skip(NAME, "not configured (set SLACK_BOT_TOKEN to the app's Bot User OAuth Token, xoxb-…; "
                           "until then cards are printed to the console)")]
    token = settings.bot_token.get_secret_value()
    if not token.startswith("xoxb-"):
        kind = "an app-level token" if token.startswith("xapp-") else "not a bot token"
        return [fail(NAME, f"SLACK_BOT_TOKEN is {kind} — use the Bot User OAuth Token (xoxb-…) from {TOKEN_PAGE}")]
    client = web_client(token, settings.base_url)
    try:
        auth = client.auth_test()
    except (SlackApiError, SlackClientError, OSError) as exc:
        return [fail(NAME, slack_problem(exc, settings.base_url))]
    bot = str(auth.get("user") or auth.get("user_id") or "the bot")
    checks = [ok(NAME, f"bot @{bot} in workspace {auth.get('team') or auth.get('team_id')}")]
    checks += _scopes(auth.headers)
    checks += _how_slack_reaches_us(settings)
    if config is not None:
        checks += check_channels(client, config, bot, settings.base_url)
    return checks


def _scopes(headers: dict[str, Any]) -> list[Check]:
    granted_text = next((str(v) for k, v in headers.items() if k.lower() == "x-oauth-scopes"), None)
    if granted_text is None:
        return []  # Slack did not say (some proxies drop the header): the channel checks still catch most gaps
    granted = {scope.strip() for scope in granted_text.split(",") if scope.strip()}
    missing = sorted(REQUIRED_SCOPES - granted)
    if missing:
        return [fail(NAME, f"the app lacks the scopes {', '.join(missing)} — add them under {TOKEN_PAGE} (or "
                           "recreate the app from manifest.yml) and reinstall the app to the workspace")]
    return [ok(NAME, "the app has every scope it needs")]


def _how_slack_reaches_us(settings: SlackSettings) -> list[Check]:
    if settings.app_token is not None:
        app_token = settings.app_token.get_secret_value()
        if not app_token.startswith("xapp-"):
            return [fail(NAME, "SLACK_APP_TOKEN is not an app-level token — create one (xapp-…) with the "
                               "connections:write scope under Basic Information → App-Level Tokens")]
        try:
            WebClient(base_url=settings.base_url, timeout=15, retry_handlers=[]).apps_connections_open(
                app_token=app_token)
        except (SlackApiError, SlackClientError, OSError) as exc:
            return [fail(NAME, f"Socket Mode: {slack_problem(exc, settings.base_url, app_token=True)}")]
        return [ok(NAME, "Socket Mode: the app-level token is accepted")]
    if settings.signing_secret is None:
        return [fail(NAME, "SLACK_SIGNING_SECRET is not set — HTTP mode needs it (Basic Information → Signing "
                           "Secret), or set SLACK_APP_TOKEN to use Socket Mode instead")]
    return [ok(NAME, "HTTP mode: Slack's requests to /slack/events are checked with SLACK_SIGNING_SECRET")]


def check_channels(client: WebClient, config: ClinicConfig, bot: str, url: str) -> list[Check]:
    wanted: dict[str, str] = {}  # channel as configured -> the config key naming it
    for role in Role:
        wanted.setdefault(config.channels.for_role(role).lstrip("#"), f"channels.{role.value}")
    try:
        mine = list(_pages(client, "users_conversations", "channels",
                           types="public_channel,private_channel", exclude_archived=True))
    except (SlackApiError, SlackClientError, OSError) as exc:
        return [fail(NAME, f"cannot list the bot's channels: {slack_problem(exc, url)}")]
    member_of = {c.get("id") for c in mine} | {c.get("name") for c in mine}
    missing = [channel for channel in wanted if channel not in member_of]
    checks: list[Check] = []
    if len(missing) < len(wanted):
        shown = ", ".join(f"#{c}" for c in wanted if c not in missing)
        checks.append(ok(NAME, f"the bot is in {shown}"))
    if not missing:
        return checks
    try:
        visible = list(_pages(client, "conversations_list", "channels", types="public_channel",
                              exclude_archived=True))
    except (SlackApiError, SlackClientError, OSError):
        visible = []  # the membership answer above is still worth reporting
    exists = {c.get("id") for c in visible} | {c.get("name") for c in visible}
    for channel in missing:
        if channel in exists:
            checks.append(fail(NAME, f"not in #{channel} — invite the bot: /invite @{bot} in #{channel}"))
        else:
            checks.append(fail(NAME, f"no channel #{channel} the bot can see ({wanted[channel]} in the config) — "
                                     f"create it and /invite @{bot}, or, if it is private, invite the bot, "
                                     f"or fix {wanted[channel]}"))
    return checks


def _pages(client: WebClient, method: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    cursor = None
    for _ in range(50):  # a clinic's workspace is small; this bounds a misbehaving cursor
        response = getattr(client, method)(limit=200, cursor=cursor, **kwargs)
        yield from response.get(key) or []
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return
