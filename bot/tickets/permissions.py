"""Who may do what to a ticket. Checked before every action acts; a refusal is audited and explained."""

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
    SET_ONCALL = "set_oncall"
    LINK_PATIENT = "link_patient"


@dataclass(frozen=True)
class Actor:
    """A staff member acting from a messenger. `roles` come from `bot.tickets.roles.roles_of`."""

    id: str  # actor id (bot/tickets/people.py): the staff id, else "teams:<user id>" / "slack:<user id>"
    name: str  # display name for quiet thread lines (no @-mention, so nobody is pinged)
    roles: frozenset[Role]
    staff_id: str | None = None  # the config's staff id when the user is listed there


MEDICAL_ONLY = {Act.CLAIM, Act.REPLY, Act.RESOLVE, Act.VIEW_MESSAGE}
VERBS = {Act.CLAIM: "claim", Act.REPLY: "reply to", Act.RESOLVE: "resolve", Act.VIEW_MESSAGE: "open the message of"}


def _label(category: str) -> str:
    return category.replace("_", " ")


def _a(category: str) -> str:
    return f"{'an' if category[0] in 'aeiou' else 'a'} {_label(category)}"


def refusal(actor: Actor, act: Act, ticket: TicketRow, *, new_category: Category | None = None,
            to_role: Role | None = None) -> str | None:
    """The reason `actor` may not do `act` (to `new_category` / `to_role`), or None when they may."""
    medical = Category(ticket.category).is_medical
    clinical = Role.CLINICAL in actor.roles
    if medical and act in MEDICAL_ONLY and not clinical:
        return f"only the clinical team can {VERBS[act]} {_a(ticket.category)} ticket"
    if act is Act.ESCALATE:
        return _escalation_refusal(actor, ticket, to_role)
    if act is Act.UNCLAIM and ticket.claimed_by not in (None, actor.id) and Role.MANAGERS not in actor.roles:
        return "only the person who claimed it or a manager can unclaim it"
    if act is Act.ACKNOWLEDGE and not clinical and (actor.staff_id is None or actor.staff_id != ticket.paged):
        return "only the paged provider or the clinical team can acknowledge a page"
    if act is Act.RECLASSIFY and not clinical and (medical or (new_category and new_category.is_medical)):
        return "only the clinical team can move a ticket into or out of clinical categories"
    if act is Act.LINK_PATIENT and not actor.roles:
        return "only staff listed in the clinic's config can link a patient"
    if act is Act.VIEW_MESSAGE and not medical and ticket.role and Role(ticket.role) not in actor.roles:
        return f"only the {_label(ticket.role)} team can open this message"
    return None


def _escalation_refusal(actor: Actor, ticket: TicketRow, to_role: Role | None) -> str | None:
    medical = Category(ticket.category).is_medical
    if medical and not actor.roles & {Role.CLINICAL, Role.MANAGERS}:
        return f"only the clinical team or a manager can escalate {_a(ticket.category)} ticket"
    # A medical ticket stays with people who can treat it: it is never handed to billing or the front desk
    # by an escalation (the clinical team reclassifies it first when it really is not medical).
    if medical and to_role in (Role.BILLING, Role.FRONT_DESK):
        return (f"{_a(ticket.category)} ticket cannot be escalated to {_label(to_role.value)}; "
                "the clinical team can reclassify it first")
    # Anyone on the ticket's team may pass it on; the clinical team and managers may escalate anything.
    if ticket.role and Role(ticket.role) not in actor.roles and not actor.roles & {Role.CLINICAL, Role.MANAGERS}:
        return f"only the {_label(ticket.role)} team, the clinical team or a manager can escalate this ticket"
    return None


def may_change_oncall(actor: Actor) -> str | None:
    if Role.CLINICAL in actor.roles or Role.MANAGERS in actor.roles:
        return None
    return "only the clinical team or a manager can change who is on call"
