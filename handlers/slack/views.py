"""Modal submissions: Reply, Escalate, Reclassify, Link patient (and its search as you type). Bad input answers in
the modal itself."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.cards.patient import match_label
from bot.domain import Category
from bot.flows.actions import EscalationTarget, Outcome
from bot.flows.deliver import current_card
from handlers.slack.context import SlackContext
from handlers.slack.ids import BadPayload, ModalCallback, ticket_id
from handlers.slack.modals import (
    CATEGORY_BLOCK,
    CATEGORY_INPUT,
    MESSAGE_BLOCK,
    MESSAGE_INPUT,
    PATIENT_BLOCK,
    PATIENT_INPUT,
    REASON_BLOCK,
    REASON_INPUT,
    TARGET_BLOCK,
    TARGET_INPUT,
    TEMPLATE_BLOCK,
    TEMPLATE_INPUT,
)
from integrations.slack.mentions import slack_line


def _value(view: dict[str, Any], block: str, element: str) -> str:
    state = ((view.get("state") or {}).get("values") or {}).get(block, {}).get(element, {})
    if "selected_option" in state:
        return str((state.get("selected_option") or {}).get("value") or "")
    return str(state.get("value") or "")


def register(app: App, ctx: SlackContext) -> None:
    def after(body: dict[str, Any], ticket: int, outcome: Outcome) -> None:
        ctx.service.on_work()
        if outcome.notice:
            user = body["user"]["id"]
            channel = _card_channel(ctx, ticket) or user
            ctx.client.chat_postEphemeral(channel=channel, user=user, text=slack_line(outcome.line(ctx.service.config)))

    @app.view(ModalCallback.REPLY)
    def reply(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            ref = ticket_id(str(view.get("private_metadata", "")))
        except BadPayload:
            ack(response_action="errors", errors={MESSAGE_BLOCK: "This form has lost its ticket; open it again."})
            return
        text = _value(view, MESSAGE_BLOCK, MESSAGE_INPUT).strip()
        template = _value(view, TEMPLATE_BLOCK, TEMPLATE_INPUT)
        if not text and not template:
            ack(response_action="errors", errors={MESSAGE_BLOCK: "Write a message or pick a template."})
            return
        ack()
        outcome = ctx.actions.reply(ref, ctx.actor(body["user"]), text, submission_id=str(view.get("id")),
                                    template=template)
        after(body, ref, outcome)

    @app.view(ModalCallback.ESCALATE)
    def escalate(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            ref = ticket_id(str(view.get("private_metadata", "")))
            target = EscalationTarget(_value(view, TARGET_BLOCK, TARGET_INPUT))
        except (BadPayload, ValueError):
            ack(response_action="errors", errors={TARGET_BLOCK: "Pick where the ticket should go."})
            return
        ack()
        reason = _value(view, REASON_BLOCK, REASON_INPUT).strip()
        after(body, ref, ctx.actions.escalate(ref, ctx.actor(body["user"]), target, reason))

    @app.view(ModalCallback.RECLASSIFY)
    def reclassify(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            ref = ticket_id(str(view.get("private_metadata", "")))
            category = Category(_value(view, CATEGORY_BLOCK, CATEGORY_INPUT))
        except (BadPayload, ValueError):
            ack(response_action="errors", errors={CATEGORY_BLOCK: "Pick a category."})
            return
        ack()
        after(body, ref, ctx.actions.reclassify(ref, ctx.actor(body["user"]), category))


    @app.options(PATIENT_INPUT)
    def patient_matches(ack: Ack, body: dict[str, Any]) -> None:
        """Slack asks for the matches of what was typed; a refusal shows as no match (the click said why)."""
        try:
            ref = ticket_id(str((body.get("view") or {}).get("private_metadata", "")))
        except BadPayload:
            ack(options=[])
            return
        _, found = ctx.actions.find_patients(ref, ctx.actor(body["user"]), str(body.get("value") or ""))
        ack(options=[{"text": {"type": "plain_text", "text": match_label(p)}, "value": p.key[:150]} for p in found])

    @app.view(ModalCallback.LINK_PATIENT)
    def link_patient(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            ref = ticket_id(str(view.get("private_metadata", "")))
        except BadPayload:
            ack(response_action="errors", errors={PATIENT_BLOCK: "This form has lost its ticket; open it again."})
            return
        key = _value(view, PATIENT_BLOCK, PATIENT_INPUT)
        if not key:
            ack(response_action="errors", errors={PATIENT_BLOCK: "Search for the patient and pick one."})
            return
        ack()
        after(body, ref, ctx.actions.link_patient(ref, ctx.actor(body["user"]), key))


def _card_channel(ctx: SlackContext, ticket: int) -> str | None:
    with ctx.service.db.transaction() as session:
        post = current_card(session, ticket, "slack")
        return post.conversation if post else None
