"""The cues shown on a card: phrases a nurse (or the front desk) can act on, not the model's filler words.

The model's strongest words include "after", "since", "days", "desde": they separate the classes in the
training data, but tell a nurse nothing. A card shows, in this order: the symptom phrases the message reports
(for clinical and adverse-event tickets), then the model's words with the connectors, time words and
function words stripped off, each idea once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from bot.classify.safety import _SYMPTOM, _mention_is_current, fold
from bot.classify.stopwords import STOPWORDS
from bot.domain import Category

# Words that decide a classifier but are no use on a card: time, sequence, hedging, auxiliaries.
NOT_FOR_A_NURSE = STOPWORDS | frozenset(
    """
    since after before ago day days week weeks hour hours minute minutes yesterday today tonight tomorrow now
    still while already yet again ever normal ok okay really very super bit little lot more most first last next
    these those into out up down over about around been being am should could would may might must even only
    well back think thought sure wondering wonder maybe noticed notice started start feel feels felt look looks
    seems getting gets go going went make made said say way thing things time times theres there's anything
    something everything nothing long wait all plan
    desde después despues antes ayer hoy mañana manana días dias día dia semana semanas horas hora ahora todavía
    todavia aún aun mientras ya muy mucho poco puedo puede pueden debo debe tengo tiene tuve estoy esta están
    estan son fue era ser estar hace hacer sigue sigo pusieron puse te nos les unos unas sus tu noté note empezó
    empezo normalmente siento pero quiero saber algo nada todo
    """.split()
)
CLINICAL_CATEGORIES = frozenset({Category.ADVERSE_EVENT, Category.CLINICAL})
_WORD = re.compile(r"\w+")


def _unaccented(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _as_written(cue: str, folded: str) -> str:
    """The model's words are accent-stripped ("proxima"); show them as the patient wrote them ("próxima")."""
    spelled = {_unaccented(w): w for w in _WORD.findall(folded)}
    return " ".join(spelled.get(token, token) for token in cue.split())


def symptom_phrases(text: str) -> list[str]:
    """The symptoms the message reports as present (not negated, not gone), in the order written, once each."""
    folded = fold(text)
    found: list[str] = []
    for match in _SYMPTOM.finditer(folded):
        phrase = match.group(0)
        if phrase not in found and _mention_is_current(folded, match):
            found.append(phrase)
    return found


def content_cue(ngram: str) -> str | None:
    """A model word or pair with its non-content words trimmed from both ends; None if nothing is left."""
    words = ngram.split()
    while words and (words[0] in NOT_FOR_A_NURSE or len(words[0]) < 3 or words[0].isdigit()):
        words.pop(0)
    while words and (words[-1] in NOT_FOR_A_NURSE or len(words[-1]) < 3 or words[-1].isdigit()):
        words.pop()
    return " ".join(words) or None


def card_cues(text: str, category: Category, model_words: Iterable[str], limit: int = 4) -> tuple[str, ...]:
    folded = fold(text)
    symptoms = symptom_phrases(text) if category in CLINICAL_CATEGORIES else []
    chosen: list[str] = list(symptoms)
    for word in model_words:
        cue = content_cue(word)
        if cue is None:
            continue
        cue = _as_written(cue, folded)
        if _SYMPTOM.fullmatch(cue) and category in CLINICAL_CATEGORIES and cue not in symptoms:
            continue  # a symptom the patient denies ("no redness") or says is gone is no cue
        tokens = set(cue.split())
        overlapping = [i for i, existing in enumerate(chosen) if tokens & set(existing.split())]
        if not overlapping:
            chosen.append(cue)
        elif len(overlapping) == 1 and chosen[overlapping[0]] not in symptoms and tokens > set(
                chosen[overlapping[0]].split()):
            chosen[overlapping[0]] = cue  # "gift cards" says more than "gift"
        # else: one idea once ("duele" is already there for "me duele")
    return tuple(chosen[:limit])
