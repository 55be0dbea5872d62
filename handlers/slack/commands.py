"""/triage: the open queue by role and the caller's own tickets; /triage oncall: who is on call."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App
from sqlalchemy import select

from bot.config.models import StaffMember
from bot.domain import Role, TicketStatus
from bot.flows.announce import handoff_text
from bot.oncall import add_override, current_on_call, end_overrides, parse_until
from bot.storage.models import TicketRow
from handlers.jobs import Jobs
from handlers.slack.context import SlackContext

log = logging.getLogger(__name__)

USAGE = ("Usage: `/triage` (the queue and your tickets) · `/triage oncall` (who is on call) · "
         "`/triage oncall set @someone until tomorrow 8am` · `/triage oncall clear` (back to the rota) · "
         "`/triage digest` (today so far, to the managers)")
MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


def queue_summary(ctx: SlackContext, user_id: str) -> str:
    """Counts per role and the caller's claimed tickets: numbers and categories only, no patient details."""
    with ctx.service.db.transaction() as session:
        open_tickets = list(session.scalars(select(TicketRow).where(
            TicketRow.status.in_([TicketStatus.OPEN.value, TicketStatus.CLAIMED.value])).order_by(TicketRow.id)))
    lines = ["*Open queue*"]
    for role in Role:
        mine = [t for t in open_tickets if t.role == role.value]
        if not mine:
            continue
        unclaimed = [t for t in mine if t.status == TicketStatus.OPEN.value]
        numbers = ", ".join(f"#{t.id} {t.category.replace('_', ' ')}" for t in unclaimed[:10])
        lines.append(f"• #{ctx.service.config.channels.for_role(role)}: {len(mine)} open, {len(unclaimed)} unclaimed"
                     + (f" ({numbers})" if numbers else ""))
    if len(lines) == 1:
        lines.append("Nothing open. 🎉")
    claimed = [t for t in open_tickets if t.claimed_by == user_id]
    lines.append("*Your tickets*")
    lines.append(", ".join(f"#{t.id} {t.category.replace('_', ' ')}" for t in claimed) or "None claimed.")
    return "\n".join(lines)


def oncall_text(ctx: SlackContext) -> str:
    with ctx.service.db.transaction() as session:
        oncall = current_on_call(session, ctx.service.config, ctx.service.clock.now())
    return handoff_text(ctx.service.config, oncall).removeprefix("🩺 ")


def find_staff(ctx: SlackContext, word: str) -> StaffMember | None:
    """A Slack mention (<@U123|name>), a staff id (dr-lee) or @staff-id."""
    config = ctx.service.config
    match = MENTION.match(word)
    if match:
        return config.staff_by_chat_user(match.group(1))
    return config.staff_member(word.removeprefix("@"))


def may_change_oncall(ctx: SlackContext, user: dict[str, Any]) -> bool:
    roles = ctx.actor(user).roles
    return Role.CLINICAL in roles or Role.MANAGERS in roles


def clear_oncall(ctx: SlackContext, user: dict[str, Any]) -> str:
    if not may_change_oncall(ctx, user):
        return "Only the clinical team or a manager can change who is on call."
    with ctx.service.db.transaction() as session:
        ended = end_overrides(session, now=ctx.service.clock.now())
    if not ended:
        return "No override is in force; the rota applies."
    log.info("on-call overrides ended", extra={"count": ended, "by": user.get("id")})
    Jobs(ctx.service).handoff(force=True)
    return "Override ended: the rota applies again. The clinical channel has been told."


def set_oncall(ctx: SlackContext, user: dict[str, Any], words: list[str]) -> str:
    """`set @someone until <when>`: recorded with who set it; the clinical channel gets a hand-off post."""
    actor = ctx.actor(user)
    if not may_change_oncall(ctx, user):
        return "Only the clinical team or a manager can change who is on call."
    if len(words) < 4 or words[2] != "until":
        return "Usage: `/triage oncall set @someone until tomorrow 8am`"
    member = find_staff(ctx, words[1])
    if member is None or not member.clinical:
        return f"{words[1]} is not clinical staff in the clinic config."
    now = ctx.service.clock.now()
    try:
        until = parse_until(" ".join(words[3:]), now, ctx.service.config.clinic.tz)
    except ValueError as exc:
        return f"Sorry: {exc}"
    with ctx.service.db.transaction() as session:
        add_override(session, provider=member.id, until=until, set_by=actor.id, now=now)
    log.info("on-call override set", extra={"provider": member.id, "set_by": actor.id, "until": until.isoformat()})
    Jobs(ctx.service).handoff(force=True)
    local = until.astimezone(ctx.service.config.clinic.tz)
    return f"{member.name} is on call until {local:%a %b %d %H:%M}. The clinical channel has been told."


def register(app: App, ctx: SlackContext) -> None:
    @app.command("/triage")
    def triage(ack: Ack, command: dict[str, Any]) -> None:
        words = str(command.get("text") or "").split()
        if not words:
            ack(response_type="ephemeral", text=queue_summary(ctx, str(command.get("user_id", ""))))
        elif words[0] == "oncall" and len(words) == 1:
            ack(response_type="ephemeral", text=oncall_text(ctx))
        elif words == ["oncall", "clear"]:
            ack(response_type="ephemeral", text=clear_oncall(ctx, {"id": command.get("user_id"),
                                                                   "name": command.get("user_name")}))
        elif words[0] == "oncall" and words[1] == "set":
            ack(response_type="ephemeral", text=set_oncall(ctx, {"id": command.get("user_id"),
                                                                 "name": command.get("user_name")}, words[1:]))
        elif words == ["digest"]:
            Jobs(ctx.service).digest()
            ack(response_type="ephemeral", text=f"Today's digest so far is on its way to "
                                                f"#{ctx.service.config.channels.managers}.")
        else:
            ack(response_type="ephemeral", text=f"I don't know `{' '.join(words)[:40]}`. {USAGE}")
