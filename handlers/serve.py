"""`triage-bot serve`: the HTTP app (webhooks, Slack), and the scheduled jobs."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.classify.model import warm_up
from bot.config.models import ClinicConfig
from bot.outbox.loop import OutboxLoop
from bot.respond import booking_intent
from bot.settings import TriageSettings
from bot.storage.db import SchemaNotCurrent
from handlers.doctor.slack import slack_problem
from handlers.http_app import create_app
from handlers.intake_writer import IntakeWriter
from handlers.jobs import Jobs
from handlers.logs import configure as configure_logs
from handlers.mail.graph_intake import MailboxSetupError
from handlers.mail.imap import ImapSettings
from handlers.mail.polling import MailPolling, mailbox
from handlers.runtime import SlackStartup, SlackStartupError, is_transient, runtime
from handlers.triage_worker import TriageWorkers
from integrations.email_smtp import SmtpSettings
from integrations.slack.settings import SlackSettings
from integrations.teams.settings import TeamsSettings

log = logging.getLogger(__name__)

OUTBOX_THREADS = 2  # delivery loops per instance (each sleeps until its next due row or a wake)
PRUNE_EVERY_SECONDS = 6 * 3600  # old retry keys of the seen-deliveries table
SWEEP_EVERY_SECONDS = 60
SLA_EVERY_SECONDS = 30
SLACK_RETRY_SECONDS = 60


def serve(settings: TriageSettings, config: ClinicConfig) -> int:
    configure_logs()  # one JSON object per line (handlers/logs.py), ids as fields, no patient details
    try:
        return _serve(settings, config)
    except (SlackStartupError, SchemaNotCurrent, MailboxSetupError) as exc:
        # A vendor refusing us, or a schema not yet migrated, is the admin's to fix, not a bug: one line with
        # what to do, no traceback.
        print(f"triage-bot serve: {exc}", file=sys.stderr)
        return 2


def _serve(settings: TriageSettings, config: ClinicConfig) -> int:
    slack_settings = SlackSettings()
    startup = SlackStartup(slack_settings)
    startup.check()
    try:
        teams_settings = TeamsSettings.from_env()
    except ValueError as exc:
        raise SlackStartupError(f"Teams: {exc}") from None
    service, slack, teams = runtime(settings, config, slack_settings, teams_settings)
    jobs = Jobs(service)
    scheduler = BackgroundScheduler(timezone=UTC)
    every = {"trigger": "interval", "max_instances": 1, "coalesce": True}
    scheduler.add_job(jobs.sweep_sla, seconds=SLA_EVERY_SECONDS, id="sla", **every)
    scheduler.add_job(jobs.handoff, seconds=SWEEP_EVERY_SECONDS, id="oncall-handoff", **every)
    scheduler.add_job(jobs.prune, seconds=PRUNE_EVERY_SECONDS, id="prune-seen", **every)
    if config.digest.enabled:
        at = config.digest.post_at
        scheduler.add_job(lambda: jobs.digest(scheduled=True), CronTrigger(hour=at.hour, minute=at.minute,
                          timezone=config.clinic.tz), id="digest", max_instances=1, coalesce=True)
    imap = ImapSettings()
    if imap.configured:  # patients' email from an IMAP mailbox; several instances polling it just dedupe
        polling = MailPolling(service, mailbox(imap, SmtpSettings()))
        scheduler.add_job(polling.run, seconds=imap.poll_seconds, id="imap-poll",
                          next_run_time=datetime.now(UTC), **every)
    if service.graph_mail is not None:  # the Microsoft 365 shared mailbox (GRAPH_MAILBOX): msgraph-sdk only then
        from handlers.mail.graph_jobs import schedule_graph_mail

        schedule_graph_mail(scheduler, service)

    outbox = OutboxLoop(service.outbox, service.clock, threads=OUTBOX_THREADS)
    service.on_work = outbox.wake
    # Triage off the request path: `take` stores and wakes these; they also poll every second (retries, crashes).
    triage_workers = TriageWorkers(service)
    service.on_triage = triage_workers.wake
    service.writer = IntakeWriter(service.db)  # webhooks' messages stored many to a transaction under a burst
    if not startup.settled:
        # Slack was rate limited, down or unreachable: ask again until it answers clearly.
        scheduler.add_job(until_done(scheduler, "slack-check", startup.recheck), seconds=SLACK_RETRY_SECONDS,
                          id="slack-check", **every)
    if slack is not None and slack_settings.app_token is not None:
        # Socket Mode: Slack connects out to us, so no public URL is needed.
        socket = SocketModeHandler(slack.bolt, slack_settings.app_token.get_secret_value())
        if not connect_socket_mode(socket, slack_settings.base_url):
            def reconnect() -> bool:
                try:
                    return connect_socket_mode(socket, slack_settings.base_url)
                except SlackStartupError as exc:
                    log.error("Slack: %s", exc)  # too late to refuse to start: say it once and stop trying
                    return True

            scheduler.add_job(until_done(scheduler, "slack-socket", reconnect), seconds=SLACK_RETRY_SECONDS,
                              id="slack-socket", **every)
    scheduler.start()
    service.writer.start()
    triage_workers.start()
    outbox.start()
    if slack is not None and slack_settings.app_token is None:
        log.info("Slack in HTTP mode: point the app's request URLs at /slack/events")
    if teams is not None:
        log.info("Teams: the bot's messaging endpoint is /teams/messages")
    log.info("triage-bot serving %s on http://%s:%s", config.clinic.name, settings.host, settings.port)
    # The sentence encoder and dateparser's data load in the background (~2 s) while the server starts.
    threading.Thread(target=warm_up_triage, name="warm-up", daemon=True).start()
    try:
        app = create_app(service, slack, teams=teams, workers=lambda: {
            "scheduler": bool(scheduler.running), "triage": triage_workers.alive, "outbox": outbox.alive(),
            "intake": service.writer.alive if service.writer else False})
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", log_config=None)
    finally:
        service.writer.stop()
        outbox.stop()
        triage_workers.stop()
        scheduler.shutdown(wait=False)
        if service.graph_mail is not None:
            service.graph_mail.mailbox.close()
        service.db.dispose()
    return 0


def warm_up_triage() -> None:
    """Load what triage needs before the first message needs it; a failure here is retried at first use."""
    try:
        warm_up(background=False)
        booking_intent.warm_up()
    except Exception as exc:
        log.warning("warm-up failed (%s); triage loads what it needs at the first message", type(exc).__name__)
        return
    # The model, the parsers' data and the imported code are a few million objects that live as long as the
    # process: kept out of the collector's full passes, which would otherwise stop every thread for a tenth of
    # a second each time (seen as webhook acks of 120-200 ms under a burst).
    gc.collect()
    gc.freeze()


def until_done(scheduler: BackgroundScheduler, job_id: str, attempt: Callable[[], bool]) -> Callable[[], None]:
    """A job that runs `attempt` until it returns True, then removes itself."""

    def run() -> None:
        if attempt():
            scheduler.remove_job(job_id)

    return run


def connect_socket_mode(socket: SocketModeHandler, api_url: str) -> bool:
    """True once connected; False (one line logged) on a transient failure; a refused app token stops start-up."""
    try:
        socket.connect()
    except (SlackApiError, SlackClientError, OSError) as exc:
        problem = slack_problem(exc, api_url, app_token=True)
        if not is_transient(exc):
            raise SlackStartupError(f"Socket Mode: {problem}") from None
        log.warning("Slack Socket Mode: %s; retrying every %s s", problem, SLACK_RETRY_SECONDS)
        return False
    except Exception as exc:  # the Socket Mode client's own failures (a malformed answer, a websocket error)
        log.warning("Slack Socket Mode: could not connect (%s); retrying every %s s", type(exc).__name__,
                    SLACK_RETRY_SECONDS)
        log.debug("Socket Mode connect failed", exc_info=True)
        return False
    log.info("Slack connected in Socket Mode")
    return True
