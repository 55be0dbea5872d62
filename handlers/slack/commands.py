"""/triage: the open queue by role and the caller's own tickets; /triage oncall: who is on call."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from sqlalchemy import select

from bot.domain import Role, TicketStatus
from bot.storage.models import TicketRow
from handlers.slack.context import SlackContext

USAGE = "Usage: `/triage` (the queue and your tickets) · `/triage oncall` (who is on call)"


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
    config = ctx.service.config
    member = config.staff_member(config.routing.oncall_provider)
    if member is None:
        return "No on-call provider is configured (routing.oncall_provider)."
    who = f"<@{member.chat_user}>" if member.chat_user else member.name
    return f"On call now: {who} ({member.name})."


def register(app: App, ctx: SlackContext) -> None:
    @app.command("/triage")
    def triage(ack: Ack, command: dict[str, Any]) -> None:
        words = str(command.get("text") or "").split()
        if not words:
            ack(response_type="ephemeral", text=queue_summary(ctx, str(command.get("user_id", ""))))
        elif words[0] == "oncall" and len(words) == 1:
            ack(response_type="ephemeral", text=oncall_text(ctx))
        else:
            ack(response_type="ephemeral", text=f"I don't know `{' '.join(words)[:40]}`. {USAGE}")
