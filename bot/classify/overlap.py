"""Near-duplicate texts: the same message with other case, punctuation, accents or a word or two changed.

The dev set and the safety check sets must not be in the training data even as near-duplicates (a test checks),
or their figures would measure memory, not reading."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

TOKENS = re.compile(r"[a-z0-9]+")
JACCARD = 0.8  # share of distinct words in common, of all the distinct words of the two
MIN_WORDS = 4  # shorter texts ("ok thanks", "STOP") are near-duplicates only when they are equal


_MODIFIERS = re.compile("[\U0001F3FB-\U0001F3FF\uFE0E\uFE0F\u200D\\s.,;:!?¡¿'\"()\\-]")


def folded(text: str) -> str:
    """Case, accents and punctuation off, spaces collapsed; a text of no words (emoji) keeps its symbols, without
    skin tones and variation selectors ("👍🏼" and "👍" are the same)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    return " ".join(TOKENS.findall(plain)) or _MODIFIERS.sub("", text)


def near_duplicates(texts: Iterable[str], against: Sequence[str]) -> list[tuple[str, str]]:
    """Every (text, training text) pair that is the same after folding, or shares ≥ `JACCARD` of its words."""
    pool = [(t, folded(t), frozenset(folded(t).split())) for t in against]
    exact = {f: t for t, f, _ in pool}
    found = []
    for text in texts:
        key = folded(text)
        if key in exact:
            found.append((text, exact[key]))
            continue
        words = frozenset(key.split())
        if len(words) < MIN_WORDS:
            continue
        for other, _, other_words in pool:
            if len(other_words) >= MIN_WORDS and len(words & other_words) >= JACCARD * len(words | other_words):
                found.append((text, other))
                break
    return found
