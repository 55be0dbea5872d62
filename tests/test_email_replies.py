"""Email replies over SMTP, against a small local SMTP server standing in for the clinic's mail relay."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.outbox.errors import DeliveryError
from integrations.email_smtp import SmtpEmail, SmtpSettings
from tests.smtp_standin import SmtpStandIn


@pytest.fixture
def smtp() -> Iterator[SmtpStandIn]:
    server = SmtpStandIn()
    yield server
    server.close()


def settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="front-desk@clinic.example", starttls=False,
                        username="bot", password=SecretStr("secret"))


def test_email_reply_reaches_the_mail_server(smtp: SmtpStandIn) -> None:
    message_id = SmtpEmail(settings(smtp.port), subject="Your message to Test Clinic").send(
        "patient@example.com", "Abrimos entre semana de 9 a 5.", idempotency_key="outbox-7")
    [received] = smtp.messages
    assert received["To"] == "patient@example.com" and received["From"] == "front-desk@clinic.example"
    assert received["Subject"] == "Your message to Test Clinic" and received["Message-ID"] == message_id
    assert "outbox-7" in message_id
    assert received.get_payload(decode=True).decode().strip() == "Abrimos entre semana de 9 a 5."
    assert smtp.envelopes == [("front-desk@clinic.example", ["patient@example.com"])]


def test_a_refused_address_is_a_permanent_failure() -> None:
    server = SmtpStandIn(refuse_rcpt=True)
    try:
        with pytest.raises(DeliveryError) as caught:
            SmtpEmail(settings(server.port), subject="x").send("nobody@example.com", "hi", idempotency_key="k")
        assert caught.value.transient is False
    finally:
        server.close()


def test_an_unreachable_server_is_retried() -> None:
    server = SmtpStandIn()
    port = server.port
    server.close()
    with pytest.raises(DeliveryError) as caught:
        SmtpEmail(settings(port), subject="x").send("a@example.com", "hi", idempotency_key="k")
    assert caught.value.transient is True
