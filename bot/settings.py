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
