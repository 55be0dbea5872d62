"""Block Kit rendering of a Card. Layout only: every decision (what to show, which buttons) was made in bot/.

Built with slack_sdk's typed builders and returned through ``to_dict()``, so slack_sdk checks Slack's limits
(text lengths, field and element counts) before anything is posted.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
)

from bot.cards.model import ActionId, Card, CardAction, CardField, CardSection, SectionKind
from integrations.slack.mentions import slack_line, slack_mention

HEADER_MAX = 150  # header text (plain_text)
TEXT_MAX = 3000  # section / context text object
FIELD_MAX = 2000  # one section field
FIELDS_PER_SECTION = 10
MESSAGE_MAX = TEXT_MAX - 10  # the quoted message keeps a little room under the 3000-char limit
ELLIPSIS = "…"
HIDDEN_MESSAGE = "_Message hidden by the clinic's privacy setting. Use *Show message* to read it._"
BUTTON_STYLES = frozenset({"primary", "danger"})


def escape(text: str) -> str:
    """Slack's three control characters; the only escaping mrkdwn needs (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    """Cut to at most ``limit`` chars with an ellipsis, never leaving half an ``&amp;``-style entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + ELLIPSIS


def _mentions(card: Card) -> str:
    return " ".join(slack_mention(m) for m in card.mentions)


def _patient_text(text: str) -> MarkdownTextObject:
    # verbatim: no auto-linking of URLs, #channels or @names typed by a patient.
    return MarkdownTextObject(text=text, verbatim=True)


def _field(field: CardField) -> MarkdownTextObject:
    label = escape(field.label)
    return _patient_text(_clip(f"*{label}*\n{escape(field.value)}", FIELD_MAX))


def _quote(message: str) -> str:
    lines = message.splitlines() or [""]
    return _clip("\n".join("> " + escape(line) for line in lines), MESSAGE_MAX)


def _button(action: CardAction) -> ButtonElement:
    style = action.style if action.style in BUTTON_STYLES else None
    return ButtonElement(
        text=PlainTextObject(text=action.label, emoji=True),
        action_id=action.action_id.value,
        value=action.value,
        style=style,
    )


def _overflow(actions: list[CardAction]) -> OverflowMenuElement:
    options = [
        Option(value=f"{a.action_id.value}:{a.value}", text=PlainTextObject(text=a.label, emoji=True)) for a in actions
    ]
    return OverflowMenuElement(action_id=ActionId.MORE.value, options=options)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(text, TEXT_MAX))])


def _section(section: CardSection) -> list[Block]:
    """One body section of the card, in the order the card model gives them."""
    if section.kind is SectionKind.MESSAGE:
        if section.text is None:
            return [SectionBlock(text=MarkdownTextObject(text=HIDDEN_MESSAGE))]
        return [SectionBlock(text=_patient_text(_quote(section.text)))]
    if section.kind is SectionKind.LINE:
        return [SectionBlock(text=_patient_text(_clip(escape(section.text or ""), TEXT_MAX)))]
    return [SectionBlock(fields=[_field(f) for f in section.fields[start : start + FIELDS_PER_SECTION]])
            for start in range(0, len(section.fields), FIELDS_PER_SECTION)]


def render_blocks(card: Card) -> list[dict[str, Any]]:
    """The card as Block Kit blocks, ready for ``chat.postMessage(blocks=...)``."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_clip(card.title, HEADER_MAX), emoji=True))]
    if card.mentions:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_mentions(card))))
    for section in card.sections:
        blocks.extend(_section(section))
    if card.reasons:
        blocks.append(_context("Why: " + "; ".join(escape(r) for r in card.reasons)))
    blocks.append(_context(" · ".join([*(f"{f.label}: {f.value}" for f in card.context), slack_line(card.status)])))
    blocks.extend(_context(note) for note in card.notes)
    buttons: list[ButtonElement | OverflowMenuElement] = [_button(a) for a in card.actions if not a.overflow]
    overflow = [a for a in card.actions if a.overflow]
    if overflow:
        buttons.append(_overflow(overflow))
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return [b.to_dict() for b in blocks]


def render_text(card: Card) -> str:
    """Top-level ``text`` of the post: what the push notification and lock screen show. No patient detail."""
    return f"{_mentions(card)} {card.notification}" if card.mentions else card.notification
