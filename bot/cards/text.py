"""Plain-text rendering of a card: the console transport and the demo print this."""

from __future__ import annotations

from bot.cards.model import Card


def render_text(card: Card) -> str:
    lines = [card.title]
    if card.mentions:
        lines.append("  " + " ".join(f"<@{user}>" for user in card.mentions))
    if card.patient:
        lines.append("  " + " | ".join(f"{f.label}: {f.value}" for f in card.patient))
    if card.message is not None:
        message = " ".join(card.message.split())
        lines.append(f"  “{message[:300]}{'…' if len(message) > 300 else ''}”")
    else:
        lines.append("  (message hidden by the clinic's privacy setting)")
    if card.reasons:
        lines.append("  why: " + "; ".join(card.reasons))
    lines.append("  " + " | ".join(f"{f.label}: {f.value}" for f in card.context) + f" | {card.status}")
    lines.extend(f"  {note}" for note in card.notes)
    buttons = [a.label for a in card.actions if not a.overflow]
    more = [a.label for a in card.actions if a.overflow]
    lines.append("  [" + "] [".join(buttons) + "]" + (f"  ⋯ {', '.join(more)}" if more else ""))
    return "\n".join(lines)
