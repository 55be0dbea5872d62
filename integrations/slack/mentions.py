"""The one place a core Mention becomes Slack syntax."""

from __future__ import annotations

from collections.abc import Sequence

from bot.mentions import Line, Mention, MentionKind, trailing


def slack_mention(mention: Mention) -> str:
    if mention.kind is MentionKind.USER:
        return f"<@{mention.id}>"
    if mention.kind is MentionKind.GROUP:
        return f"<!subteam^{mention.id}>"
    return "<!here>"


def slack_line(line: str | Line) -> str:
    """Text with its mentions in Slack's syntax (the text itself is Slack mrkdwn already)."""
    if isinstance(line, str):
        return line
    return "".join(part if isinstance(part, str) else slack_mention(part) for part in line)


def with_mentions(text: str, mentions: Sequence[Mention]) -> str:
    """The line, then who it pings: "⏰ Unclaimed, overdue by 0 min — <!subteam^S0BILL>"."""
    return slack_line(trailing(text, mentions))
