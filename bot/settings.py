"""Secrets and deployment settings, from the environment only (never from the clinic config file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_PATH = Path("var/triage.db")


class TriageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore")

    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    # True (the embedded default): every process upgrades the schema at start, under the migration lock.
    # Several instances on PostgreSQL: false, run `triage-bot migrate` once per release, and `serve` only
    # checks that the schema is current (and refuses to start if not).
    auto_migrate: bool = True
    config: Path | None = None
    public_url: str = ""  # the URL Twilio calls, when a proxy rewrites the Host (signature check)
    web_form_secret: SecretStr | None = None
    max_body_bytes: int = 256 * 1024
    host: str = "127.0.0.1"
    port: int = 8080


class TwilioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWILIO_", extra="ignore")

    account_sid: str = ""
    auth_token: SecretStr | None = None
    from_number: str = ""
    api_url: str = "https://api.twilio.com"

    @property
    def can_send(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.from_number)


META_GRAPH_URL = "https://graph.facebook.com/v21.0"


class MetaSettings(BaseSettings):
    """Instagram and Facebook Messenger DMs (Meta's webhooks in, the Send API out).

    `app_secret` signs every webhook delivery (X-Hub-Signature-256), `verify_token` is the string the clinic's
    admin typed into the app's webhook settings (Meta echoes it in the subscription handshake), `page_token` is
    the page access token replies are sent with (Instagram accounts connected through the page use the same).
    An empty variable counts as unset.
    """

    model_config = SettingsConfigDict(env_prefix="META_", extra="ignore")

    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None
    page_token: SecretStr | None = None
    graph_url: str = META_GRAPH_URL  # the Graph API base with its version; a proxy's or a test's stand-in

    @property
    def secret(self) -> str | None:
        return _given(self.app_secret)

    @property
    def token_to_verify(self) -> str | None:
        return _given(self.verify_token)

    @property
    def send_token(self) -> str | None:
        return _given(self.page_token)


def _given(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


GRAPH_API_URL = "https://graph.microsoft.com/v1.0"


class GraphMailSettings(BaseSettings):
    """Patients' email from the clinic's Microsoft 365 shared mailbox, through Microsoft Graph (an app registration
    of its own, not the Teams bot's): read by delta query, answered with Graph's reply (handlers/mail/graph_*.py).

    `token_url` is Microsoft's by default ("{tenant}" in it); a stand-in's in tests. `client_state` is the secret
    every change notification carries back; unset, one is derived from the client secret and the mailbox (the same
    on every instance). An empty variable counts as unset.
    """

    model_config = SettingsConfigDict(env_prefix="GRAPH_", extra="ignore")

    tenant_id: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = None
    mailbox: str = ""  # the shared mailbox's address (or its user id)
    api_url: str = GRAPH_API_URL
    token_url: str = ""
    mail_poll_seconds: int = 60
    client_state: SecretStr | None = None

    @property
    def configured(self) -> bool:
        """GRAPH_MAILBOX set: the bot reads it (and then the credentials are required)."""
        return bool(self.mailbox.strip())

    def missing(self) -> list[str]:
        """The variables the mailbox still needs."""
        needed = {"GRAPH_TENANT_ID": self.tenant_id, "GRAPH_CLIENT_ID": self.client_id,
                  "GRAPH_CLIENT_SECRET": _given(self.client_secret) or ""}
        return [name for name, value in needed.items() if not value.strip()]

    @property
    def secret(self) -> str:
        return _given(self.client_secret) or ""
