"""Keeping the seen-deliveries table small: a messenger's retry keys are only needed while it may retry.

Slack retries an event for about an hour and never retries a click or a command after its 3 seconds, so its
keys are dropped after two days. The SLA ladder's, hand-off's and digest's once-keys stay: they are what keeps a
step from firing twice, and there are few of them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.storage.models import SeenDeliveryRow

RETRY_KEYS = ("slack-event:", "slack-interaction:", "slack-command:")
KEEP = timedelta(days=2)


def prune_seen(session: Session, now: datetime) -> int:
    """Delete retry keys older than `KEEP`; how many went."""
    cutoff = now - KEEP
    removed = 0
    for prefix in RETRY_KEYS:
        result = session.execute(delete(SeenDeliveryRow).where(
            SeenDeliveryRow.key.startswith(prefix, autoescape=True), SeenDeliveryRow.at < cutoff))
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
