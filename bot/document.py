"""A short formatted post (the daily digest) as the core writes it: lines of spans, some strong, some quoted or
bulleted. Each messenger renders it in its own syntax (Slack mrkdwn, Teams markdown); the CLI prints it plain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Style(StrEnum):
    PLAIN = "plain"
    HEADING = "heading"  # the post's title line
    QUOTE = "quote"  # an indented breakdown under the line before
    BULLET = "bullet"  # one item of a list


@dataclass(frozen=True)
class Span:
    text: str
    strong: bool = False


@dataclass(frozen=True)
class DocLine:
    spans: tuple[Span, ...]
    style: Style = Style.PLAIN


Document = tuple[DocLine, ...]


def line(*parts: str | Span, style: Style = Style.PLAIN) -> DocLine:
    """`line(strong("Claims:"), " Jess 2")`: plain strings are plain spans."""
    return DocLine(tuple(Span(part) if isinstance(part, str) else part for part in parts), style)


def strong(text: str) -> Span:
    return Span(text, strong=True)


def plain_document(document: Document) -> str:
    marks = {Style.QUOTE: "  ", Style.BULLET: "• "}
    return "\n".join(marks.get(row.style, "") + "".join(span.text for span in row.spans) for row in document)


def document_json(document: Document) -> list[dict[str, Any]]:
    return [{"style": row.style.value, "spans": [[span.text, span.strong] for span in row.spans]}
            for row in document]


def document_from_json(rows: Iterable[dict[str, Any]]) -> Document:
    return tuple(DocLine(tuple(Span(str(text), bool(bold)) for text, bold in row.get("spans", ())),
                         Style(str(row.get("style", Style.PLAIN.value)))) for row in rows)
