"""Keeping a change-notification subscription on the shared mailbox's inbox, where TRIAGE_PUBLIC_URL is set.

Graph then POSTs to TRIAGE_PUBLIC_URL + /inbound/graph-mail when an email arrives (handlers/mail/graph_notify.py),
and the bot reads the inbox at once instead of at the next poll; the delta-query poll goes on regardless, the
safety net for a notification lost or a subscription lapsed.

A subscription on messages lives at most 4230 minutes: one is asked for `LIFETIME`, and renewed (PATCH) once less
than `RENEW_WITHIN` of it is left; the job runs hourly, so a missed run or two does not lapse it. One Graph no
longer knows (404 on renewal) is created again. Its id and expiry are kept in channel_cursors, so every instance
renews the same one (two renewing at once both succeed). Safe to run twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.cursors import read_cursor, write_cursor
from handlers.mail.graph_intake import subscription_cursor
from handlers.service import Service
from integrations.graph_mail import GraphMailbox, MailboxError, SubscriptionInfo

log = logging.getLogger(__name__)

NOTIFY_PATH = "/inbound/graph-mail"
LIFETIME = timedelta(minutes=4200)  # Graph's most for messages is 4230 minutes
RENEW_WITHIN = timedelta(hours=24)
EVERY_SECONDS = 3600


@dataclass(frozen=True)
class SubscriptionState:
    id: str
    expires: datetime
    action: str  # "created", "renewed" or "kept"


def notification_url(public_url: str) -> str:
    return public_url.strip().rstrip("/") + NOTIFY_PATH


def keep_subscribed(service: Service) -> SubscriptionState | None:
    """None when there is nothing to do (no TRIAGE_PUBLIC_URL, no mailbox). MailboxError when Graph refuses."""
    public_url = service.settings.public_url.strip()
    if service.graph_mail is None or not public_url:
        return None
    mailbox = service.graph_mail.mailbox
    name = subscription_cursor(mailbox.address)
    now = service.clock.now()
    with service.db.read() as session:
        state = read_cursor(session, name) or {}
    known = _known(state)
    if known is not None and known.expires - now > RENEW_WITHIN:
        return SubscriptionState(known.id, known.expires, "kept")
    action = "renewed"
    info: SubscriptionInfo | None = None
    if known is not None and known.expires > now:
        try:
            info = mailbox.renew(known.id, now + LIFETIME)
        except MailboxError as exc:
            if exc.status != "404":
                raise
            log.warning("Graph mailbox: the subscription is gone (404): creating another")
    if info is None:
        info = _create(mailbox, notification_url(public_url), now)
        action = "created"
    with service.db.transaction() as session:
        write_cursor(session, name, {"id": info.id, "expires": info.expires.isoformat()}, now)
    log.info("Graph mailbox: subscription %s %s until %s", info.id, action, info.expires.isoformat())
    return SubscriptionState(info.id, info.expires, action)


def _create(mailbox: GraphMailbox, url: str, now: datetime) -> SubscriptionInfo:
    return mailbox.subscribe(url, mailbox.client_state, now + LIFETIME)


def _known(state: dict[str, object]) -> SubscriptionInfo | None:
    given, expires = state.get("id"), state.get("expires")
    if not isinstance(given, str) or not given or not isinstance(expires, str):
        return None
    try:
        when = datetime.fromisoformat(expires)
    except ValueError:
        return None
    return SubscriptionInfo(given, when) if when.tzinfo is not None else None
