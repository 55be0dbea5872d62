"""Voice calls through Twilio's Calls API, for pages: the call speaks a short text (TwiML built by the Twilio SDK)."""

from __future__ import annotations

import httpx
from twilio.twiml.voice_response import VoiceResponse

from integrations.twilio_sms import post_for_sid


def spoken(text: str) -> str:
    """TwiML that says `text` twice (the first time is often lost while the phone is picked up)."""
    response = VoiceResponse()
    response.say(text, loop=2)
    return str(response)


class TwilioVoice:
    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_url: str,
                 *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self._from = from_number
        self._url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Calls.json"
        self._client = client or httpx.Client(timeout=timeout, auth=(account_sid, auth_token))

    def call(self, to: str, text: str, *, idempotency_key: str) -> str:
        return post_for_sid(self._client, self._url, {"To": to, "From": self._from, "Twiml": spoken(text)},
                            idempotency_key, what="call")
