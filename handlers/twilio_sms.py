"""POST /inbound/sms: Twilio's messaging webhook, signature checked, MMS media kept as references."""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator

from bot.domain import Channel
from bot.flows.intake import InboundMessage
from bot.match.addresses import InvalidAddress, normalize_phone
from handlers.requests import Rejected, form_pairs, is_http_url, printable, read_body, require_content_type
from handlers.service import Service

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # Twilio's are SM/MM + 32 hex; tests use shorter ones
NUM_MEDIA = re.compile(r"[0-9]{1,2}")  # ASCII digits only: "²".isdigit() is True, int("²") fails
MAX_MEDIA = 10  # Twilio's own MMS limit
MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,62}/[A-Za-z0-9][A-Za-z0-9.+_-]{0,62}")
MAX_ADDRESS = 64  # From / To: a phone number or a short code, or "whatsapp:+1...", with room to spare


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
    params = form_pairs(raw)
    if not _signed(token.get_secret_value(), signed_url(service, request), params, signature):
        raise Rejected(403, "X-Twilio-Signature does not match")
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        raise Rejected(400, "MessageSid is missing")
    if not SID.fullmatch(sid):
        raise Rejected(400, "MessageSid is not a Twilio message id")
    raw_from = params.get("From", "")
    if not raw_from:
        raise Rejected(400, "From is missing")
    if len(raw_from) > MAX_ADDRESS:
        raise Rejected(400, "From is too long for a phone number")
    try:
        sender = normalize_phone(raw_from)
    except InvalidAddress as exc:
        raise Rejected(400, f"From: {exc}") from None
    recipient = params.get("To", "")
    if len(recipient) > MAX_ADDRESS:
        raise Rejected(400, "To is too long for a phone number")
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
        recipient=recipient,
        media=media,
    )


def _signed(token: str, url: str, params: dict[str, str], signature: str) -> bool:
    if not signature.isascii() or len(signature) > 200:
        return False
    try:
        return bool(RequestValidator(token).validate(url, params, signature))
    except ValueError:  # a Host header that does not make a URL
        return False


def _media(params: dict[str, str]) -> list[dict[str, str]]:
    """MMS references as Twilio sends them: NumMedia a plain number, each MediaUrlN an http(s) URL and each
    MediaContentTypeN a MIME type. Anything else is refused before it is stored (the photo fetch would fail
    forever on it)."""
    count_text = params.get("NumMedia", "0") or "0"
    if not NUM_MEDIA.fullmatch(count_text):
        raise Rejected(400, "NumMedia is not a number")
    count = int(count_text)
    if count > MAX_MEDIA:
        raise Rejected(400, f"NumMedia is over Twilio's limit of {MAX_MEDIA}")
    media = []
    for index in range(count):
        url = params.get(f"MediaUrl{index}", "")
        kind = params.get(f"MediaContentType{index}", "")
        if not url:
            continue
        if not is_http_url(url):
            raise Rejected(400, f"MediaUrl{index} is not an http(s) URL")
        if kind and not MEDIA_TYPE.fullmatch(kind):
            raise Rejected(400, f"MediaContentType{index} is not a MIME type: {printable(kind)!r}")
        media.append({"url": url, "content_type": kind})
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
    await service.store(message)
    return Response(EMPTY_TWIML, media_type="text/xml")
