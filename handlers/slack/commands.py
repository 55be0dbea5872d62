"""/triage: the open queue by role and the caller's own tickets; /triage oncall: who is on call, and overrides.

This only parses the command and renders the answer in Slack's words; the rules live in bot/flows/actions.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.flows.actions import QueueSummary, StaffRef
from handlers.jobs import Jobs
from handlers.slack.context import SlackContext, mention
from integrations.slack.mentions import slack_line

USAGE = ("Usage: `/triage` (the queue and your tickets) · `/triage oncall` (who is on call) · "
         "`/triage oncall set @someone until tomorrow 8am` · `/triage oncall clear` (back to the rota) · "
         "`/triage digest` (today so far, to the managers)")
SET_USAGE = "Usage: `/triage oncall set @someone until tomorrow 8am`"
MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


def render_queue(summary: QueueSummary) -> str:
    """Counts per role and the caller's claimed tickets (mrkdwn): numbers and categories only."""
    lines = ["*Open queue*"]
    for queue in summary.roles:
        numbers = ", ".join(ref.label for ref in queue.listed)
        lines.append(f"• #{queue.channel}: {queue.open} open, {queue.unclaimed} unclaimed"
                     + (f" ({numbers})" if numbers else ""))
    if not summary.roles:
        lines.append("Nothing open. 🎉")
    lines.append("*Your tickets*")
    lines.append(", ".join(ref.label for ref in summary.mine) or "None claimed.")
    return "\n".join(lines)


def queue_summary(ctx: SlackContext, user_id: str) -> str:
    return render_queue(ctx.actions.queue(user_id))


def staff_ref(word: str) -> StaffRef:
    """A Slack mention (<@U123|name>), a staff id (dr-lee) or @staff-id."""
    match = MENTION.match(word)
    if match:
        return StaffRef(chat_user=match.group(1), typed=word)
    return StaffRef(staff_id=word.removeprefix("@"), typed=word)


def oncall_command(ctx: SlackContext, user: dict[str, Any], words: list[str]) -> str:
    desk, actor = ctx.actions.oncall, ctx.actor(user)
    if words == ["oncall"]:
        return slack_line(desk.now_text())
    if words == ["oncall", "clear"]:
        outcome = desk.clear(actor)
    elif len(words) < 5 or words[3] != "until":
        outcome = desk.set(actor, None, "")  # refused, or asks for the missing parts
    else:
        outcome = desk.set(actor, staff_ref(words[2]), " ".join(words[4:]))
    if outcome.ok:
        ctx.service.on_work()
    return outcome.text(mention) or SET_USAGE


def register(app: App, ctx: SlackContext) -> None:
    @app.command("/triage")
    def triage(ack: Ack, command: dict[str, Any]) -> None:
        words = str(command.get("text") or "").split()
        user = {"id": command.get("user_id"), "name": command.get("user_name")}
        if not words:
            ack(response_type="ephemeral", text=queue_summary(ctx, str(command.get("user_id", ""))))
        elif words[0] == "oncall" and (len(words) == 1 or words == ["oncall", "clear"] or words[1] == "set"):
            ack(response_type="ephemeral", text=oncall_command(ctx, user, words))
        elif words == ["digest"]:
            Jobs(ctx.service).digest()
            ack(response_type="ephemeral", text=f"Today's digest so far is on its way to "
                                                f"#{ctx.service.config.channels.managers}.")
        else:
            ack(response_type="ephemeral", text=f"I don't know `{' '.join(words)[:40]}`. {USAGE}")
