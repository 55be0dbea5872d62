"""The bot's own Bot Connector token: the OAuth 2.0 client-credentials grant (what MSAL does for the SDK), kept
here so that integrations need nothing of handlers/ (handlers/teams/inbound.py has its own for the inbound App).

`ClientCredentialsToken` is an async callable ``(scope, tenant) -> token``, the shape the Teams SDK takes as a token
provider. A token is cached per (scope, tenant) until 5 minutes before it expires. Failures are the outbox's
DeliveryError: a refused grant is permanent (the credentials are wrong and trying again will not fix them), a 429 is
a rate limit, anything else transient. No message was sent when the token failed, so none is "maybe sent".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from bot.outbox.errors import DeliveryError, permanent, rate_limited, transient
from integrations.teams.settings import BOT_FRAMEWORK_TENANT, TeamsSettings, require_https_unless_loopback

log = logging.getLogger(__name__)

BOT_SCOPE = "https://api.botframework.com/.default"
TokenSource = Callable[[str, str | None], Awaitable[str]]  # (scope, tenant) -> an access token

# OAuth error codes that mean the app's credentials or tenant are wrong (RFC 6749 5.2, and Entra's use of them).
CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_grant"})


class ClientCredentialsToken:
    REFRESH_BEFORE = 300.0  # seconds before expiry a cached token is renewed

    def __init__(self, token_url: str, client_id: str, client_secret: str, *,
                 default_tenant: str = BOT_FRAMEWORK_TENANT, timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        require_https_unless_loopback("TEAMS_TOKEN_URL", token_url.replace("{tenant}", "tenant"))
        self._url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._default_tenant = default_tenant
        self._timeout = timeout
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_settings(cls, settings: TeamsSettings, *, timeout: float = 10.0) -> ClientCredentialsToken:
        return cls(settings.bot_token_url, settings.app_id, settings.app_password,
                   default_tenant=settings.bot_token_tenant, timeout=timeout)

    def __repr__(self) -> str:
        return f"ClientCredentialsToken(token_url={self._url!r}, client_id={self._client_id!r})"

    async def __call__(self, scope: str | list[str], tenant_id: str | None) -> str:
        scopes = " ".join(scope) if isinstance(scope, list) else scope
        tenant = tenant_id or self._default_tenant
        key = (scopes, tenant)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one fetch at a time: a burst of posts asks for the token once
            cached = self._cache.get(key)
            if cached is not None and cached[1] - self.REFRESH_BEFORE > self._clock():
                return cached[0]
            token, lifetime = await self._fetch(scopes, tenant)
            self._cache[key] = (token, self._clock() + lifetime)
            return token

    async def _fetch(self, scopes: str, tenant: str) -> tuple[str, float]:
        try:
            response = await request_token(self._url.replace("{tenant}", tenant), self._client_id, self._secret,
                                           scopes, self._timeout)
        except httpx.HTTPError as exc:
            log.warning("Teams token endpoint unreachable: %s", type(exc).__name__)
            raise transient(f"the Microsoft token endpoint is unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise _refusal(response)
        granted = read_token(response)
        if granted is None:
            raise transient("the Microsoft token endpoint answered without an access_token")
        return granted


async def request_token(url: str, client_id: str, secret: str, scope: str, timeout: float) -> httpx.Response:
    """One client-credentials grant request (no retries: the caller's outbox or cache decides)."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope}
    async with httpx.AsyncClient(timeout=timeout, transport=httpx.AsyncHTTPTransport(retries=0),
                                 follow_redirects=False) as client:
        return await client.post(url, data=form)


def read_token(response: httpx.Response) -> tuple[str, float] | None:
    """(access token, lifetime in seconds) from a 200 answer, or None when it carries no token."""
    try:
        payload = response.json()
    except ValueError:
        return None
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        return None
    try:
        lifetime = float(payload.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0
    return token, lifetime


def oauth_error(response: httpx.Response) -> str:
    """The OAuth `error` code of a refusal, when it is a plain short code (never echo a body back otherwise)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    return error if error.replace("_", "").isalnum() and len(error) <= 40 else ""


def retry_after_seconds(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """A Retry-After header in seconds: delta-seconds or an HTTP-date (RFC 9110 10.2.3); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now()).total_seconds(), 0.0)


def _refusal(response: httpx.Response) -> DeliveryError:
    status, error = response.status_code, oauth_error(response)
    log.warning("Teams token endpoint answered %s %s", status, error or "")
    if status == 429:
        return rate_limited("the Microsoft token endpoint rate limited the bot (429)",
                            retry_after_seconds(response.headers.get("Retry-After")))
    if status in (400, 401, 403) and (error in CREDENTIAL_ERRORS or status != 400):
        return permanent(f"the Microsoft token endpoint refused the bot's credentials ({status} {error or 'refused'}):"
                         " check TEAMS_APP_ID/TEAMS_APP_PASSWORD (and TEAMS_TENANT_ID)")
    if 400 <= status < 500 and status != 408:
        return permanent(f"the Microsoft token endpoint refused the token request ({status} {error or 'refused'}): "
                         "check TEAMS_TENANT_ID and TEAMS_TOKEN_URL")
    return transient(f"the Microsoft token endpoint failed ({status})",
                     retry_after_seconds(response.headers.get("Retry-After")))
