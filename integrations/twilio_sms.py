"""SMS to patients through Twilio's Messages API. The base URL is configurable for proxies and tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from bot.outbox.errors import permanent, rate_limited, transient


class TwilioSms:
    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_url: str,
                 *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self._sid = account_sid
        self._from = from_number
        self._url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._client = client or httpx.Client(timeout=timeout, auth=(account_sid, auth_token))

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        return post_for_sid(self._client, self._url, {"To": to, "From": self._from, "Body": text},
                            idempotency_key, what="message")

    def find_sent(self, to: str, text: str, since: datetime, *, not_these: frozenset[str] = frozenset()) -> str | None:
        """The sid of a message with this body sent from our number to `to` at or after `since` (to the second)
        and not among `not_these`, or None. Twilio's Messages API takes no idempotency key: this is how a
        restarted bot finds out whether a text it was sending when it died went out."""
        params = {"To": to, "From": self._from, "DateSent>": since.astimezone(UTC).date().isoformat(),
                  "PageSize": "50"}
        response = _call(lambda: self._client.get(self._url, params=params), what="message list")
        try:
            messages = response.json()["messages"]
        except (ValueError, KeyError, TypeError):
            raise transient("Twilio answered the message list without messages") from None
        floor = since.astimezone(UTC).replace(microsecond=0)
        for message in messages if isinstance(messages, list) else []:
            if not isinstance(message, dict) or message.get("body") != text or message.get("sid") in not_these:
                continue
            try:
                created = parsedate_to_datetime(str(message.get("date_created")))
            except (TypeError, ValueError):
                continue
            if created.tzinfo is not None and created >= floor:
                return str(message["sid"])
        return None


def post_for_sid(client: httpx.Client, url: str, data: dict[str, str], idempotency_key: str, *, what: str) -> str:
    """POST to a Twilio create endpoint; the new resource's sid, or a DeliveryError saying whether to retry."""
    response = _call(lambda: client.post(url, data=data, headers={"I-Twilio-Idempotency-Token": idempotency_key}),
                     what=what)
    try:
        return str(response.json()["sid"])
    except (ValueError, KeyError):
        raise transient(f"Twilio answered without a {what} sid") from None


def _call(request: Callable[[], httpx.Response], *, what: str) -> httpx.Response:
    """One request to Twilio; its 2xx response, or a DeliveryError saying whether to retry."""
    try:
        response = request()
    except httpx.TimeoutException:
        raise transient("Twilio timed out") from None
    except httpx.TransportError as exc:
        raise transient(f"Twilio unreachable: {type(exc).__name__}") from None
    if response.status_code == 429:
        raise rate_limited("Twilio rate limited (429)", retry_after_seconds(response))
    if response.status_code >= 500:
        raise transient(f"Twilio server error {response.status_code}")
    if response.status_code >= 400:
        raise permanent(f"Twilio refused the {what}: {response.status_code} {_twilio_error(response)}")
    return response


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.replace(".", "", 1).isdigit() else None


def _twilio_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return f"(code {body.get('code')}: {body.get('message', '')[:120]})"
