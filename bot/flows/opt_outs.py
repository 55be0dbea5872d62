"""STOP and START from patients: recorded per address, never a card, never a ping.

Carrier rules: with Twilio, Advanced Opt-Out answers STOP/START itself (and blocks our texts to the number), so
the bot sends nothing back. `opt_outs.confirm` turns on one confirmation text for setups without it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from bot.config.models import ClinicConfig
from bot.domain import Channel
from bot.flows.chat import refresh_cards, thread_line
from bot.flows.triage import Triage, process
from bot.match.links import match_sender
from bot.optouts import Keyword, is_opted_out, keyword_of, opt_back_in, opt_out
from bot.optouts.notice import what_stops
from bot.outbox.queue import OutboxKind, enqueue
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.store import open_ticket_for, record

log = logging.getLogger(__name__)

SPANISH = frozenset({"BAJA", "CANCELAR", "ALTO", "PARAR", "DETENER", "PARE", "DARSE DE BAJA", "NO MAS", "ALTA",
                     "INICIO", "COMENZAR", "SI"})


def process_inbound(db: Database, triage: Triage, message_id: int) -> int | None:
    """A stored message: an opt-out/opt-in keyword is recorded (no ticket, returns None); anything else is triaged."""
    with db.read() as session:  # most messages are no keyword: found so without taking the write lock
        stored = session.get(InboundMessageRow, message_id)
        maybe_keyword = stored is not None and stored.processed_at is None and _may_be_keyword(stored)
    if not maybe_keyword:
        return process(db, triage, message_id)
    with db.transaction() as session:
        message = session.get(InboundMessageRow, message_id, with_for_update=True)
        if message is None:
            raise LookupError(f"no inbound message {message_id}")
        if message.processed_at is not None:
            return message.ticket_id
        if take_keyword(session, triage, message, triage.clock.now()):
            return None
    return process(db, triage, message_id)


# Every channel a patient can write STOP on and be answered on (a web form is not a conversation).
KEYWORD_CHANNELS = frozenset({Channel.SMS.value, Channel.DM.value, Channel.EMAIL.value})


def _may_be_keyword(message: InboundMessageRow) -> bool:
    return message.channel in KEYWORD_CHANNELS and not message.media and keyword_of(message.body) is not None


def take_keyword(session: Session, triage: Triage, message: InboundMessageRow, now: datetime) -> bool:
    """True when the message is an opt-out or opt-in keyword, now recorded; False for anything else."""
    found = keyword_of(message.body) if _may_be_keyword(message) else None
    if found is None:
        return False
    channel, address = message.channel, message.sender
    if found.only_when_opted_out and not is_opted_out(session, channel, address):
        return False  # "yes" from someone who never opted out is an answer, not a keyword
    if found.kind is Keyword.OPT_OUT:
        row, new = opt_out(session, channel, address, now, keyword=found.word, message_id=message.id)
        what = what_stops(channel)
        kind = EventKind.OPTED_OUT
        line = f"🚫 The patient opted out of {what} ({found.word}): the bot will not send them {what}"
        if channel == Channel.SMS.value:
            line = "🚫 The patient opted out of texts (STOP): the bot will not text them"
        if new and triage.config.opt_outs.confirm and channel == Channel.SMS.value:
            _confirm(session, triage.config, message, found.word, row.id, now)
    else:
        closed = opt_back_in(session, channel, address, now, keyword=found.word, message_id=message.id)
        new = closed is not None
        kind, line = EventKind.OPTED_IN, f"✅ The patient opted back in to {what_stops(channel)} (START)"
    message.processed_at = now
    log.info("opt-out keyword", extra={"message_id": message.id, "kind": found.kind.value, "changed": new})
    patient = match_sender(session, triage.directory(session), address)
    ticket = open_ticket_for(session, patient.key if patient else None, address)
    if ticket is not None and new:
        # The open ticket shows it (card note, a quiet thread line); nobody is mentioned.
        record(session, ticket, kind, BOT, now, keyword=found.word, message_id=message.id)
        thread_line(session, ticket, line, now)
        refresh_cards(session, ticket, now)
    return True


def _confirm(session: Session, config: ClinicConfig, message: InboundMessageRow, word: str, opt_out_id: int,
             now: datetime) -> None:
    language = "es" if word in SPANISH else "en"
    texts = config.opt_outs.confirmation
    text = (texts.get(language) or texts.get("en") or "").format(clinic=config.clinic.name)  # type: ignore[call-overload]
    if text:
        # The one text allowed after an opt-out: the delivery guard lets exactly this one through.
        enqueue(session, OutboxKind.REPLY_SMS, message.sender, now,
                payload={"text": text, "by": BOT, "language": language, "opt_out_confirmation": True},
                dedupe_key=f"opt-out-confirm:{opt_out_id}")
