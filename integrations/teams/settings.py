"""Microsoft Teams settings, from the environment only (`TeamsSettings.from_env`).

TEAMS_APP_ID            the bot's Microsoft app id (unset: Teams is off)
TEAMS_APP_PASSWORD      its client secret (required with the id)
TEAMS_TENANT_ID         the clinic's Entra tenant (required unless TEAMS_MULTI_TENANT=1)
TEAMS_MULTI_TENANT      1: accept any tenant (no TEAMS_TENANT_ID needed)
TEAMS_OPENID_METADATA_URL, TEAMS_TOKEN_URL, TEAMS_GRAPH_URL, TEAMS_GRAPH_TOKEN_URL
                        Microsoft's by default; a stand-in's in tests. Each must be https, except on a loopback host.

A token URL may contain "{tenant}" (replaced by the tenant a token is asked for), as Microsoft's does.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

BOT_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
GRAPH_URL = "https://graph.microsoft.com/v1.0"
BOT_FRAMEWORK_TENANT = "botframework.com"  # where a multi-tenant bot gets its Bot Connector token
_TRUE = frozenset({"1", "true", "yes", "on"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https_unless_loopback(name: str, url: str) -> None:
    """Where the bot sends its secret or fetches signing keys: https, or plain http on a loopback host (tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    raise ValueError(f"{name} must be an https URL (plain http only on a loopback host)")


@dataclass(frozen=True, repr=False)
class TeamsSettings:
    app_id: str
    app_password: str
    tenant_id: str | None
    multi_tenant: bool = False
    openid_metadata_url: str = BOT_OPENID_METADATA_URL
    token_url: str | None = None  # None: Microsoft's (MICROSOFT_TOKEN_URL)
    graph_url: str = GRAPH_URL
    graph_token_url: str | None = None  # None: Microsoft's (MICROSOFT_TOKEN_URL)

    def __post_init__(self) -> None:
        if not self.app_id:
            raise ValueError("TEAMS_APP_ID is empty")
        if not self.app_password:
            raise ValueError("TEAMS_APP_PASSWORD is required when TEAMS_APP_ID is set")
        if not self.tenant_id and not self.multi_tenant:
            raise ValueError("TEAMS_TENANT_ID is required (a single-tenant bot); set TEAMS_MULTI_TENANT=1 for a "
                             "multi-tenant bot")
        if not self.openid_metadata_url.endswith("/openidconfiguration"):
            raise ValueError("TEAMS_OPENID_METADATA_URL must end in /openidconfiguration (the SDK derives the "
                             "signing keys URL from it)")
        require_https_unless_loopback("TEAMS_OPENID_METADATA_URL", self.openid_metadata_url)
        require_https_unless_loopback("TEAMS_GRAPH_URL", self.graph_url)
        for name, url in (("TEAMS_TOKEN_URL", self.token_url), ("TEAMS_GRAPH_TOKEN_URL", self.graph_token_url)):
            if url is not None:
                require_https_unless_loopback(name, url.replace("{tenant}", "tenant"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TeamsSettings | None:
        """None when TEAMS_APP_ID is unset (or empty); ValueError naming the variable that is missing or wrong."""
        app_id = env.get("TEAMS_APP_ID", "").strip()
        if not app_id:
            return None

        def value(name: str) -> str | None:
            found = env.get(name, "").strip()
            return found or None

        return cls(
            app_id=app_id,
            app_password=env.get("TEAMS_APP_PASSWORD", ""),
            tenant_id=value("TEAMS_TENANT_ID"),
            multi_tenant=env.get("TEAMS_MULTI_TENANT", "").strip().lower() in _TRUE,
            openid_metadata_url=value("TEAMS_OPENID_METADATA_URL") or BOT_OPENID_METADATA_URL,
            token_url=value("TEAMS_TOKEN_URL"),
            graph_url=value("TEAMS_GRAPH_URL") or GRAPH_URL,
            graph_token_url=value("TEAMS_GRAPH_TOKEN_URL"),
        )

    @property
    def bot_token_url(self) -> str:
        """Where the bot gets its Bot Connector token ("{tenant}" possibly in it)."""
        return self.token_url or MICROSOFT_TOKEN_URL

    @property
    def bot_token_tenant(self) -> str:
        """The tenant the bot's Bot Connector token is asked of: the clinic's, or botframework.com (multi-tenant)."""
        return self.tenant_id or BOT_FRAMEWORK_TENANT

    @property
    def graph_token_endpoint(self) -> str:
        """Where the bot gets its Microsoft Graph token ("{tenant}" possibly in it)."""
        return self.graph_token_url or MICROSOFT_TOKEN_URL

    def __repr__(self) -> str:
        return (f"TeamsSettings(app_id={self.app_id!r}, app_password='***', tenant_id={self.tenant_id!r}, "
                f"multi_tenant={self.multi_tenant!r}, openid_metadata_url={self.openid_metadata_url!r}, "
                f"token_url={self.token_url!r}, graph_url={self.graph_url!r}, "
                f"graph_token_url={self.graph_token_url!r})")

    __str__ = __repr__
