"""POST /inbound/sms: Twilio's messaging webhook, signature checked, MMS media kept as references."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator

from bot.domain import Channel
from bot.flows.intake import InboundMessage
from bot.match.addresses import InvalidAddress, normalize_phone
from handlers.requests import Rejected, read_body, require_content_type
from handlers.service import Service

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def signed_url(service: Service, request: Request) -> str:
    """The URL Twilio signed: the public URL when a proxy sits in front, else what we were called on."""
    public = service.settings.public_url.rstrip("/")
    if not public:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public}{request.url.path}{query}"


async def parse(service: Service, request: Request) -> InboundMessage:
    token = service.twilio.auth_token
    if token is None:
        raise Rejected(403, "SMS intake is not configured (TWILIO_AUTH_TOKEN is not set)")
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise Rejected(403, "missing X-Twilio-Signature header")
    require_content_type(request, "application/x-www-form-urlencoded")
    raw = await read_body(request, service.settings.max_body_bytes)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "body is not a valid form encoding") from None
    params = dict(pairs)
    if not RequestValidator(token.get_secret_value()).validate(signed_url(service, request), params, signature):
        raise Rejected(403, "X-Twilio-Signature does not match")
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        raise Rejected(400, "MessageSid is missing")
    if not params.get("From"):
        raise Rejected(400, "From is missing")
    try:
        sender = normalize_phone(params["From"])
    except InvalidAddress as exc:
        raise Rejected(400, f"From: {exc}") from None
    media = _media(params)
    body = params.get("Body", "")
    if not body.strip() and not media:
        raise Rejected(400, "Body is empty and there is no media")
    return InboundMessage(
        channel=Channel.SMS,
        provider_message_id=sid,
        sender=sender,
        body=body,
        received_at=service.clock.now(),
        recipient=params.get("To", ""),
        media=media,
    )


def _media(params: dict[str, str]) -> list[dict[str, str]]:
    count_text = params.get("NumMedia", "0") or "0"
    if not count_text.isdigit():
        raise Rejected(400, "NumMedia is not a number")
    media = []
    for index in range(min(int(count_text), 10)):
        url = params.get(f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": params.get(f"MediaContentType{index}", "")})
    return media


async def inbound_sms(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        message = await parse(service, request)
    except Rejected as rejected:
        return rejected.response()
    staff = service.config.staff_by_phone(message.sender)
    if staff is not None:
        # A provider answering a page ("42", "ack"): handled as a staff command, answered by text through the outbox.
        await run_in_threadpool(service.take_staff_text, staff, message)
        return Response(EMPTY_TWIML, media_type="text/xml")
    await run_in_threadpool(service.take, message)
    return Response(EMPTY_TWIML, media_type="text/xml")
