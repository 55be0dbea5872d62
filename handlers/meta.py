"""GET and POST /inbound/meta: Instagram and Facebook Messenger DMs from Meta's webhooks.

GET is the subscription handshake: Meta sends `hub.mode=subscribe`, the verify token the admin typed into the
app's webhook settings, and a challenge it wants back as the body. POST is a delivery, signed with the app secret
(`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body>`); one delivery may batch several entries (pages or
Instagram accounts), each with several events. Only messages become patient messages: echoes of the page's own
sends, read and delivery receipts, reactions, postbacks and unsends answer 200 and store nothing.

Every message in a delivery is checked before any is stored, so a malformed delivery (a 4xx with the reason)
stores nothing; the 200 means every message of it is committed, each once by its Meta message id (`mid`), so
Meta's redeliveries are absorbed. Attachments are kept as references (Meta's CDN links), never downloaded here.

Not configured (META_APP_SECRET, or for the handshake META_VERIFY_TOKEN, unset): 403 with a reason that names
the variable, as /inbound/sms answers without TWILIO_AUTH_TOKEN. The route exists either way, so a wrong setup
reads as "not configured", not as a missing page.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.domain import Channel
from bot.flows.intake import InboundMessage, stored_provider_id
from handlers.requests import Rejected, check_text, is_http_url, json_of, read_body, require_content_type
from handlers.service import Service

SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")
PLATFORMS = {"page": "messenger", "instagram": "instagram"}  # the delivery's `object`
META_ID = re.compile(r"[0-9]{1,64}")  # page-scoped and Instagram-scoped ids, page and account ids
MID = re.compile(r"[\x21-\x7e]{1,1024}")
ATTACHMENT_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_ATTACHMENTS = 20
CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{1,256}")
HUB_PARAMS = ("hub.mode", "hub.verify_token", "hub.challenge")


async def verify_meta(request: Request) -> Response:
    """The subscription handshake: the challenge back as text/plain when the verify token matches."""
    service: Service = request.app.state.service
    expected = service.meta.token_to_verify
    if expected is None:
        return Rejected(403, "Meta intake is not configured (META_VERIFY_TOKEN is not set)").response()
    try:
        mode, token, challenge = _hub_params(request)
    except Rejected as rejected:
        return rejected.response()
    if mode != "subscribe":
        return Rejected(400, "hub.mode must be subscribe").response()
    if not hmac.compare_digest(token.encode("utf-8", "replace"), expected.encode("utf-8")):
        return Rejected(403, "hub.verify_token does not match META_VERIFY_TOKEN").response()
    if not CHALLENGE.fullmatch(challenge):
        return Rejected(400, "hub.challenge is not a challenge Meta sends").response()
    return PlainTextResponse(challenge)


def _hub_params(request: Request) -> tuple[str, str, str]:
    values = []
    for name in HUB_PARAMS:
        given = request.query_params.getlist(name)
        if len(given) > 1:
            raise Rejected(400, f"{name} is given more than once")
        if not given or not given[0]:
            raise Rejected(400, "hub.mode, hub.verify_token and hub.challenge are all required")
        values.append(given[0])
    return values[0], values[1], values[2]


async def inbound_meta(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        messages = await parse(service, request)
    except Rejected as rejected:
        return rejected.response()
    duplicates = 0
    for message in messages:
        taken = await service.store(message)
        duplicates += taken.duplicate
    return JSONResponse({"status": "accepted", "messages": len(messages), "duplicates": duplicates})


async def parse(service: Service, request: Request) -> list[InboundMessage]:
    """Every patient message of a signed delivery, or Rejected (nothing of it is stored then)."""
    secret = service.meta.secret
    if secret is None:
        raise Rejected(403, "Meta intake is not configured (META_APP_SECRET is not set)")
    given = request.headers.get(SIGNATURE_HEADER)
    if not given:
        raise Rejected(401, "missing X-Hub-Signature-256 header")
    require_content_type(request, "application/json")
    raw = await read_body(request, service.settings.max_body_bytes)
    if not signed(secret, raw, given):
        raise Rejected(401, "X-Hub-Signature-256 does not match the body")
    data = json_of(raw)
    if not isinstance(data, dict):
        raise Rejected(400, "body: must be a JSON object")
    kind = data.get("object")
    platform = PLATFORMS.get(kind) if isinstance(kind, str) else None
    if platform is None:
        raise Rejected(400, "object: must be page or instagram")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise Rejected(400, "entry: must be a list")
    messages: list[InboundMessage] = []
    for e, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise Rejected(400, f"entry[{e}]: must be an object")
        events = entry.get("messaging", [])  # `changes` (comments) and `standby` (hand-over) are not DMs to us
        if not isinstance(events, list):
            raise Rejected(400, f"entry[{e}].messaging: must be a list")
        for m, event in enumerate(events):
            message = _message(service, platform, event, f"entry[{e}].messaging[{m}]")
            if message is not None:
                messages.append(message)
    return messages


def sign(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(secret: str, body: bytes, given: str) -> bool:
    if not SIGNATURE.fullmatch(given.strip()):
        return False
    return hmac.compare_digest(given.strip().lower(), sign(secret, body))


def _message(service: Service, platform: str, event: Any, where: str) -> InboundMessage | None:
    """The patient message in one messaging event, or None for an event that is not one (receipts, echoes...)."""
    if not isinstance(event, dict):
        raise Rejected(400, f"{where}: must be an object")
    message = event.get("message")
    if message is None:  # read, delivery, reaction, postback, referral, message_edit...
        return None
    if not isinstance(message, dict):
        raise Rejected(400, f"{where}.message: must be an object")
    if message.get("is_echo") is True or message.get("is_deleted") is True:
        return None  # the page's own send coming back, or the patient unsending: nothing new from them
    mid = message.get("mid")
    if not isinstance(mid, str) or not MID.fullmatch(mid):
        raise Rejected(400, f"{where}.message.mid: must be Meta's message id")
    sender = _meta_id(event.get("sender"), f"{where}.sender.id")
    recipient = _meta_id(event.get("recipient"), f"{where}.recipient.id")
    text = message.get("text", "")
    if not isinstance(text, str):
        raise Rejected(400, f"{where}.message.text: must be a string")
    check_text(text, f"{where}.message.text")
    media = _attachments(message.get("attachments", []), f"{where}.message.attachments")
    if not text.strip() and not media:
        return None  # a sticker-only or unsupported message: nothing a person could read or answer
    return InboundMessage(
        channel=Channel.DM,
        provider_message_id=stored_provider_id(mid),  # a long Instagram mid: its digest
        sender=sender,
        body=text,
        received_at=service.clock.now(),
        recipient=f"{platform}:{recipient}",  # which platform, and the page or Instagram account written to
        media=media,
    )


def _meta_id(party: Any, where: str) -> str:
    value = party.get("id") if isinstance(party, dict) else None
    if not isinstance(value, str) or not META_ID.fullmatch(value):
        raise Rejected(400, f"{where}: must be a Meta id (digits)")
    return value


def _attachments(value: Any, where: str) -> list[dict[str, str]]:
    """References to what the patient attached: Meta's type and its CDN link. A type without a link (a
    location, a template) is left out; the link is fetched by nobody at intake."""
    if not isinstance(value, list):
        raise Rejected(400, f"{where}: must be a list")
    if len(value) > MAX_ATTACHMENTS:
        raise Rejected(400, f"{where}: more than {MAX_ATTACHMENTS} attachments")
    media = []
    for index, item in enumerate(value):
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or not ATTACHMENT_TYPE.fullmatch(kind):
            raise Rejected(400, f"{where}[{index}].type: must be an attachment type")
        payload = item.get("payload")
        url = payload.get("url") if isinstance(payload, dict) else None
        if url is None:
            continue
        if not isinstance(url, str) or not is_http_url(url):
            raise Rejected(400, f"{where}[{index}].payload.url: must be an http(s) URL")
        media.append({"url": url, "content_type": "", "type": kind, "source": "meta"})
    return media
