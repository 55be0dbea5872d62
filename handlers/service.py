"""The running service: database, clinic config, triage, outbox. Handlers hand messages to `take`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from bot.clock import Clock
from bot.config.models import ClinicConfig, StaffMember
from bot.flows.actions import TicketActions
from bot.flows.intake import Accepted, InboundMessage, accept
from bot.flows.opt_outs import process_inbound
from bot.flows.staff_texts import StaffTexts
from bot.flows.triage import Triage
from bot.outbox.queue import OutboxKind, enqueue
from bot.outbox.worker import OutboxWorker
from bot.settings import TriageSettings, TwilioSettings
from bot.storage.db import Database
from bot.storage.models import InboundMessageRow

log = logging.getLogger(__name__)

GIVE_UP_AFTER = 5


@dataclass
class Service:
    settings: TriageSettings
    twilio: TwilioSettings
    config: ClinicConfig
    db: Database
    clock: Clock
    triage: Triage
    outbox: OutboxWorker
    on_work: Callable[[], None] = field(default=lambda: None)  # wakes the outbox worker in `serve`

    def take(self, message: InboundMessage) -> Accepted:
        """Store first (that is what the 2xx promises), then triage; a triage failure is retried by `sweep`."""
        accepted = accept(self.db, message)
        if not accepted.duplicate:
            self._triage(accepted.message_id)
            self.on_work()
        return accepted

    def take_staff_text(self, member: StaffMember, message: InboundMessage) -> str:
        """A text from a staff member's phone is a command (acknowledging a page), never a patient ticket."""
        answer = StaffTexts(TicketActions(self.db, self.config, self.clock)).take(
            member, message.body, message.provider_message_id)
        self.on_work()
        return answer

    def sweep(self) -> int:
        """Triage every stored message that has not been triaged yet (after a crash or a failure)."""
        with self.db.transaction() as session:
            pending = session.scalars(
                select(InboundMessageRow.id)
                .where(InboundMessageRow.processed_at.is_(None), InboundMessageRow.attempts < GIVE_UP_AFTER)
                .order_by(InboundMessageRow.id)
            ).all()
        done = sum(self._triage(message_id) for message_id in pending)
        if done:
            self.on_work()
        return done

    def run_outbox(self) -> int:
        return self.outbox.run_due()

    def _triage(self, message_id: int) -> bool:
        try:
            process_inbound(self.db, self.triage, message_id)  # STOP/START are recorded, the rest triaged
            return True
        except Exception:
            # Logged without the message body; the stored message is retried by the next sweep.
            log.exception("triage failed", extra={"message_id": message_id})
            self._count_failure(message_id)
            return False

    def _count_failure(self, message_id: int) -> None:
        with self.db.transaction() as session:
            row = session.get(InboundMessageRow, message_id)
            if row is None:
                return
            row.attempts += 1
            if row.attempts >= GIVE_UP_AFTER:
                enqueue(
                    session, OutboxKind.CHAT_ALERT, self.config.channels.managers, self.clock.now(),
                    payload={"text": f"⚠️ Inbound message #{message_id} ({row.channel}) could not be triaged "
                             f"after {row.attempts} tries; it is kept and needs a look."},
                    dedupe_key=f"triage-failed:{message_id}",
                )
