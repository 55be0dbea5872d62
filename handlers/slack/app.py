"""The Bolt app: built once, listeners registered explicitly, served over HTTP or Socket Mode."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

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


def build_slack_app(service: Service, settings: SlackSettings, client: WebClient, *,
                    verify_token: bool = True) -> SlackApp:
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
        token_verification_enabled=verify_token,  # serve checks the token itself (a 429 is not a bad token)
    )
    context = SlackContext(service=service, client=client,
                           actions=TicketActions(db=service.db, config=service.config, clock=service.clock))
    for group in (buttons, views, commands, home):
        group.register(bolt, context)
    bolt.error(_log_listener_error)
    return SlackApp(bolt=bolt, context=context, signing_secret=secret)


log = logging.getLogger(__name__)


def _log_listener_error(error: Exception) -> None:
    """A Slack call that failed inside a listener is one line (Slack's answer at debug level); a traceback is
    kept for our own bugs."""
    if isinstance(error, SlackApiError):
        data = error.response.data if isinstance(error.response.data, dict) else {}
        log.warning("Slack answered %s to a call from a listener: %s", error.response.status_code,
                    data.get("error", "no error code"))
        log.debug("Slack's answer: %s", data)
    elif isinstance(error, SlackClientError | OSError):
        log.warning("Slack could not be reached from a listener: %s", type(error).__name__)
    else:
        log.error("a Slack listener failed", exc_info=error)
