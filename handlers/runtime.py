"""The service as `serve` and the posting CLI commands run it: Slack when configured, else the console."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config.models import ClinicConfig
from bot.settings import TriageSettings, TwilioSettings
from handlers.doctor.slack import slack_problem
from handlers.service import Service
from handlers.slack.app import SlackApp, build_slack_app
from handlers.wiring import build_service
from integrations.slack.poster import SlackPoster, web_client
from integrations.slack.settings import SlackSettings
from integrations.teams.settings import TeamsSettings

if TYPE_CHECKING:
    from handlers.teams.inbound import TeamsInbound

log = logging.getLogger(__name__)


class SlackStartupError(Exception):
    """Slack refused us for a reason that waiting will not fix. The message is one line, with what to do."""


def is_transient(exc: Exception) -> bool:
    """A rate limit, a Slack outage or no network: worth trying again later, and never the token's fault."""
    if isinstance(exc, SlackApiError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, SlackClientError | OSError)


class SlackStartup:
    """Checks the bot token once at start-up (`auth.test`).

    A refused token stops start-up with one line saying what to do. A 429, a 5xx or no network is logged in one
    line and start-up carries on (SMS intake keeps working, the outbox retries Slack posts); `recheck` then runs
    until Slack gives a clear answer."""

    def __init__(self, settings: SlackSettings) -> None:
        self._settings = settings
        self.settled = settings.bot_token is None

    def check(self) -> None:
        s = self._settings
        if s.bot_token is None:
            return
        if s.signing_secret is None and s.app_token is None:
            raise SlackStartupError("SLACK_SIGNING_SECRET is not set — HTTP mode needs it (the app's Basic "
                                    "Information → Signing Secret), or set SLACK_APP_TOKEN to use Socket Mode")
        try:
            self._auth_test()
        except (SlackApiError, SlackClientError, OSError) as exc:
            if not is_transient(exc):
                raise SlackStartupError(slack_problem(exc, s.base_url)) from None
            log.warning("Slack: %s; starting anyway (SMS intake works, Slack posts are retried)",
                        slack_problem(exc, s.base_url))
            log.debug("Slack auth.test failed at start-up", exc_info=True)

    def recheck(self) -> bool:
        """For the scheduler: True once Slack has answered clearly (then the job can stop)."""
        if self.settled:
            return True
        try:
            self._auth_test()
        except (SlackApiError, SlackClientError, OSError) as exc:
            if is_transient(exc):
                log.debug("Slack still unavailable: %s", slack_problem(exc, self._settings.base_url))
                return False
            log.error("Slack: %s", slack_problem(exc, self._settings.base_url))
            self.settled = True
            return True
        return True

    def _auth_test(self) -> None:
        assert self._settings.bot_token is not None
        client = web_client(self._settings.bot_token.get_secret_value(), self._settings.base_url)
        auth = client.auth_test()
        self.settled = True
        log.info("Slack: bot @%s in workspace %s", auth.get("user"), auth.get("team"))


def runtime(
    settings: TriageSettings, config: ClinicConfig, slack_settings: SlackSettings,
    teams_settings: TeamsSettings | None = None,
) -> tuple[Service, SlackApp | None, TeamsInbound | None]:
    """The service with the clinic's messengers: Slack (SLACK_BOT_TOKEN), Teams (TEAMS_APP_ID), both (every card,
    page and line goes to each), else the console."""
    if teams_settings is not None:
        return teams_runtime(settings, config, teams_settings, slack_settings)
    if slack_settings.bot_token is None:
        log.warning("SLACK_BOT_TOKEN is not set: cards are printed to the console instead of posted")
        return build_service(settings, TwilioSettings(), config), None, None
    client: WebClient = web_client(slack_settings.bot_token.get_secret_value(), slack_settings.base_url)
    service = build_service(settings, TwilioSettings(), config, poster=SlackPoster(client))
    # SlackStartup has checked the token (or found Slack unavailable): Bolt must not call auth.test again and
    # fail start-up on a transient error; it authorizes lazily on Slack's first request.
    return service, build_slack_app(service, slack_settings, client, verify_token=False), None


def teams_runtime(settings: TriageSettings, config: ClinicConfig, teams: TeamsSettings,
                  slack_settings: SlackSettings | None = None) -> tuple[Service, SlackApp | None, TeamsInbound]:
    """Teams through the Microsoft packages (the `microsoft` extra), imported only when Teams is configured; and
    Slack beside it when SLACK_BOT_TOKEN is set too."""
    try:
        from handlers.teams.wiring import teams_service
    except ImportError as exc:
        raise SlackStartupError(f"TEAMS_APP_ID is set but the Microsoft packages are not installed ({exc.name}): "
                                "pip install 'medspa-triage-bot[microsoft]'") from None
    if slack_settings is None or slack_settings.bot_token is None:
        wiring = teams_service(settings, config, teams)
        return wiring.service, None, wiring.inbound
    client: WebClient = web_client(slack_settings.bot_token.get_secret_value(), slack_settings.base_url)
    wiring = teams_service(settings, config, teams, slack=SlackPoster(client))
    return wiring.service, build_slack_app(wiring.service, slack_settings, client, verify_token=False), wiring.inbound
