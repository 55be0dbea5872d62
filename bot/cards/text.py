"""Plain-text rendering of a card: the console transport and the demo print this."""

from __future__ import annotations

from bot.cards.model import Card


def render_text(card: Card) -> str:
    lines = [card.title, "  " + " | ".join(f"{f.label}: {f.value}" for f in card.patient)]
    if card.message is not None:
        message = " ".join(card.message.split())
        lines.append(f"  “{message[:300]}{'…' if len(message) > 300 else ''}”")
    if card.reasons:
        lines.append("  why: " + "; ".join(card.reasons))
    lines.append("  " + " | ".join(f"{f.label}: {f.value}" for f in card.context) + f" | {card.status}")
    lines.append("  [" + "] [".join(a.label for a in card.actions) + "]")
    return "\n".join(lines)
