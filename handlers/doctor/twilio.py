"""Twilio: the credentials (by fetching the account) and that TWILIO_FROM_NUMBER is one of its numbers."""

from __future__ import annotations

from typing import Any

import httpx

from bot.config.models import ClinicConfig
from bot.settings import TwilioSettings
from handlers.doctor.report import Check, fail, ok, skip

NAME = "Twilio"
SET_ALL = "set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER (Twilio Console → Account info)"


def needs_twilio(config: ClinicConfig | None) -> str | None:
    """Why this clinic's config cannot do without Twilio, or None."""
    if config is None:
        return None
    if config.routing.auto_answer:
        return "the bot answers patients' texts (routing.auto_answer)"
    if any(member.phone for member in config.staff):
        return "pages go to staff phones by SMS"
    return None


def check_twilio(settings: TwilioSettings, config: ClinicConfig | None, *, timeout: float = 10.0) -> Check:
    given = [bool(settings.account_sid), settings.auth_token is not None, bool(settings.from_number)]
    if not any(given):
        need = needs_twilio(config)
        if need:
            return fail(NAME, f"not configured, and {need}: {SET_ALL} (or set routing.auto_answer: [] if the "
                              "clinic takes no texts)")
        return skip(NAME, f"not configured ({SET_ALL} to take and answer patients' texts)")
    if not all(given):
        names = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
        unset = [name for name, is_set in zip(names, given, strict=True) if not is_set]
        return fail(NAME, f"{', '.join(unset)} not set — {SET_ALL}")
    assert settings.auth_token is not None
    base = f"{settings.api_url.rstrip('/')}/2010-04-01/Accounts/{settings.account_sid}"
    auth = (settings.account_sid, settings.auth_token.get_secret_value())
    try:
        with httpx.Client(timeout=timeout, auth=auth) as client:
            account = client.get(f"{base}.json")
            if account.status_code != 200:
                return fail(NAME, _account_problem(account.status_code, settings))
            numbers = _numbers(client, f"{base}/IncomingPhoneNumbers.json")
    except httpx.HTTPError as exc:
        return fail(NAME, f"cannot reach Twilio at {settings.api_url} ({type(exc).__name__}) — check the network, "
                          "or TWILIO_API_URL")
    body = _json(account)
    name, status = body.get("friendly_name") or settings.account_sid, body.get("status", "active")
    if status != "active":
        return fail(NAME, f"account {name!r} is {status} — reactivate it in the Twilio Console")
    if numbers is None:
        return fail(NAME, "could not list the account's phone numbers — try again, or check the account in the "
                          "Twilio Console")
    if settings.from_number not in numbers:
        listed = ", ".join(sorted(numbers)[:5]) or "none"
        return fail(NAME, f"TWILIO_FROM_NUMBER {settings.from_number} is not one of account {name!r}'s numbers "
                          f"({listed}) — set it to one of them, or buy or port the number in the Twilio Console")
    return ok(NAME, f"account {name!r}, texts from {settings.from_number}")


def _account_problem(status: int, settings: TwilioSettings) -> str:
    if status in (401, 403):
        return ("Twilio refused the credentials — check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
                "(Twilio Console → Account info)")
    if status == 404:
        return f"no Twilio account {settings.account_sid} — check TWILIO_ACCOUNT_SID (it starts with AC)"
    if status == 429:
        return "Twilio is rate limiting us (429) — try again in a minute"
    if status >= 500:
        return f"Twilio answered {status} (a problem on Twilio's side, see status.twilio.com) — try again later"
    return f"Twilio answered {status} to fetching the account — check TWILIO_API_URL"


def _numbers(client: httpx.Client, url: str) -> set[str] | None:
    numbers: set[str] = set()
    next_url: str | None = url
    for _ in range(20):  # pages of 50: far more numbers than a clinic has
        if next_url is None:
            return numbers
        response = client.get(next_url, params={"PageSize": 50} if next_url == url else None)
        if response.status_code != 200:
            return None
        body = _json(response)
        numbers |= {str(n.get("phone_number")) for n in body.get("incoming_phone_numbers") or []}
        page = body.get("next_page_uri")
        next_url = str(httpx.URL(url).join(page)) if page else None
    return numbers


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
