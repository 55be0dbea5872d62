"""Posts that are not about one ticket: the on-call hand-off and the managers' daily digest."""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime

from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.digest import DailyDigest, compute_digest, digest_chart, digest_document
from bot.document import Document, document_json, plain_document
from bot.flows.chat import line_payload
from bot.mentions import Line, Part
from bot.oncall import OnCall, current_on_call
from bot.outbox.queue import OutboxKind, enqueue, enqueue_each
from bot.sla.audience import staff_mention
from bot.sla.sweep import claim_once


def handoff_text(config: ClinicConfig, oncall: OnCall) -> Line:
    def who(staff_id: str | None) -> list[Part]:
        member = config.staff_member(staff_id or "")
        if member is None:
            return ["nobody"]
        mention = staff_mention(config, member.id)
        return [mention, f" ({member.name})"] if mention else [member.name]

    until = oncall.shift_end.astimezone(config.clinic.tz).strftime("%a %H:%M")
    backup: list[Part] = [" Backup: ", *who(oncall.backup), "."] if oncall.backup else []
    return ("🩺 On call now: ", *who(oncall.provider), f" until {until} ({oncall.source}).", *backup)


def document_payload(document: Document) -> dict[str, object]:
    """A chat post's payload for a formatted post: the plain reading, and the document the messenger renders."""
    return {"text": plain_document(document), "document": document_json(document)}


def post_handoff(session: Session, config: ClinicConfig, now: datetime, *, force: bool = False) -> bool:
    """Announce who is on call in the clinical channel, once per shift and per override."""
    if not config.oncall.handoff_post and not force:
        return False
    oncall = current_on_call(session, config, now)
    fingerprint = hashlib.sha256(f"{oncall.provider}|{oncall.source}".encode()).hexdigest()[:16]
    if not claim_once(session, f"handoff:{oncall.shift_start.isoformat()}:{fingerprint}", now):
        return False
    enqueue(session, OutboxKind.CHAT_POST, config.channels.clinical, now,
            payload=line_payload(handoff_text(config, oncall)))
    return True


def queue_digest(
    session: Session, config: ClinicConfig, day: date, now: datetime, *, once_key: str | None
) -> DailyDigest:
    """Queue the digest text and its chart for the managers' channel. `once_key` makes a post happen once only."""
    digest = compute_digest(session, config, day, now)
    if once_key is not None and not claim_once(session, once_key, now):
        return digest
    chart = base64.b64encode(digest_chart(digest)).decode()
    for post in enqueue_each(session, OutboxKind.CHAT_POST, config.channels.managers, now,
                             payload=document_payload(digest_document(digest, config))):  # one per messenger
        enqueue(session, OutboxKind.CHAT_FILE, config.channels.managers, now, payload={
            "after": post.id, "filename": f"triage-digest-{day.isoformat()}.png",
            "title": f"Triage digest {day.isoformat()}", "data_b64": chart,
        })
    return digest
