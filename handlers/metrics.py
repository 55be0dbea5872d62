"""Prometheus metrics for GET /metrics, with the official client.

The figures that live in the database (messages in, tickets, the outbox, SLA breaches) are read from it at scrape
time by a custom Collector, so they are right across any number of instances and need no hook in the core.
Classification latency is per process: a Histogram observed by a timing wrapper around the classifier (wired in
handlers/wiring.py). Each app has its own CollectorRegistry (tests build many apps in one process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.classify.result import Classification, Classifier
from bot.domain import Category
from bot.outbox.queue import OutboxStatus
from bot.storage.models import InboundMessageRow, OutboxRow, TicketRow

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class TimedClassifier:
    """The classifier, with each call's duration observed (the Histogram is registered by each app that shows it)."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        self.latency = Histogram("triage_classification_seconds", "Time to classify one message (this process)",
                                 buckets=LATENCY_BUCKETS, registry=None)

    def classify(self, text: str) -> Classification:
        started = time.perf_counter()
        try:
            return self.inner.classify(text)
        finally:
            self.latency.observe(time.perf_counter() - started)

    def __getattr__(self, name: str) -> object:  # anything else the classifier offers (start-up, warm-up)
        return getattr(self.inner, name)


class DatabaseCollector(Collector):
    """Counts read from the database at scrape time. A database that cannot be read gives `triage_up 0`."""

    def __init__(self, sessions: Callable[[], Session], now: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._now = now

    def describe(self) -> list[Metric]:
        return []  # collected lazily: no database query when the collector is registered

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("triage_database_up", "1 when the metrics could be read from the database")
        try:
            with self._sessions() as session:
                metrics = list(self._read(session, self._now()))
        except SQLAlchemyError as exc:
            log.warning("metrics: the database could not be read (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self, session: Session, now: datetime) -> Iterator[Metric]:
        messages = CounterMetricFamily("triage_messages_received", "Inbound messages stored, by channel",
                                       labels=["channel"])
        for channel, count in session.execute(
                select(InboundMessageRow.channel, func.count()).group_by(InboundMessageRow.channel)):
            messages.add_metric([channel], count)
        yield messages

        tickets = CounterMetricFamily("triage_tickets", "Tickets opened, by category and route (the role channel, "
                                      "or none for the ones the bot answered or that collect quietly)",
                                      labels=["category", "route"])
        for category, role, count in session.execute(
                select(TicketRow.category, TicketRow.role, func.count()).group_by(TicketRow.category, TicketRow.role)):
            tickets.add_metric([category, role or "none"], count)
        yield tickets

        pending = OutboxRow.status == OutboxStatus.PENDING.value
        depth = GaugeMetricFamily("triage_outbox_depth", "Outbox items not yet delivered, by kind", labels=["kind"])
        for kind, count in session.execute(select(OutboxRow.kind, func.count()).where(pending)
                                           .group_by(OutboxRow.kind)):
            depth.add_metric([kind], count)
        yield depth

        oldest = session.scalar(select(func.min(OutboxRow.created_at)).where(pending))
        age = GaugeMetricFamily("triage_outbox_oldest_pending_age_seconds",
                                "Age of the oldest undelivered outbox item (0 when there is none)")
        age.add_metric([], max(0.0, (now - _aware(oldest, now)).total_seconds()) if oldest else 0.0)
        yield age

        deliveries = GaugeMetricFamily("triage_outbox_deliveries", "Outbox items by kind and result: sent, failed "
                                       "(gave up), retrying (failed at least once, still pending)",
                                       labels=["kind", "result"])
        retried_once = (OutboxRow.attempts > literal_column("0")).label("retried")  # one expression, grouped by
        for kind, status, retried, count in session.execute(                   # name (PostgreSQL needs the same)
                select(OutboxRow.kind, OutboxRow.status, retried_once, func.count())
                .group_by(OutboxRow.kind, OutboxRow.status, retried_once)):
            if status == OutboxStatus.PENDING.value:
                if retried:
                    deliveries.add_metric([kind, "retrying"], count)
            else:
                deliveries.add_metric([kind, str(status)], count)
        yield deliveries

        breaches = GaugeMetricFamily("triage_sla_breaches", "Tickets whose first response came after the due time, "
                                     "or is overdue (quiet tickets never breach)", labels=["category"])
        late = or_(TicketRow.first_response_at > TicketRow.due_at,
                   and_(TicketRow.first_response_at.is_(None), TicketRow.due_at < now))
        for category, count in session.execute(
                select(TicketRow.category, func.count())
                .where(TicketRow.due_at.is_not(None), TicketRow.category != Category.OTHER.value, late)
                .group_by(TicketRow.category)):
            breaches.add_metric([category], count)
        yield breaches


def _aware(value: datetime, like: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=like.tzinfo)


def registry_for(sessions: Callable[[], Session], now: Callable[[], datetime], classifier: object) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(sessions, now))
    latency = getattr(classifier, "latency", None)
    if isinstance(latency, Histogram):
        registry.register(latency)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
