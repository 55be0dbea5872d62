"""The Bolt app: built once, listeners registered explicitly, served over HTTP or Socket Mode."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient

from bot.flows.actions import TicketActions
from handlers.service import Service
from handlers.slack import buttons, commands, home, views
from handlers.slack.context import SlackContext
from integrations.slack.settings import SlackSettings


@dataclass(frozen=True)
class SlackApp:
    bolt: App
    context: SlackContext
    signing_secret: str


def build_slack_app(service: Service, settings: SlackSettings, client: WebClient) -> SlackApp:
    secret = settings.signing_secret.get_secret_value() if settings.signing_secret else ""
    if not secret and not settings.socket_mode:
        raise ValueError("SLACK_SIGNING_SECRET is needed in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)")
    bolt = App(
        client=client,
        signing_secret=secret or None,
        request_verification_enabled=bool(secret),
        # The listeners only ack, change the database and queue Slack calls, so they finish well inside
        # Slack's 3 seconds; running them before responding keeps every click handled exactly once.
        process_before_response=True,
    )
    context = SlackContext(service=service, client=client,
                           actions=TicketActions(db=service.db, config=service.config, clock=service.clock))
    for group in (buttons, views, commands, home):
        group.register(bolt, context)
    return SlackApp(bolt=bolt, context=context, signing_secret=secret)
