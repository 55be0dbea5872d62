"""The shared mailbox's scheduled jobs in `serve`: the delta-query poll every GRAPH_MAIL_POLL_SECONDS (woken at once
by a change notification), and where TRIAGE_PUBLIC_URL is set the subscription kept alive. Both are safe to run
on several instances at once (intake stores each email once; renewing twice renews).

A notification that comes while a poll runs is not dropped: that poll reads the inbox once more when it is done
(the email may have arrived after its delta page was read)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler

from bot.settings import GraphMailSettings
from handlers.mail.graph_poll import poll_graph_mailbox
from handlers.mail.graph_subscription import EVERY_SECONDS, keep_subscribed
from handlers.service import Service
from integrations.graph_mail import MailboxError

log = logging.getLogger(__name__)

POLL_JOB = "graph-mail-poll"
SUBSCRIPTION_JOB = "graph-mail-subscription"
FIRST_SUBSCRIPTION_DELAY = timedelta(seconds=30)  # Graph checks the notification URL: the server must be up
MIN_POLL_SECONDS = 10
MAX_READS = 5  # one run's reads, however many notifications keep coming (the next run goes on)


def schedule_graph_mail(scheduler: BaseScheduler, service: Service,
                        settings: GraphMailSettings | None = None) -> None:
    intake = service.graph_mail
    if intake is None:
        return
    settings = settings or GraphMailSettings()
    every = {"trigger": "interval", "max_instances": 1, "coalesce": True}
    now = datetime.now(UTC)
    job = PollJob(service, scheduler)
    scheduler.add_job(job.run, seconds=max(settings.mail_poll_seconds, MIN_POLL_SECONDS), id=POLL_JOB,
                      next_run_time=now, **every)
    intake.wake = job.wake
    if service.settings.public_url.strip():
        scheduler.add_job(lambda: run_subscription(service), seconds=EVERY_SECONDS, id=SUBSCRIPTION_JOB,
                          next_run_time=now + FIRST_SUBSCRIPTION_DELAY, **every)
    else:
        log.info("Graph mailbox: TRIAGE_PUBLIC_URL is not set, so no change notifications: polled every %s s",
                 settings.mail_poll_seconds)


class PollJob:
    def __init__(self, service: Service, scheduler: BaseScheduler) -> None:
        self._service = service
        self._scheduler = scheduler
        self._again = threading.Event()
        self._running = threading.Lock()

    def wake(self) -> None:
        """A change notification: poll now, or once more after the poll that is running."""
        self._again.set()
        if not self._running.locked():
            _run_now(self._scheduler, POLL_JOB)

    def run(self) -> None:
        with self._running:
            for _ in range(MAX_READS):
                self._again.clear()
                run_poll(self._service)
                if not self._again.is_set():
                    break
        if self._again.is_set():  # woken as this run ended
            _run_now(self._scheduler, POLL_JOB)


def run_poll(service: Service) -> None:
    """A failure is one log line with what to check; the next poll goes on from where this one stopped."""
    try:
        poll_graph_mailbox(service)
    except MailboxError as exc:
        log.warning("Graph mailbox: %s", exc.reason)


def run_subscription(service: Service) -> None:
    try:
        keep_subscribed(service)
    except MailboxError as exc:
        log.warning("Graph mailbox: the change-notification subscription failed (%s); polling goes on", exc.reason)


def _run_now(scheduler: BaseScheduler, job_id: str) -> None:
    try:
        scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
    except Exception as exc:  # the scheduler stopping: the notification is only a hint, the poll is the net
        log.debug("Graph mailbox: could not wake the poll (%s)", type(exc).__name__)
