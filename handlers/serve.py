"""`triage-bot serve`: the HTTP app, plus the scheduled jobs (outbox delivery, triage retries)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler

from bot.config.models import ClinicConfig
from bot.settings import TriageSettings, TwilioSettings
from handlers.http_app import create_app
from handlers.wiring import build_service

log = logging.getLogger(__name__)

OUTBOX_EVERY_SECONDS = 5
SWEEP_EVERY_SECONDS = 60


def serve(settings: TriageSettings, config: ClinicConfig) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    service = build_service(settings, TwilioSettings(), config)
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
    log.info("triage-bot serving %s on http://%s:%s", config.clinic.name, settings.host, settings.port)
    try:
        uvicorn.run(create_app(service), host=settings.host, port=settings.port, log_level="info")
    finally:
        scheduler.shutdown(wait=False)
        service.db.dispose()
    return 0
