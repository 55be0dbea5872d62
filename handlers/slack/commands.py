"""/triage: the open queue by role and the caller's own tickets; /triage oncall: who is on call, and overrides.

This only reads Slack's mention syntax and renders the answer in Slack's words; the commands and their rules
live in bot/flows/actions/commands.py, shared with Teams.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.flows.actions import StaffRef
from bot.flows.actions.commands import Answer, queue_document, run_command
from handlers.jobs import Jobs
from handlers.slack.context import SlackContext
from integrations.slack.document import slack_document
from integrations.slack.mentions import slack_line

PREFIX = "/triage"
MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


def queue_summary(ctx: SlackContext, user: dict[str, Any]) -> str:
    """The queue as mrkdwn, for the App Home."""
    return slack_document(queue_document(ctx.actions.queue(ctx.actor(user).id)))


def staff_ref(word: str) -> StaffRef:
    """A Slack mention (<@U123|name>), a staff id (dr-lee) or @staff-id."""
    match = MENTION.match(word)
    if match:
        return StaffRef(user_id=match.group(1), typed=word, platform="slack")
    return StaffRef(staff_id=word.removeprefix("@"), typed=word)


def answer_text(answer: Answer) -> str:
    return slack_document(answer.document) if answer.document is not None else slack_line(answer.text)


def register(app: App, ctx: SlackContext) -> None:
    @app.command("/triage")
    def triage(ack: Ack, command: dict[str, Any]) -> None:
        user = {"id": command.get("user_id"), "name": command.get("user_name")}
        answer = run_command(ctx.actions, ctx.actor(user), str(command.get("text") or ""), prefix=PREFIX,
                             staff_ref=staff_ref)
        ack(response_type="ephemeral", text=answer_text(answer))
        if answer.digest:
            Jobs(ctx.service).digest()
        if answer.changed:
            ctx.service.on_work()
