"""What /healthz reports: each component, from the database alone (no vendor is called per request).

The vendors' state is what the outbox last saw: a Slack or Twilio outage shows as "degraded" (200), because the
instance still takes patients' messages; only a database that cannot be used is "unhealthy" (503).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.outbox.queue import OutboxKind, OutboxStatus
from bot.storage.models import OutboxRow
from handlers.doctor.database import current_revisions, head_revisions

BACKLOG_STALE = timedelta(minutes=15)  # an undelivered row this old: the worker is stuck or a vendor is down
CHAT_KINDS = tuple(kind.value for kind in OutboxKind if kind.value.startswith("chat."))
RECENT = 20  # rows looked at to find the last finished attempt of a transport


class Health:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._heads: set[str] | None = None

    def heads(self) -> set[str]:
        if self._heads is None:  # the migration scripts do not change while the process runs
            self._heads = head_revisions(self._engine)
        return self._heads

    def report(self, session_factory: Any, now: datetime, *, slack: bool, kinds: frozenset[str],
               clinic: str, twilio_needed: bool = False) -> tuple[int, dict[str, Any]]:
        problems: list[str] = []
        try:
            current = current_revisions(self._engine)
        except SQLAlchemyError:
            return 503, {"status": "unhealthy", "clinic": clinic, "problems": ["database unreachable"],
                         "components": {"database": {"ok": False}}}
        heads = self.heads()
        components: dict[str, Any] = {
            "database": {"ok": True},
            "migrations": {"ok": current == heads, "at": sorted(current), "head": sorted(heads)},
        }
        if current != heads:
            problems.append("database schema is not at the migrations' head")
        try:
            with session_factory() as session:
                components["outbox"] = _backlog(session, now)
                components["slack"] = {"configured": slack, "last_delivery": _last(session, CHAT_KINDS)}
                components["twilio"] = _transport(session, OutboxKind.REPLY_SMS, kinds) | {"needed": twilio_needed}
                components["email"] = _transport(session, OutboxKind.REPLY_EMAIL, kinds)
        except SQLAlchemyError:
            return 503, {"status": "unhealthy", "clinic": clinic, "problems": ["database unreadable"],
                         "components": components | {"database": {"ok": False}}}
        if components["outbox"]["oldest_pending_seconds"] > BACKLOG_STALE.total_seconds():
            problems.append("outbox backlog: the oldest undelivered item has waited over 15 minutes")
        if twilio_needed and not components["twilio"]["configured"]:
            problems.append("twilio: not configured, and the clinic's config needs it (see `triage-bot doctor`)")
        for name in ("slack", "twilio", "email"):
            last = components[name]["last_delivery"]
            if last is not None and not last["ok"]:
                problems.append(f"{name}: the last delivery failed")
        if not components["migrations"]["ok"]:
            status, code = "unhealthy", 503
        else:
            status, code = ("degraded" if problems else "ok"), 200
        return code, {"status": status, "clinic": clinic, "problems": problems, "components": components}


def _backlog(session: Session, now: datetime) -> dict[str, Any]:
    pending = OutboxRow.status == OutboxStatus.PENDING.value
    count, oldest = session.execute(select(func.count(OutboxRow.id), func.min(OutboxRow.id)).where(pending)).one()
    age = 0.0
    if oldest is not None:
        created = session.scalar(select(OutboxRow.created_at).where(OutboxRow.id == oldest))
        age = max(0.0, (now - created).total_seconds()) if created else 0.0
    failed = session.scalar(select(func.count(OutboxRow.id)).where(
        OutboxRow.status == OutboxStatus.FAILED.value, OutboxRow.created_at >= now - timedelta(days=1)))
    return {"pending": int(count), "oldest_pending_seconds": round(age), "failed_last_24h": int(failed or 0)}


def _transport(session: Session, kind: str, kinds: frozenset[str]) -> dict[str, Any]:
    return {"configured": kind in kinds, "last_delivery": _last(session, (kind,))}


def _last(session: Session, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """The last finished attempt of these kinds: sent, given up, or failed and waiting to retry. No error text:
    a vendor's error may quote a patient's phone number, and /healthz is not behind a login."""
    rows = session.execute(
        select(OutboxRow.kind, OutboxRow.status, OutboxRow.last_error, OutboxRow.sent_at)
        .where(OutboxRow.kind.in_(kinds), OutboxRow.attempts > 0)
        .order_by(OutboxRow.id.desc()).limit(RECENT)
    ).all()
    for row in rows:
        if row.status == OutboxStatus.SENT.value:
            return {"ok": True, "kind": row.kind, "at": row.sent_at.isoformat() if row.sent_at else None}
        if row.status == OutboxStatus.FAILED.value or row.last_error:
            return {"ok": False, "kind": row.kind, "retrying": row.status == OutboxStatus.PENDING.value}
    return None


ALERT_KIND = OutboxKind.CHAT_ALERT.value
GAVE_UP = ("failed", "dead")  # an alert the outbox stopped trying to deliver


def readiness(engine: Engine, heads: set[str], session_factory: Any, now: datetime,
              workers: dict[str, bool] | None) -> tuple[int, dict[str, Any]]:
    """/readyz: 200 only when the database answers, its schema is at the head and every worker runs; 503 with the
    reasons otherwise. Undelivered alerts and the outbox backlog are shown without failing the check."""
    problems: list[str] = []
    checks: dict[str, Any] = {}
    try:
        current = current_revisions(engine)
        checks["database"] = {"ok": True}
    except SQLAlchemyError:
        return 503, {"status": "not ready", "problems": ["database unreachable"],
                     "checks": {"database": {"ok": False}}}
    checks["migrations"] = {"ok": current == heads, "at": sorted(current), "head": sorted(heads)}
    if current != heads:
        problems.append("database schema is not at the migrations' head")
    if workers is not None:
        checks["workers"] = dict(sorted(workers.items()))
        problems.extend(f"worker {name} is not running" for name, alive in sorted(workers.items()) if not alive)
    body: dict[str, Any] = {"checks": checks}
    try:
        with session_factory() as session:
            backlog = _backlog(session, now)
            body["outbox"] = {key: backlog[key] for key in ("pending", "oldest_pending_seconds")}
            ids = session.scalars(select(OutboxRow.id).where(
                OutboxRow.kind == ALERT_KIND, OutboxRow.status.in_(GAVE_UP),
                OutboxRow.created_at >= now - timedelta(days=1)).order_by(OutboxRow.id)).all()
            body["undelivered_alerts"] = {"count": len(ids), "outbox_ids": list(ids[:50])}
    except SQLAlchemyError:
        checks["database"] = {"ok": False}
        problems.append("database unreadable")
    code = 503 if problems else 200
    return code, {"status": "ready" if code == 200 else "not ready", "problems": problems, **body}
