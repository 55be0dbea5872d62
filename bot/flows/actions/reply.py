"""Reply to the patient on the channel they used; opening the dialog is checked first, so no text is lost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.config.models import ClinicConfig
from bot.domain import TicketStatus
from bot.flows.actions.unit import Env, Outcome, permission
from bot.flows.chat import refresh_cards
from bot.optouts.notice import opt_out_notice
from bot.outbox.queue import enqueue
from bot.storage.models import TicketRow
from bot.tickets.events import EventKind
from bot.tickets.permissions import Act, Actor
from bot.tickets.reply_to import reply_to
from bot.tickets.store import change, move


def staff_templates(config: ClinicConfig, language: str) -> dict[str, str]:
    """The clinic's saved replies in the patient's language (English when there are none in it)."""
    replies = config.templates.staff_replies
    texts = replies.get(language) or replies.get("en") or {}  # type: ignore[call-overload]
    return {name: text.format(clinic=config.clinic.name) for name, text in texts.items()}


@dataclass(frozen=True)
class Reply:
    text: str
    submission_id: str
    template: str = ""  # a saved reply's name: sent as it is when `text` is empty
    act: ClassVar[Act] = Act.REPLY

    @staticmethod
    def may(env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        """Every reason to refuse a reply that does not depend on its text: checked again when Reply is clicked."""
        if (refused := permission(ticket, actor, Act.REPLY)) is not None:
            return refused
        if (opted_out := opt_out_notice(env.session, ticket, env.config)) is not None:
            # The text could never be sent (STOP): the staff member learns it before typing, not from a failure.
            return Outcome(False, f"{opted_out}.", refused="opted_out")
        return None

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        if (refused := self.may(env, ticket, actor)) is not None:
            return refused
        if not self._text(env, ticket):
            return Outcome(False, "The reply is empty.")
        return None

    def _text(self, env: Env, ticket: TicketRow) -> str:
        if self.text.strip() or not self.template:
            return self.text.strip()
        return staff_templates(env.config, ticket.language).get(self.template, "").strip()

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        text = self._text(env, ticket)
        to = reply_to(ticket)  # the channel the patient last wrote from
        enqueue(env.session, to.kind, to.address, env.now, ticket_id=ticket.id,
                payload={"text": text, "by": actor.id, "by_name": actor.name, "language": ticket.language},
                dedupe_key=f"reply:{self.submission_id}")
        data = {"by_name": actor.name, "chars": len(text)}
        if ticket.status == TicketStatus.OPEN.value:  # replying to an unclaimed ticket takes it
            move(env.session, ticket, TicketStatus.CLAIMED, event=EventKind.REPLIED, actor=actor.id, at=env.now,
                 data=data, claimed_by=actor.id, claimed_at=env.now)
        else:
            change(env.session, ticket, event=EventKind.REPLIED, actor=actor.id, at=env.now, data=data)
        refresh_cards(env.session, ticket, env.now)
        return Outcome(True, "Reply queued; it will show in the thread once delivered.")


@dataclass(frozen=True)
class OpenDialog:
    """Before a dialog opens (reply, escalate, reclassify): may this person do it at all? Changes nothing."""

    act: Act

    def check(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome | None:
        if self.act is Act.REPLY:
            return Reply.may(env, ticket, actor)
        return permission(ticket, actor, self.act)

    def apply(self, env: Env, ticket: TicketRow, actor: Actor) -> Outcome:
        return Outcome(True, "", detail={"language": ticket.language, "channel": reply_to(ticket).channel,
                                         "category": ticket.category})
