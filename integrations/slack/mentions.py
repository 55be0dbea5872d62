"""The one place a core Mention becomes Slack syntax."""

from __future__ import annotations

from collections.abc import Sequence

from bot.mentions import Mention, MentionKind


def slack_mention(mention: Mention) -> str:
    if mention.kind is MentionKind.USER:
        return f"<@{mention.id}>"
    if mention.kind is MentionKind.GROUP:
        return f"<!subteam^{mention.id}>"
    return "<!here>"


def with_mentions(text: str, mentions: Sequence[Mention]) -> str:
    """The line, then who it pings: "⏰ Unclaimed, overdue by 0 min — <!subteam^S0BILL>"."""
    if not mentions:
        return text
    return f"{text} — {' '.join(slack_mention(m) for m in mentions)}"
