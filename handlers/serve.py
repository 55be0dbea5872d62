"""`triage-bot serve`: the HTTP app, plus the scheduled jobs (outbox delivery, triage retries)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.config.models import ClinicConfig
from bot.settings import TriageSettings, TwilioSettings
from handlers.http_app import create_app
from handlers.slack.app import build_slack_app
from handlers.wiring import build_service
from integrations.slack.poster import SlackPoster, web_client
from integrations.slack.settings import SlackSettings

log = logging.getLogger(__name__)

OUTBOX_EVERY_SECONDS = 5
SWEEP_EVERY_SECONDS = 60


def serve(settings: TriageSettings, config: ClinicConfig) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    slack_settings = SlackSettings()
    client = poster = None
    if slack_settings.enabled and slack_settings.bot_token is not None:
        client = web_client(slack_settings.bot_token.get_secret_value(), slack_settings.base_url)
        poster = SlackPoster(client)
    else:
        log.warning("SLACK_BOT_TOKEN is not set: cards are printed to the console instead of posted")
    service = build_service(settings, TwilioSettings(), config, poster=poster)
    slack = build_slack_app(service, slack_settings, client) if client is not None else None
    scheduler = BackgroundScheduler(timezone=UTC)
    outbox_job = scheduler.add_job(
        service.run_outbox, "interval", seconds=OUTBOX_EVERY_SECONDS, id="outbox", max_instances=1, coalesce=True
    )
    scheduler.add_job(service.sweep, "interval", seconds=SWEEP_EVERY_SECONDS, id="sweep", max_instances=1,
                      coalesce=True)

    def wake_outbox() -> None:
        outbox_job.modify(next_run_time=datetime.now(UTC))

    service.on_work = wake_outbox
    scheduler.start()
    if slack is not None and slack_settings.app_token is not None:
        # Socket Mode: Slack connects out to us, so no public URL is needed.
        SocketModeHandler(slack.bolt, slack_settings.app_token.get_secret_value()).connect()
        log.info("Slack connected in Socket Mode")
    elif slack is not None:
        log.info("Slack in HTTP mode: point the app's request URLs at /slack/events")
    log.info("triage-bot serving %s on http://%s:%s", config.clinic.name, settings.host, settings.port)
    try:
        uvicorn.run(create_app(service, slack), host=settings.host, port=settings.port, log_level="info")
    finally:
        scheduler.shutdown(wait=False)
        service.db.dispose()
    return 0
