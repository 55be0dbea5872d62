"""POST /inbound/web: the clinic's web form, authenticated with an HMAC-SHA256 over the raw body."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.domain import Channel
from bot.flows.intake import InboundMessage
from bot.match.addresses import InvalidAddress, normalize_email, normalize_phone
from handlers.requests import Rejected, check_text, json_of, read_body, require_content_type
from handlers.service import Service

SIGNATURE_HEADER = "x-triage-signature"


class WebForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=128, description="the form's own submission id")
    message: str = Field(min_length=1, max_length=10_000)
    name: str = Field("", max_length=200)
    email: str = Field("", max_length=320)
    phone: str = Field("", max_length=40)

    @field_validator("id", "message", "name", "email", "phone")
    @classmethod
    def storable(cls, value: str) -> str:
        try:
            return check_text(value, "text")
        except Rejected as rejected:
            raise ValueError(rejected.reason.removeprefix("text ")) from None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def parse(service: Service, request: Request) -> InboundMessage:
    secret = service.settings.web_form_secret
    if secret is None:
        raise Rejected(403, "web-form intake is not configured (TRIAGE_WEB_FORM_SECRET is not set)")
    given = request.headers.get(SIGNATURE_HEADER)
    if not given:
        raise Rejected(403, "missing X-Triage-Signature header")
    require_content_type(request, "application/json")
    raw = await read_body(request, service.settings.max_body_bytes)
    if not given.isascii() or not hmac.compare_digest(given.strip(), sign(secret.get_secret_value(), raw)):
        raise Rejected(403, "X-Triage-Signature does not match the body")
    data = json_of(raw)
    if not isinstance(data, dict):
        raise Rejected(422, "body: must be a JSON object")
    try:
        form = WebForm.model_validate(data, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise Rejected(422, f"{field}: {first['msg']}") from None
    if not form.email and not form.phone:
        raise Rejected(422, "give an email or a phone number so the clinic can answer")
    try:
        email = normalize_email(form.email) if form.email else ""
    except InvalidAddress as exc:
        raise Rejected(422, f"email: {exc}") from None
    try:
        phone = normalize_phone(form.phone) if form.phone else ""
    except InvalidAddress as exc:
        if not email:
            raise Rejected(422, f"phone: {exc}") from None
        phone = form.phone  # the reply goes by email; the number is kept as typed for staff to read
    sender = email or phone  # the reply goes by email when one is given
    return InboundMessage(
        channel=Channel.WEB,
        provider_message_id=form.id,
        sender=sender,
        sender_name=form.name,
        sender_phone=phone,
        sender_email=email,
        body=form.message,
        received_at=service.clock.now(),
    )


async def inbound_web(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        message = await parse(service, request)
    except Rejected as rejected:
        return rejected.response()
    taken = await service.store(message)
    return JSONResponse({"status": "accepted", "duplicate": taken.duplicate}, status_code=200)
