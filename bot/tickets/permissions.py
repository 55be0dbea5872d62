"""Who may do what to a ticket. Checked on every action; a refusal is audited and explained to the clicker."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain import Category, Role
from bot.storage.models import TicketRow


class Act(StrEnum):
    CLAIM = "claim"
    UNCLAIM = "unclaim"
    REPLY = "reply"
    ESCALATE = "escalate"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    RECLASSIFY = "reclassify"
    VIEW_MESSAGE = "view_message"


@dataclass(frozen=True)
class Actor:
    """A staff member acting from a messenger. `roles` is resolved by the handler (config + user groups)."""

    id: str  # messenger user id, e.g. Slack's U123
    name: str  # display name for quiet thread lines (no @-mention, so nobody is pinged)
    roles: frozenset[Role]
    staff_id: str | None = None  # the config's staff id when the user is listed there

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


MEDICAL_ONLY = {Act.CLAIM, Act.REPLY, Act.RESOLVE, Act.VIEW_MESSAGE}
VERBS = {Act.CLAIM: "claim", Act.REPLY: "reply to", Act.RESOLVE: "resolve", Act.VIEW_MESSAGE: "open the message of"}


def refusal(actor: Actor, act: Act, ticket: TicketRow, *, new_category: Category | None = None) -> str | None:
    """The reason `actor` may not do `act`, or None when they may."""
    medical = Category(ticket.category).is_medical
    clinical = Role.CLINICAL in actor.roles
    if medical and act in MEDICAL_ONLY and not clinical:
        return f"only the clinical team can {VERBS[act]} a {ticket.category.replace('_', ' ')} ticket"
    if act is Act.ACKNOWLEDGE and not clinical and (actor.staff_id is None or actor.staff_id != ticket.paged):
        return "only the paged provider or the clinical team can acknowledge a page"
    if act is Act.RECLASSIFY and not clinical and (medical or (new_category and new_category.is_medical)):
        return "only the clinical team can move a ticket into or out of clinical categories"
    if act is Act.VIEW_MESSAGE and not medical and ticket.role and Role(ticket.role) not in actor.roles:
        return f"only the {ticket.role.replace('_', ' ')} team can open this message"
    return None
