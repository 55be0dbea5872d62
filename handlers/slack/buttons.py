"""Card buttons and the overflow menu. Each listener acks first, then calls one ticket action."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.cards.build import CHANNEL_NAMES
from bot.cards.model import ActionId
from bot.flows.actions import Outcome
from bot.storage.models import TicketRow
from handlers.slack.context import SlackContext
from handlers.slack.ids import BadPayload, overflow_choice, ticket_id
from handlers.slack.modals import escalate_modal, message_modal, reclassify_modal, reply_modal


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
        ctx.tell(body, outcome.notice)
        ctx.service.on_work()

    app.action(ActionId.CLAIM.value)(simple(ctx.actions.claim))
    app.action(ActionId.UNCLAIM.value)(simple(ctx.actions.unclaim))
    app.action(ActionId.ACKNOWLEDGE.value)(simple(ctx.actions.acknowledge))
    app.action(ActionId.RESOLVE.value)(simple(ctx.actions.resolve))

    def open_modal(name: ActionId, ref: int, body: dict[str, Any]) -> None:
        actor = ctx.actor(body["user"])
        with ctx.service.db.transaction() as session:
            ticket = session.get(TicketRow, ref)
            if ticket is None:
                ctx.tell(body, f"Ticket #{ref} no longer exists.")
                return
            language, channel, category = ticket.language, ticket.channel, ticket.category
        trigger = body["trigger_id"]
        if name is ActionId.REPLY:
            view = reply_modal(ref, CHANNEL_NAMES.get(channel, channel), language, ctx.service.config)
        elif name is ActionId.ESCALATE:
            view = escalate_modal(ref)
        elif name is ActionId.RECLASSIFY:
            view = reclassify_modal(ref, category)
        elif name is ActionId.SHOW_MESSAGE:
            outcome, text = ctx.actions.may_view_message(ref, actor)
            if not outcome.ok:
                ctx.tell(body, outcome.notice)
                return
            view = message_modal(ref, text)
        else:
            return
        ctx.client.views_open(trigger_id=trigger, view=view)

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
            elif name is ActionId.RECLASSIFY:
                open_modal(name, ref, body)
        except LookupError as exc:
            ctx.tell(body, f"Sorry: {exc}.")
