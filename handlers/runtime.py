"""The service as `serve` and the posting CLI commands run it: Slack when configured, else the console."""

from __future__ import annotations

import logging

from bot.config.models import ClinicConfig
from bot.settings import TriageSettings, TwilioSettings
from handlers.service import Service
from handlers.slack.app import SlackApp, build_slack_app
from handlers.wiring import build_service
from integrations.slack.poster import SlackPoster, web_client
from integrations.slack.settings import SlackSettings

log = logging.getLogger(__name__)


def runtime(
    settings: TriageSettings, config: ClinicConfig, slack_settings: SlackSettings
) -> tuple[Service, SlackApp | None]:
    if slack_settings.bot_token is None:
        log.warning("SLACK_BOT_TOKEN is not set: cards are printed to the console instead of posted")
        return build_service(settings, TwilioSettings(), config), None
    client = web_client(slack_settings.bot_token.get_secret_value(), slack_settings.base_url)
    service = build_service(settings, TwilioSettings(), config, poster=SlackPoster(client))
    return service, build_slack_app(service, slack_settings, client)
