"""The one place a core Line (bot/mentions.py) and a core Document (bot/document.py) become Teams text.

`teams_line` is for plain thread lines posted as message activities: the activity's ``text`` and its
``entities`` (``<at>Name</at>`` for a person with a Teams id, "@Name" for one without, see
`integrations.teams.cards.mention_markup`). `teams_document` is the digest as an Adaptive Card. Core text is
plain, never Markdown: everything is escaped, and only the strong spans this module writes are bold.
"""

from __future__ import annotations

from typing import Any

from bot.document import DocLine, Document, Span, Style
from bot.mentions import Line
from integrations.teams.cards import (
    JSON,
    TITLE_MAX,
    AdaptiveCard,
    Container,
    Element,
    TextBlock,
    escape_markdown,
    line_markup,
)

BULLET = "• "


def teams_line(line: Line | str) -> tuple[str, list[dict[str, Any]]]:
    """A line as a message activity's ``text`` (Teams Markdown) and ``entities`` (its mentions)."""
    text, entities = line_markup(line)
    return text, [entity.to_dict() for entity in entities]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _span(span: Span) -> str:
    if not span.strong or not span.text.strip():
        return escape_markdown(span.text)
    # "** x**" is not bold in Markdown: the spaces go outside the stars.
    core = span.text.strip()
    lead = span.text[: len(span.text) - len(span.text.lstrip())]
    trail = span.text[len(span.text.rstrip()):]
    return f"{escape_markdown(lead)}**{escape_markdown(core)}**{escape_markdown(trail)}"


def _spans(row: DocLine) -> str:
    return "".join(_span(span) for span in row.spans)


def _plain(row: DocLine, limit: int) -> str:
    return _clip("".join(span.text for span in row.spans), limit)


def teams_document(document: Document) -> JSON:
    """The document as an Adaptive Card: headings large and bold, quotes in an emphasis container, bullets."""
    body: list[Element] = []
    quotes: list[TextBlock] = []

    def close_quotes() -> None:
        if quotes:
            body.append(Container(tuple(quotes), style="emphasis", spacing="small"))
            quotes.clear()

    for row in document:
        if row.style is Style.QUOTE:
            quotes.append(TextBlock(_spans(row), spacing="none" if quotes else None))
            continue
        close_quotes()
        if row.style is Style.HEADING:
            body.append(TextBlock(escape_markdown(_plain(row, TITLE_MAX)), style="heading", size="large",
                                  weight="bolder"))
        elif row.style is Style.BULLET:
            body.append(TextBlock(BULLET + _spans(row), spacing="none"))
        else:
            body.append(TextBlock(_spans(row)))
    close_quotes()
    headings = [row for row in document if row.style is Style.HEADING]
    fallback = escape_markdown(_plain(headings[0], TITLE_MAX)) if headings else None
    return AdaptiveCard(tuple(body) or (TextBlock(""),), fallback_text=fallback).to_dict()

