"""Staff commands, the same words in every messenger: `/triage …` in Slack, a message to the bot in Teams.

    (nothing), queue, mine   the open queue by role and the caller's own tickets
    oncall                   who is on call now
    oncall set WHO until WHEN   an override (WHO: a mention, a staff id or @staff-id)
    oncall clear             back to the rota
    digest                   today's digest so far, to the managers
    help                     what it understands

A messenger's handler only turns its own mention syntax into a `StaffRef` and renders the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.document import Document, Style, line
from bot.flows.actions.oncall import StaffRef
from bot.flows.actions.queue import QueueSummary
from bot.mentions import Line
from bot.tickets.permissions import Actor

if TYPE_CHECKING:
    from bot.flows.actions import TicketActions


@dataclass(frozen=True)
class Answer:
    """What the caller is told (only them), and what the handler does after."""

    text: Line = ()
    document: Document | None = None
    changed: bool = False  # something was queued: wake the workers
    digest: bool = False  # the caller asked for the digest: the handler runs the digest job


def usage(prefix: str) -> str:
    return (f"Usage: `{prefix}` (the queue and your tickets) · `{prefix} oncall` (who is on call) · "
            f"`{prefix} oncall set @someone until tomorrow 8am` · `{prefix} oncall clear` (back to the rota) · "
            f"`{prefix} digest` (today so far, to the managers)")


def queue_document(summary: QueueSummary) -> Document:
    """Counts per role and the caller's claimed tickets: numbers and categories only."""
    rows = [line("Open queue", style=Style.HEADING)]
    for queue in summary.roles:
        numbers = ", ".join(ref.label for ref in queue.listed)
        rows.append(line(f"#{queue.channel}: {queue.open} open, {queue.unclaimed} unclaimed"
                         + (f" ({numbers})" if numbers else ""), style=Style.BULLET))
    if not summary.roles:
        rows.append(line("Nothing open. 🎉"))
    rows.append(line("Your tickets", style=Style.HEADING))
    rows.append(line(", ".join(ref.label for ref in summary.mine) or "None claimed."))
    return tuple(rows)


def run_command(actions: TicketActions, actor: Actor, text: str, *, prefix: str,
                staff_ref: Callable[[str], StaffRef]) -> Answer:
    """`text` is what followed the command; `staff_ref` reads a person the way the messenger writes them."""
    words = text.split()
    if [w.lower() for w in words] in ([], ["queue"], ["mine"], ["my", "tickets"]):
        return Answer(document=queue_document(actions.queue(actor.id)))
    head = [w.lower() for w in words[:2]]
    desk = actions.oncall
    if head == ["oncall"] and len(words) == 1:
        return Answer(desk.now_text())
    if head == ["oncall", "clear"] and len(words) == 2:
        outcome = desk.clear(actor)
    elif head == ["oncall", "set"]:
        if len(words) < 5 or words[3].lower() != "until":
            outcome = desk.set(actor, None, "")  # refused, or asks for the missing parts
        else:
            outcome = desk.set(actor, staff_ref(words[2]), " ".join(words[4:]))
    elif [w.lower() for w in words] == ["digest"]:
        return Answer((f"Today's digest so far is on its way to #{actions.config.channels.managers}.",), digest=True)
    elif [w.lower() for w in words] == ["help"]:
        return Answer((usage(prefix),))
    else:
        return Answer((f"I don't know `{' '.join(words)[:40]}`. {usage(prefix)}",))
    said = outcome.line(actions.config)
    return Answer(said or (f"Usage: `{prefix} oncall set @someone until tomorrow 8am`",), changed=outcome.ok)

