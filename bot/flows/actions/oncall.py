"""Who is on call, and the override flow: set someone until a time, or end the override early.

Each change is recorded with who made it, and the clinical channel gets a hand-off post in the same
transaction, so an override nobody was told about cannot happen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.clock import Clock
from bot.config.models import ClinicConfig, StaffMember
from bot.flows.actions.unit import Outcome
from bot.flows.announce import handoff_text, post_handoff
from bot.mentions import Line
from bot.oncall import add_override, current_on_call, end_overrides, parse_until
from bot.storage.db import Database
from bot.tickets.permissions import Actor, may_change_oncall

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffRef:
    """Who the actor named: a messenger user id (from a mention, on `platform`) or a config staff id."""

    user_id: str | None = None
    staff_id: str | None = None
    typed: str = ""  # as the actor typed it, to quote back
    platform: str = "slack"

    def resolve(self, config: ClinicConfig) -> StaffMember | None:
        if self.user_id:
            return config.staff_by_user(self.platform, self.user_id)
        return config.staff_member(self.staff_id or "")


@dataclass(frozen=True)
class OnCallDesk:
    db: Database
    config: ClinicConfig
    clock: Clock

    def now_text(self) -> Line:
        """Who is on call, with mentions in place (the messenger renders them)."""
        with self.db.transaction() as session:
            oncall = current_on_call(session, self.config, self.clock.now())
        first, *rest = handoff_text(self.config, oncall)
        return (str(first).removeprefix("🩺 "), *rest)

    def set(self, actor: Actor, who: StaffRef | None, until_text: str) -> Outcome:
        """`who` None: the actor did not say whom (or until when); an empty notice lets the messenger show usage."""
        if (refusal := self._refusal(actor)) is not None:
            return refusal
        if who is None or not until_text.strip():
            return Outcome(False, "")
        member = who.resolve(self.config)
        if member is None or not member.clinical:
            return Outcome(False, f"{who.typed} is not clinical staff in the clinic config.")
        now = self.clock.now()
        try:
            until = parse_until(until_text, now, self.config.clinic.tz)
        except ValueError as exc:
            return Outcome(False, f"Sorry: {exc}")
        with self.db.transaction() as session:
            add_override(session, provider=member.id, until=until, set_by=actor.id, now=now)
            post_handoff(session, self.config, now, force=True)
        log.info("on-call override set", extra={"provider": member.id, "set_by": actor.id, "until": until.isoformat()})
        local = until.astimezone(self.config.clinic.tz)
        return Outcome(True, f"{member.name} is on call until {local:%a %b %d %H:%M}. "
                             "The clinical channel has been told.")

    def clear(self, actor: Actor) -> Outcome:
        if (refusal := self._refusal(actor)) is not None:
            return refusal
        now = self.clock.now()
        with self.db.transaction() as session:
            ended = end_overrides(session, now=now)
            if ended:
                post_handoff(session, self.config, now, force=True)
        if not ended:
            return Outcome(False, "No override is in force; the rota applies.")
        log.info("on-call overrides ended", extra={"count": ended, "by": actor.id})
        return Outcome(True, "Override ended: the rota applies again. The clinical channel has been told.")

    def _refusal(self, actor: Actor) -> Outcome | None:
        reason = may_change_oncall(actor)
        if reason is None:
            return None
        log.info("on-call change refused", extra={"by": actor.id})  # no ticket to audit it on: the log keeps it
        return Outcome(False, f"{reason[0].upper()}{reason[1:]}.", refused=reason)
