"""Plain-text rendering of a card: the console transport and the demo print this."""

from __future__ import annotations

from bot.cards.model import Card, SectionKind
from bot.mentions import plain


def render_text(card: Card) -> str:
    lines = [card.title]
    if card.mentions:
        lines.append("  " + " ".join(mention.label for mention in card.mentions))
    for section in card.sections:
        if section.kind is SectionKind.FIELDS:
            lines.append("  " + " | ".join(f"{f.label}: {f.value}" for f in section.fields))
        elif section.kind is SectionKind.LINE:
            lines.append(f"  {section.text}")
        elif section.text is None:
            lines.append("  (message hidden by the clinic's privacy setting)")
        else:
            message = " ".join(section.text.split())
            lines.append(f"  “{message[:300]}{'…' if len(message) > 300 else ''}”")
    if card.reasons:
        lines.append("  why: " + "; ".join(card.reasons))
    lines.append("  " + " | ".join(f"{f.label}: {f.value}" for f in card.context) + f" | {plain(card.status)}")
    lines.extend(f"  {note}" for note in card.notes)
    buttons = [a.label for a in card.actions if not a.overflow]
    more = [a.label for a in card.actions if a.overflow]
    lines.append("  [" + "] [".join(buttons) + "]" + (f"  ⋯ {', '.join(more)}" if more else ""))
    return "\n".join(lines)
