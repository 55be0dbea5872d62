"""Scheduled jobs: the SLA sweep, the on-call hand-off and the daily digest. Each is safe to run twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from bot.digest import DailyDigest
from bot.flows.announce import post_handoff, queue_digest
from bot.oncall import current_on_call
from bot.sla.sweep import SlaSweep
from bot.storage.seen import prune_seen
from handlers.service import Service


@dataclass
class Jobs:
    service: Service
    _sla: SlaSweep = field(init=False)

    def __post_init__(self) -> None:
        config = self.service.config

        def backup(session: Session, now: object) -> str | None:
            return current_on_call(session, config, self.service.clock.now()).backup

        self._sla = SlaSweep(db=self.service.db, config=config, clock=self.service.clock, backup=backup)

    def sweep_sla(self) -> int:
        fired = self._sla.run()
        if fired:
            self.service.on_work()
        return fired

    def handoff(self, *, force: bool = False) -> bool:
        with self.service.db.transaction() as session:
            posted = post_handoff(session, self.service.config, self.service.clock.now(), force=force)
        if posted:
            self.service.on_work()
        return posted

    def prune(self) -> int:
        """Drop messengers' retry keys nobody can need any more (bot/storage/seen.py)."""
        with self.service.db.transaction() as session:
            return prune_seen(session, self.service.clock.now())

    def digest(self, day: date | None = None, *, scheduled: bool = False) -> DailyDigest:
        """Queue a digest. The scheduled one posts once per day however many instances run it."""
        now = self.service.clock.now()
        day = day or now.astimezone(self.service.config.clinic.tz).date()
        with self.service.db.transaction() as session:
            digest = queue_digest(session, self.service.config, day, now,
                                  once_key=f"digest:{day.isoformat()}" if scheduled else None)
        self.service.on_work()
        return digest
