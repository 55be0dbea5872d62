"""A staff member's first personal chat with the bot (Teams' equivalent of Slack's App Home): what the bot does,
the commands it understands, and their tickets. Queued once per person and messenger through the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig, StaffMember
from bot.document import Document, Style, document_json, line
from bot.flows.actions.commands import queue_document, usage
from bot.flows.actions.queue import queue_summary
from bot.outbox.queue import OutboxKind, enqueue


def welcome_document(session: Session, config: ClinicConfig, member: StaffMember, prefix: str) -> Document:
    intro = (line(f"Hi {member.name}: this is {config.clinic.name}'s patient-message triage.", style=Style.HEADING),
             line("Tickets that need a person arrive as cards in the team's role channels; pages for adverse "
                  "events come here, to this chat. Claim, reply, escalate and acknowledge on the card."),
             line(usage(prefix)))
    return intro + queue_document(queue_summary(session, config, member.id))


def queue_welcome(session: Session, config: ClinicConfig, member: StaffMember, platform: str, user_id: str,
                  now: datetime, *, prefix: str) -> None:
    document = welcome_document(session, config, member, prefix)
    # To `user_id` on `platform` only (a person's chat is on one messenger, whatever else the clinic runs).
    enqueue(session, OutboxKind.CHAT_POST, user_id, now,
            payload={"document": document_json(document), "platform": platform},
            dedupe_key=f"welcome:{platform}:{member.id}")
