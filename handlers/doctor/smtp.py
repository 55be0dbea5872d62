"""SMTP: connect, EHLO, STARTTLS when it is on, and log in when credentials are given. Nothing is sent."""

from __future__ import annotations

import smtplib
import ssl

from handlers.doctor.report import Check, fail, ok, skip
from integrations.email_smtp import SmtpSettings

NAME = "SMTP"


def check_smtp(settings: SmtpSettings) -> Check:
    if not settings.host and not settings.sender:
        return skip(NAME, "not configured (set SMTP_HOST and SMTP_SENDER, and SMTP_USERNAME/SMTP_PASSWORD if "
                          "the server wants a login, to answer patients' emails)")
    if not settings.host or not settings.sender:
        unset = "SMTP_HOST" if not settings.host else "SMTP_SENDER"
        return fail(NAME, f"{unset} is not set — email replies need both SMTP_HOST and SMTP_SENDER")
    where = f"{settings.host}:{settings.port}"
    steps = ["connected"]
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            smtp.ehlo()
            if settings.starttls:
                if not smtp.has_extn("starttls"):
                    return fail(NAME, f"{where} does not offer STARTTLS — use the server's submission port "
                                      "(usually 587), or set SMTP_STARTTLS=false only for a relay on a private "
                                      "network")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
                steps.append("STARTTLS")
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password.get_secret_value())
                steps.append(f"logged in as {settings.username}")
    except smtplib.SMTPAuthenticationError:
        return fail(NAME, f"{where} refused the login — check SMTP_USERNAME and SMTP_PASSWORD (many providers want "
                          "an app password)")
    except smtplib.SMTPNotSupportedError:
        return fail(NAME, f"{where} does not accept a login here — check SMTP_PORT, or unset SMTP_USERNAME")
    except ssl.SSLError as exc:
        return fail(NAME, f"TLS with {where} failed ({exc.reason or type(exc).__name__}) — check SMTP_HOST is the "
                          "name on the server's certificate")
    except (smtplib.SMTPException, OSError) as exc:
        return fail(NAME, f"cannot reach the mail server at {where} ({type(exc).__name__}) — check SMTP_HOST and "
                          "SMTP_PORT, and that the server is up")
    return ok(NAME, f"{where} {', '.join(steps)}; replies from {settings.sender}")
