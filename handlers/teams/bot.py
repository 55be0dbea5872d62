"""What the bot does with Teams activities (`TeamsListener`): learns where it may post, runs a card's Action.Execute
through the same ticket actions as Slack and answers with the card as it now is, and answers commands.

Only parsing and rendering live here: who may do what, what an action changes, what a command says are bot/'s.
A click's answer replaces the card for the one who clicked; the outbox's card refresh (queued by the action) edits
the posted activity for everyone else, exactly as a Slack card changes in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.cards.build import CHANNEL_NAMES
from bot.cards.model import ActionId, Card
from bot.cards.patient import match_label
from bot.domain import Category
from bot.flows.actions import Act, EscalationTarget, Outcome, StaffRef, TicketActions, staff_templates
from bot.flows.actions.commands import Answer, run_command
from bot.flows.deliver import card_now
from bot.flows.welcome import queue_welcome
from bot.match.directory import MIN_QUERY
from bot.mentions import plain
from bot.places import Place, PlaceKind
from bot.storage.models import ChatPostRow, TicketRow
from bot.storage.places import DbPlaces
from bot.tickets.permissions import Actor
from bot.tickets.roles import actor_of
from handlers.jobs import Jobs
from handlers.service import Service
from handlers.teams.inbound import ConversationSeen, TeamsUser
from integrations.teams.cards import (
    QUERY_MAX,
    AdaptiveCard,
    FormInput,
    FormVerb,
    TextBlock,
    escalate_form,
    link_form,
    message_view,
    reclassify_form,
    render_card,
    reply_form,
    with_notice,
)
from integrations.teams.text import teams_document

log = logging.getLogger(__name__)

PLATFORM = "teams"
PREFIX = "@Triage"
SIMPLE = {ActionId.CLAIM.value: "claim", ActionId.UNCLAIM.value: "unclaim", ActionId.ACKNOWLEDGE.value: "acknowledge",
          ActionId.RESOLVE.value: "resolve"}
DIALOGS = {ActionId.REPLY.value: Act.REPLY, ActionId.ESCALATE.value: Act.ESCALATE,
           ActionId.RECLASSIFY.value: Act.RECLASSIFY, ActionId.LINK_PATIENT.value: Act.LINK_PATIENT}
GroupMembers = Callable[[str], frozenset[str]]


class BadAction(Exception):
    pass


def _no_groups(_group: str) -> frozenset[str]:
    return frozenset()


def staff_ref(word: str) -> StaffRef:
    """A Teams mention (`@teams:<Entra object id>`, as handlers/teams/inbound.py writes it), a staff id or @staff-id."""
    if word.startswith("@teams:") and len(word) > len("@teams:"):
        return StaffRef(user_id=word.removeprefix("@teams:"), typed=word, platform=PLATFORM)
    return StaffRef(staff_id=word.removeprefix("@"), typed=word)


def place_of(seen: ConversationSeen) -> Place:
    base = seen.conversation_id.split(";", 1)[0]  # a channel thread's id names the channel and the message
    kind: PlaceKind = seen.conversation_type
    channel_name = seen.channel_name
    if kind == "channel" and not channel_name and seen.team_id and base == seen.team_id:
        channel_name = "General"  # the team's first channel: its id is the team's, and activities give no name
    return Place(platform=PLATFORM, conversation=base, service_url=seen.service_url, kind=kind, tenant=seen.tenant_id,
                 team=seen.team_id, team_name=seen.team_name, channel_name=channel_name if kind == "channel" else None,
                 user=seen.user_aad_id if kind == "personal" else None)


class TeamsBot:
    """The `TeamsListener` of handlers/teams/inbound.py over the service."""

    def __init__(self, service: Service, places: DbPlaces, *, groups: GroupMembers | None = None) -> None:
        self.service = service
        self.places = places
        self.actions = TicketActions(service.db, service.config, service.clock)
        self._groups = groups or _no_groups

    def _group_members(self, group: str) -> frozenset[str]:
        """An Entra group's members; Graph failing with nothing known gives none (the config's lists still count)."""
        try:
            return self._groups(group)
        except Exception as exc:
            log.warning("Entra group lookup failed (%s): %s", type(exc).__name__, getattr(exc, "reason", ""))
            return frozenset()

    # --- who and where --------------------------------------------------------------------------------
    def actor(self, who: TeamsUser) -> Actor:
        """Staff are known by their Entra object id (staff[].teams_user); the Teams "29:" id only without one."""
        return actor_of(self.service.config, PLATFORM, who.aad_object_id or who.id, who.name or "",
                        self._group_members)

    def on_installed(self, ref: ConversationSeen) -> None:
        place = place_of(ref)
        self.places.remember(place)
        if place.kind != "personal" or not place.user:
            return
        member = self.service.config.staff_by_user(PLATFORM, place.user)
        if member is None:
            return
        with self.service.db.transaction() as session:  # once per person: the outbox row's dedupe key
            queue_welcome(session, self.service.config, member, PLATFORM, place.user, self.service.clock.now(),
                          prefix=PREFIX)
        self.service.on_work()

    # --- Adaptive Card actions ------------------------------------------------------------------------
    def on_action(self, verb: str, data: dict[str, Any], who: TeamsUser, where: ConversationSeen,
                  activity_id: str) -> dict[str, Any]:
        try:
            ticket = _ticket_ref(data)
        except BadAction as exc:
            return _notice_card(f"Sorry: {exc}.")
        try:
            return self._act(verb, ticket, data, self.actor(who), where, activity_id)
        except LookupError:
            return _notice_card(f"Ticket #{ticket} no longer exists.")

    def _act(self, verb: str, ticket: int, data: dict[str, Any], actor: Actor, where: ConversationSeen,
             activity_id: str) -> dict[str, Any]:
        actions = self.actions
        if verb in SIMPLE:
            return self._after(ticket, where, getattr(actions, SIMPLE[verb])(ticket, actor))
        if verb in DIALOGS:
            outcome = actions.open_dialog(ticket, actor, DIALOGS[verb])
            if not outcome.ok:
                return self._card(ticket, where, outcome)
            card = self._current(ticket, where)
            if verb == ActionId.REPLY.value:
                channel, language = outcome.detail["channel"], outcome.detail["language"]
                templates = staff_templates(self.service.config, language)
                return reply_form(card, CHANNEL_NAMES.get(channel, channel), language, templates)
            if verb == ActionId.ESCALATE.value:
                return escalate_form(card)
            if verb == ActionId.LINK_PATIENT.value:
                return link_form(card, CHANNEL_NAMES.get(outcome.detail["channel"], outcome.detail["channel"]))
            return reclassify_form(card, outcome.detail["category"])
        if verb == ActionId.SHOW_MESSAGE.value:
            outcome, text = actions.may_view_message(ticket, actor)
            if not outcome.ok:
                return self._card(ticket, where, outcome)
            return message_view(self._current(ticket, where), text)
        if verb == FormVerb.REPLY_SEND.value:
            text = str(data.get(FormInput.REPLY_TEXT.value) or "").strip()
            template = str(data.get(FormInput.REPLY_TEMPLATE.value) or "")
            if not text and not template:
                outcome = actions.open_dialog(ticket, actor, Act.REPLY)
                if not outcome.ok:
                    return self._card(ticket, where, outcome)
                channel, language = outcome.detail["channel"], outcome.detail["language"]
                form = reply_form(self._current(ticket, where), CHANNEL_NAMES.get(channel, channel), language,
                                  staff_templates(self.service.config, language))
                return with_notice(form, "Write a message or pick a template.")
            return self._after(ticket, where, actions.reply(ticket, actor, text, submission_id=f"teams:{activity_id}",
                                                            template=template))
        if verb == FormVerb.ESCALATE_SEND.value:
            try:
                target = EscalationTarget(str(data.get(FormInput.ESCALATE_TARGET.value) or ""))
            except ValueError:
                return with_notice(escalate_form(self._current(ticket, where)), "Pick where the ticket should go.")
            reason = str(data.get(FormInput.ESCALATE_REASON.value) or "").strip()
            return self._after(ticket, where, actions.escalate(ticket, actor, target, reason))
        if verb == FormVerb.RECLASSIFY_SEND.value:
            try:
                category = Category(str(data.get(FormInput.RECLASSIFY_CATEGORY.value) or ""))
            except ValueError:
                current = self._ticket_category(ticket)
                return with_notice(reclassify_form(self._current(ticket, where), current), "Pick a category.")
            return self._after(ticket, where, actions.reclassify(ticket, actor, category))
        if verb in (FormVerb.LINK_SEARCH.value, FormVerb.LINK_SEND.value):
            return self._link(verb, ticket, data, actor, where)
        if verb == FormVerb.REFRESH.value:
            return self._card(ticket, where, None)
        return self._card(ticket, where, Outcome(False, "Sorry: this button is not one the bot knows."))

    def _link(self, verb: str, ticket: int, data: dict[str, Any], actor: Actor,
              where: ConversationSeen) -> dict[str, Any]:
        """Link patient's two buttons: Search (the form again, with the matches) and Link (the pick)."""
        query = " ".join(str(data.get(FormInput.LINK_QUERY.value) or "").split())[:QUERY_MAX]
        key = str(data.get(FormInput.LINK_PATIENT.value) or "")
        if verb == FormVerb.LINK_SEND.value and key:
            return self._after(ticket, where, self.actions.link_patient(ticket, actor, key))
        outcome, found = self.actions.find_patients(ticket, actor, query)
        if not outcome.ok:
            return self._card(ticket, where, outcome)
        channel = outcome.detail["channel"]
        form = link_form(self._current(ticket, where), CHANNEL_NAMES.get(channel, channel), query,
                         [(match_label(p), p.key) for p in found])
        if verb == FormVerb.LINK_SEND.value:
            return with_notice(form, "Search for the patient and pick one.")
        if not found and len(query) < MIN_QUERY:
            return with_notice(form, "Type at least two letters of a name, a phone or an email.")
        if not found:
            return with_notice(form, "No patient matches that; try a name, a phone number or an email.")
        return form

    def _after(self, ticket: int, where: ConversationSeen, outcome: Outcome) -> dict[str, Any]:
        if outcome.ok:
            self.service.on_work()  # the card refresh, thread line and any reply are queued: send them
        return self._card(ticket, where, outcome)

    def _card(self, ticket: int, where: ConversationSeen, outcome: Outcome | None) -> dict[str, Any]:
        card = render_card(self._current(ticket, where))
        said = plain(outcome.line(self.service.config)) if outcome is not None else ""
        return with_notice(card, said) if said else card

    def _current(self, ticket_id: int, where: ConversationSeen) -> Card:
        """The card as the clicked post shows it now (a role channel's card, or a page in a personal chat)."""
        config, db = self.service.config, self.service.db
        base = where.conversation_id.split(";", 1)[0]
        with db.transaction() as session:
            ticket = session.get(TicketRow, ticket_id)
            if ticket is None:
                raise LookupError(ticket_id)
            post = session.scalars(select(ChatPostRow).where(
                ChatPostRow.ticket_id == ticket_id, ChatPostRow.platform == PLATFORM,
                ChatPostRow.conversation == base).order_by(ChatPostRow.id.desc())).first()
            return card_now(session, config, self.service.clock.now(), ticket, post)

    def _ticket_category(self, ticket_id: int) -> str:
        with self.service.db.transaction() as session:
            ticket = session.get(TicketRow, ticket_id)
            if ticket is None:
                raise LookupError(ticket_id)
            return ticket.category

    # --- commands -------------------------------------------------------------------------------------
    def on_message(self, text: str, who: TeamsUser, where: ConversationSeen) -> str | dict[str, Any] | None:
        words = text.strip()
        if words.lower().startswith("/triage"):
            words = words[len("/triage"):]
        answer = run_command(self.actions, self.actor(who), words, prefix=PREFIX, staff_ref=staff_ref)
        if answer.digest:
            Jobs(self.service).digest()
        if answer.changed:
            self.service.on_work()
        return answer_reply(answer)


def answer_reply(answer: Answer) -> str | dict[str, Any]:
    """A command's answer: a document as an Adaptive Card, a line as text. The people it names are written by
    name: the answer goes to the one who asked, and pinging someone in it would be noise."""
    if answer.document is not None:
        return teams_document(answer.document)
    return plain(answer.text)


def _ticket_ref(data: dict[str, Any]) -> int:
    value = str(data.get("ticket", ""))
    if not value.isdigit():
        raise BadAction(f"not a ticket reference: {value[:20]!r}")
    return int(value)


def _notice_card(text: str) -> dict[str, Any]:
    return AdaptiveCard((TextBlock(text, weight="bolder"),)).to_dict()
