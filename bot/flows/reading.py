"""How much of a message the bot reads: classification, matching and booking parsers see at most `READ_LIMIT`
characters, so their cost is bounded whatever the body size. Storage and the card keep the message whole."""

from __future__ import annotations

READ_LIMIT = 2_000  # characters; a patient's message is rarely longer than a few hundred


def for_reading(body: str) -> str:
    """The part of `body` the classifier and parsers read."""
    return body if len(body) <= READ_LIMIT else body[:READ_LIMIT]
