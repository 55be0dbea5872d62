"""`triage-bot serve`: the HTTP app (webhooks, Slack), and the scheduled jobs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.config.models import ClinicConfig
from bot.settings import TriageSettings
from handlers.http_app import create_app
from handlers.jobs import Jobs
from handlers.runtime import runtime
from integrations.slack.settings import SlackSettings

log = logging.getLogger(__name__)

OUTBOX_EVERY_SECONDS = 5
SWEEP_EVERY_SECONDS = 60
SLA_EVERY_SECONDS = 30


def serve(settings: TriageSettings, config: ClinicConfig) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    slack_settings = SlackSettings()
    service, slack = runtime(settings, config, slack_settings)
    jobs = Jobs(service)
    scheduler = BackgroundScheduler(timezone=UTC)
    every = {"trigger": "interval", "max_instances": 1, "coalesce": True}
    outbox_job = scheduler.add_job(service.run_outbox, seconds=OUTBOX_EVERY_SECONDS, id="outbox", **every)
    scheduler.add_job(service.sweep, seconds=SWEEP_EVERY_SECONDS, id="triage-retry", **every)
    scheduler.add_job(jobs.sweep_sla, seconds=SLA_EVERY_SECONDS, id="sla", **every)
    scheduler.add_job(jobs.handoff, seconds=SWEEP_EVERY_SECONDS, id="oncall-handoff", **every)
    if config.digest.enabled:
        at = config.digest.post_at
        scheduler.add_job(lambda: jobs.digest(scheduled=True), CronTrigger(hour=at.hour, minute=at.minute,
                          timezone=config.clinic.tz), id="digest", max_instances=1, coalesce=True)

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
