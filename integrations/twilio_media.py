"""MMS media from Twilio, fetched with the account's credentials (HTTP basic: account SID and auth token).

Twilio's media URLs need the account's auth (when the account enforces it, as a clinic's must), so a photo is
never handed to the chat app as a link: the bot downloads it and uploads the bytes. Only URLs of this account's
messages are fetched, and always from the configured API base (a proxy, or a test's stand-in), so the
credentials never go to any other host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from bot.outbox.errors import permanent, rate_limited, transient
from bot.ports import Media
from integrations.twilio_sms import retry_after_seconds

MAX_BYTES = 5 * 1024 * 1024  # Twilio's own MMS limit; anything larger is not a patient's photo


class TwilioMedia:
    def __init__(self, account_sid: str, auth_token: str, api_url: str, *, timeout: float = 20.0,
                 client: httpx.Client | None = None) -> None:
        self._prefix = f"/2010-04-01/Accounts/{account_sid}/Messages/"
        self._base = api_url.rstrip("/")
        # Twilio answers with a redirect to short-lived storage; httpx drops the credentials on a cross-host hop.
        self._client = client or httpx.Client(timeout=timeout, auth=(account_sid, auth_token), follow_redirects=True)

    def url_for(self, media_url: str) -> str:
        path = urlsplit(media_url).path
        if not path.startswith(self._prefix) or "/Media/" not in path:
            raise permanent("not a media URL of this Twilio account")
        return f"{self._base}{path}"

    def fetch(self, url: str) -> Media:
        target = self.url_for(url)
        try:
            response = self._client.get(target)
        except httpx.TimeoutException:
            raise transient("Twilio timed out") from None
        except httpx.TransportError as exc:
            raise transient(f"Twilio unreachable: {type(exc).__name__}") from None
        if response.status_code == 429:
            raise rate_limited("Twilio media: rate limited (429)", retry_after_seconds(response))
        if response.status_code >= 500:
            raise transient(f"Twilio media: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise permanent(f"Twilio refused the media download: HTTP {response.status_code}")
        if len(response.content) > MAX_BYTES:
            raise permanent("the media file is larger than 5 MB")
        content_type = response.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
        return Media(data=response.content, content_type=content_type)
