"""Opt-out and opt-in keywords: a whole message that is only the keyword, any case, punctuation trimmed.

The English lists are Twilio's standard Advanced Opt-Out keywords (what Twilio itself acts on, so our record
matches what the carrier will enforce); the Spanish ones are the common carrier and short-code equivalents.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


OPT_OUT_WORDS = frozenset({
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",  # Twilio's list
    "BAJA", "CANCELAR", "ALTO", "PARAR", "DETENER", "PARE", "DARSE DE BAJA", "NO MAS",  # Spanish
})
# START, UNSTOP and YES are Twilio's opt-in keywords; ALTA and INICIO the Spanish ones. YES (and SI) only opt an
# address back in that is opted out: from anybody else "yes" is an answer to a question and is triaged as usual.
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "ALTA", "INICIO", "COMENZAR"})
OPT_IN_WHEN_OPTED_OUT = frozenset({"YES", "SI"})


@dataclass(frozen=True)
class Found:
    kind: Keyword
    word: str  # the normalised keyword, e.g. "BAJA"
    only_when_opted_out: bool = False


def _normalise(text: str) -> str:
    # Accents off ("NO MÁS" → "NO MAS"), punctuation and emoji trimmed at both ends, inner spaces collapsed.
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    words = plain.upper().split()
    trimmed = " ".join(words).strip(" \t\r\n.,;:!?¡¿'\"()[]-_*~")
    return "".join(c for c in trimmed if c.isalnum() or c == " ").strip()


def keyword_of(body: str) -> Found | None:
    """The opt-out or opt-in keyword that is the whole of `body`, or None for any other message."""
    if len(body) > 40:
        return None
    word = _normalise(body)
    if word in OPT_OUT_WORDS:
        return Found(Keyword.OPT_OUT, word)
    if word in OPT_IN_WORDS:
        return Found(Keyword.OPT_IN, word)
    if word in OPT_IN_WHEN_OPTED_OUT:
        return Found(Keyword.OPT_IN, word, only_when_opted_out=True)
    return None
