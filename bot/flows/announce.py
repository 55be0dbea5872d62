"""Posts that are not about one ticket: the on-call hand-off and the managers' daily digest."""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime

from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.digest import DailyDigest, compute_digest, digest_chart, digest_text
from bot.oncall import OnCall, current_on_call
from bot.outbox.queue import OutboxKind, enqueue
from bot.sla.sweep import claim_once


def handoff_text(config: ClinicConfig, oncall: OnCall) -> str:
    def who(staff_id: str | None) -> str:
        member = config.staff_member(staff_id or "")
        if member is None:
            return "nobody"
        return f"<@{member.chat_user}> ({member.name})" if member.chat_user else member.name

    until = oncall.shift_end.astimezone(config.clinic.tz).strftime("%a %H:%M")
    backup = f" Backup: {who(oncall.backup)}." if oncall.backup else ""
    return f"🩺 On call now: {who(oncall.provider)} until {until} ({oncall.source}).{backup}"


def post_handoff(session: Session, config: ClinicConfig, now: datetime, *, force: bool = False) -> bool:
    """Announce who is on call in the clinical channel, once per shift and per override."""
    if not config.oncall.handoff_post and not force:
        return False
    oncall = current_on_call(session, config, now)
    fingerprint = hashlib.sha256(f"{oncall.provider}|{oncall.source}".encode()).hexdigest()[:16]
    if not claim_once(session, f"handoff:{oncall.shift_start.isoformat()}:{fingerprint}", now):
        return False
    text = handoff_text(config, oncall)
    enqueue(session, OutboxKind.CHAT_POST, config.channels.clinical, now, payload={"text": text})
    return True


def queue_digest(
    session: Session, config: ClinicConfig, day: date, now: datetime, *, once_key: str | None
) -> DailyDigest:
    """Queue the digest text and its chart for the managers' channel. `once_key` makes a post happen once only."""
    digest = compute_digest(session, config, day, now)
    if once_key is not None and not claim_once(session, once_key, now):
        return digest
    post = enqueue(session, OutboxKind.CHAT_POST, config.channels.managers, now,
                   payload={"text": digest_text(digest, config)})
    enqueue(session, OutboxKind.CHAT_FILE, config.channels.managers, now, payload={
        "after": post.id, "filename": f"triage-digest-{day.isoformat()}.png",
        "title": f"Triage digest {day.isoformat()}", "data_b64": base64.b64encode(digest_chart(digest)).decode(),
    })
    return digest
