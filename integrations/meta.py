"""Replies to Instagram and Facebook Messenger DMs through Meta's Send API (`POST {graph}/me/messages`).

Meta's messaging window decides how a reply may go: within 24 hours of the patient's last message as a plain
`RESPONSE`; from 24 hours to 7 days only a staff member's reply, with the `HUMAN_AGENT` tag; after that (or for
the bot's own reply after 24 hours) not at all. That last case is a permanent failure whose reason the card shows
("reach the patient another way"), rather than a try Meta would refuse anyway. The window is read from the
bot's records through a `DmHistory` (bot/flows/dm_window.py); Meta's own window errors map to the same failure.

The page token goes only in the Authorization header, never in a URL (which proxies log) or a reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.clock import Clock
from bot.flows.dm_window import DmContext, DmHistory
from bot.outbox.errors import DeliveryError, permanent, rate_limited, transient, unanswered
from integrations.twilio_sms import retry_after_seconds

RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})  # app, user, page and call-volume limits
WINDOW_CODES = frozenset({10})  # "permission denied": what Meta answers outside the window
WINDOW_SUBCODES = frozenset({2018278, 2018109})  # "sent outside of allowed window", "the person is unavailable"
TOKEN_CODES = frozenset({190})  # an expired or revoked access token
ANOTHER_WAY = "reach the patient another way"
STAFF_MAY = "a staff reply from the card can still go within 7 days of their message"


class MetaDm:
    """A PatientMessenger for the `reply.dm` outbox kind; the address is the patient's page-scoped id."""

    def __init__(self, page_token: str, graph_url: str, history: DmHistory, clock: Clock, *,
                 timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self._url = f"{graph_url.rstrip('/')}/me/messages"
        self._history = history
        self._clock = clock
        self._client = client or httpx.Client(timeout=timeout)
        self._headers = {"Authorization": f"Bearer {page_token}"}

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        """Meta's message id. Meta takes no idempotency key: a reply whose answer was lost may go out twice."""
        how = messaging_fields(self._history.context(to, idempotency_key), self._clock.now())
        body = {"recipient": {"id": to}, **how, "message": {"text": text}}
        try:
            response = self._client.post(self._url, json=body, headers=self._headers)
        except httpx.TimeoutException:
            raise unanswered("Meta timed out") from None
        except httpx.TransportError as exc:
            raise transient(f"Meta unreachable: {type(exc).__name__}") from None
        if response.status_code >= 400 or _error(response) is not None:
            raise meta_error(response)
        try:
            return str(response.json()["message_id"])
        except (ValueError, KeyError, TypeError):
            raise unanswered("Meta answered without a message id") from None


def messaging_fields(context: DmContext, now: datetime) -> dict[str, str]:
    """How the reply may be sent in Meta's window, or the permanent failure saying why it cannot."""
    if context.last_inbound is None:
        raise permanent(f"Meta's reply window has closed (the bot has no DM from the patient): {ANOTHER_WAY}")
    age = now - context.last_inbound
    if age <= RESPONSE_WINDOW:
        return {"messaging_type": "RESPONSE"}
    if age <= HUMAN_AGENT_WINDOW and context.by_staff:
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    wrote = f"the patient last wrote {_ago(age)} ago"
    if age <= HUMAN_AGENT_WINDOW:  # the bot's own reply, a day or more late: only a person may use the tag
        raise permanent(f"Meta's reply window has closed ({wrote}) for the bot's replies: {STAFF_MAY}")
    raise permanent(f"Meta's reply window has closed ({wrote}): {ANOTHER_WAY}")


def meta_error(response: httpx.Response) -> DeliveryError:
    """Meta's error answer as a DeliveryError; the reason carries codes, never Meta's text (it may quote)."""
    error = _error(response) or {}
    code, subcode = _int(error.get("code")), _int(error.get("error_subcode"))
    status = response.status_code
    codes = ", ".join(f"{name} {value}" for name, value in (("code", code), ("subcode", subcode)) if value is not None)
    label = f"{status} ({codes})" if codes else str(status)
    if status == 429 or code in RATE_LIMIT_CODES:
        return rate_limited(f"Meta rate limited {label}", retry_after_seconds(response))
    if status >= 500 or error.get("is_transient") is True:
        return unanswered(f"Meta server error {label}")
    if code in TOKEN_CODES:
        return permanent(f"Meta refused the page token {label}: check META_PAGE_TOKEN")
    if code in WINDOW_CODES or subcode in WINDOW_SUBCODES:
        return permanent(f"Meta's reply window has closed (Meta refused the reply: {label}): {ANOTHER_WAY}")
    return permanent(f"Meta refused the message: {label}")


def _error(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ago(age: timedelta) -> str:
    hours = int(age.total_seconds() // 3600)
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"
