"""Card buttons and the overflow menu. Each listener acks first, then calls one ticket action in bot/."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.cards.build import CHANNEL_NAMES
from bot.cards.model import ActionId
from bot.flows.actions import Act, Outcome
from handlers.slack.context import SlackContext
from handlers.slack.ids import BadPayload, overflow_choice, ticket_id
from handlers.slack.modals import escalate_modal, link_modal, message_modal, reclassify_modal, reply_modal

DIALOG_ACTS = {ActionId.REPLY: Act.REPLY, ActionId.ESCALATE: Act.ESCALATE, ActionId.RECLASSIFY: Act.RECLASSIFY,
               ActionId.LINK_PATIENT: Act.LINK_PATIENT}


def register(app: App, ctx: SlackContext) -> None:
    def simple(run: Any) -> Any:
        def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            ack()
            try:
                outcome = run(ticket_id(str(action.get("value", ""))), ctx.actor(body["user"]))
            except (BadPayload, LookupError) as exc:
                ctx.tell(body, f"Sorry: {exc}.")
                return
            finish(body, outcome)

        return listener

    def finish(body: dict[str, Any], outcome: Outcome) -> None:
        ctx.tell(body, outcome)
        ctx.service.on_work()

    app.action(ActionId.CLAIM.value)(simple(ctx.actions.claim))
    app.action(ActionId.UNCLAIM.value)(simple(ctx.actions.unclaim))
    app.action(ActionId.ACKNOWLEDGE.value)(simple(ctx.actions.acknowledge))
    app.action(ActionId.RESOLVE.value)(simple(ctx.actions.resolve))

    def open_modal(name: ActionId, ref: int, body: dict[str, Any]) -> None:
        """The permission is checked on the click, so nobody types a reply they may not send."""
        actor = ctx.actor(body["user"])
        try:
            if name is ActionId.SHOW_MESSAGE:
                outcome, text = ctx.actions.may_view_message(ref, actor)
            else:
                outcome, text = ctx.actions.open_dialog(ref, actor, DIALOG_ACTS[name]), ""
        except LookupError:
            ctx.tell(body, f"Ticket #{ref} no longer exists.")
            return
        if not outcome.ok:
            ctx.tell(body, outcome)
            return
        if name is ActionId.REPLY:
            channel, language = outcome.detail["channel"], outcome.detail["language"]
            view = reply_modal(ref, CHANNEL_NAMES.get(channel, channel), language, ctx.service.config)
        elif name is ActionId.ESCALATE:
            view = escalate_modal(ref)
        elif name is ActionId.RECLASSIFY:
            view = reclassify_modal(ref, outcome.detail["category"])
        elif name is ActionId.LINK_PATIENT:
            channel = outcome.detail["channel"]
            view = link_modal(ref, CHANNEL_NAMES.get(channel, channel))
        else:
            view = message_modal(ref, text)
        ctx.client.views_open(trigger_id=body["trigger_id"], view=view)

    def modal_button(name: ActionId) -> Any:
        def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            ack()
            try:
                open_modal(name, ticket_id(str(action.get("value", ""))), body)
            except BadPayload as exc:
                ctx.tell(body, f"Sorry: {exc}.")

        return listener

    for name in (ActionId.REPLY, ActionId.ESCALATE, ActionId.SHOW_MESSAGE):
        app.action(name.value)(modal_button(name))

    @app.action(ActionId.MORE.value)
    def more(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        try:
            name, ref = overflow_choice(action)
        except BadPayload as exc:
            ctx.tell(body, f"Sorry: {exc}.")
            return
        try:
            if name is ActionId.RESOLVE:
                finish(body, ctx.actions.resolve(ref, ctx.actor(body["user"])))
            elif name in (ActionId.RECLASSIFY, ActionId.LINK_PATIENT):
                open_modal(name, ref, body)
        except LookupError as exc:
            ctx.tell(body, f"Sorry: {exc}.")
