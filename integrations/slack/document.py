"""The one place a core Document (bot/document.py) becomes Slack mrkdwn."""

from __future__ import annotations

import re

from bot.document import Document, Span, Style

_AMPERSAND = re.compile(r"&(?!\s)")  # "& " cannot start an entity; any other & could: written &amp;


def escape(text: str) -> str:
    """Slack's three control characters: <, > and & would otherwise start a link, a mention or an entity."""
    return _AMPERSAND.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def _span(span: Span) -> str:
    return f"*{escape(span.text)}*" if span.strong and span.text.strip() else escape(span.text)


def slack_document(document: Document) -> str:
    lines = []
    for row in document:
        if row.style is Style.HEADING:
            lines.append(f"*{escape(''.join(span.text for span in row.spans))}*")
            continue
        text = "".join(_span(span) for span in row.spans)
        lines.append({Style.QUOTE: "> ", Style.BULLET: "• "}.get(row.style, "") + text)
    return "\n".join(lines)
