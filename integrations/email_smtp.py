"""Email replies to patients over SMTP (the clinic's own mail server or relay)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.flows.mail_thread import MailThread
from bot.outbox.errors import permanent, transient


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMTP_", extra="ignore")

    host: str = ""
    port: int = 587
    username: str = ""
    password: SecretStr | None = None
    sender: str = ""
    starttls: bool = True
    timeout: float = 15.0

    @property
    def can_send(self) -> bool:
        return bool(self.host and self.sender)


class SmtpEmail:
    def __init__(self, settings: SmtpSettings, subject: str) -> None:
        self._settings = settings
        self._subject = subject

    def send(self, to: str, text: str, *, idempotency_key: str, thread: MailThread | None = None) -> str:
        """With `thread` (the patient's latest email), the reply joins it: "Re: <their subject>", In-Reply-To and
        References, so the patient's mail app shows one conversation."""
        s = self._settings
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = to
        message["Subject"] = (thread.reply_subject if thread else "") or self._subject
        message_id = make_msgid(idstring=idempotency_key)
        message["Message-ID"] = message_id
        if thread is not None:
            message["In-Reply-To"] = thread.message_id
            message["References"] = thread.reply_references
        message.set_content(text)
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username and s.password:
                    smtp.login(s.username, s.password.get_secret_value())
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            raise permanent("the mail server refused the patient's address") from None
        except smtplib.SMTPAuthenticationError:
            raise permanent("the mail server refused our login (check SMTP_USERNAME/SMTP_PASSWORD)") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise transient(f"mail server problem: {type(exc).__name__}") from None
        return message_id
