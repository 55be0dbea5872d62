"""The running service: database, clinic config, triage, outbox. Handlers hand messages to `take`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from bot.clock import Clock
from bot.config.models import ClinicConfig, StaffMember
from bot.flows.actions import TicketActions
from bot.flows.intake import Accepted, InboundMessage, accept
from bot.flows.opt_outs import process_inbound
from bot.flows.staff_texts import StaffTexts
from bot.flows.triage import Triage
from bot.flows.triage_queue import run_due
from bot.flows.unreadable import make_unreadable
from bot.outbox.worker import OutboxWorker
from bot.settings import MetaSettings, TriageSettings, TwilioSettings
from bot.storage.db import Database
from handlers.intake_writer import IntakeWriter

if TYPE_CHECKING:
    from handlers.mail.graph_intake import GraphMailIntake

log = logging.getLogger(__name__)


def worker_name() -> str:
    """This process's name on the triage claims it holds: host, pid and a random tag (pids are reused)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
    on_triage: Callable[[], None] = field(default=lambda: None)  # wakes the triage workers in `serve`
    worker_id: str = field(default_factory=worker_name)  # who holds this process's triage claims
    writer: IntakeWriter | None = None  # `serve`: webhooks' messages stored many to a transaction
    meta: MetaSettings = field(default_factory=MetaSettings)  # Instagram/Messenger intake (handlers/meta.py)
    graph_mail: GraphMailIntake | None = None  # the Microsoft 365 shared mailbox (GRAPH_MAILBOX), when read

    async def store(self, message: InboundMessage) -> Accepted:
        """`take` for a request handler: through the group-committing writer when `serve` runs one."""
        if self.writer is None:
            return await run_in_threadpool(self.take, message)
        accepted = await asyncio.wrap_future(self.writer.submit(message))
        self.on_triage()
        return accepted

    def take(self, message: InboundMessage) -> Accepted:
        """Store the message (that is what the 2xx promises) and wake a triage worker; triage runs off the request."""
        accepted = accept(self.db, message)
        self.on_triage()
        return accepted

    def take_staff_text(self, member: StaffMember, message: InboundMessage) -> str:
        """A text from a staff member's phone is a command (acknowledging a page), never a patient ticket."""
        answer = StaffTexts(TicketActions(self.db, self.config, self.clock)).take(
            member, message.body, message.provider_message_id)
        self.on_work()
        return answer

    def run_triage(self, limit: int | None = None, *, wake_outbox: bool = True) -> int:
        """Claim and triage every due stored message (new, retried after a failure, or left by a crash)."""
        done = run_due(self.db, self.clock, self.config, self.worker_id, limit=limit,
                       triage=lambda message_id: process_inbound(self.db, self.triage, message_id),
                       unreadable=lambda message_id, attempts: make_unreadable(
                           self.db, self.config, self.clock, message_id, attempts))
        if done and wake_outbox:
            self.on_work()
        return done

    def sweep(self) -> int:
        """Triage every pending message now (the name older callers use)."""
        return self.run_triage()

    def run_outbox(self) -> int:
        return self.outbox.run_due()
