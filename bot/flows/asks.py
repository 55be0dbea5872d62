"""A message can carry more than one request ("my lip is still swollen, and can I move my appointment?").

It is cut into sentences and "also"-clauses, and each part that asks for something (a question, "can I",
"please", "quiero", or a part introduced by "also"/"además") is classified with the same classifier (a few
milliseconds each). The whole message still decides the ticket (the safety layer sees it all); the other
requests are kept on the ticket and shown on its card, so none is lost. A part that only tells ("my peel is
on Friday") is context, not a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.classify.result import Classification, Classifier
from bot.domain import Category

_CONNECTOR = (r"and also|also|plus|as well|by the way|btw|second(?:ly)?|another thing|one more thing|"
              r"y también|también|además|aparte|por cierto|otra cosa|segundo")
_CUT = re.compile(rf"(?<=[.!?;])\s+|\n+|\s*[¿¡]|[,;]?\s+\b(?:{_CONNECTOR})\b[,:]?\s*", re.IGNORECASE)
_INTRODUCED = re.compile(rf"[¿¡]|\b(?:{_CONNECTOR})\b", re.IGNORECASE)
_OPENS = re.compile(rf"(?:{_CONNECTOR})\b", re.IGNORECASE)  # "Also, ..." right after a full stop
_ASKS = re.compile(
    r"\?|\b(?:can|could|would|may|do|does|is|are) (?:i|you|we|someone)\b|\bplease\b|\bi'?d like\b|"
    r"\bi (?:want|need|would like)\b|\bbook me\b|\blet me know\b|\bpuedo\b|\bpuede[ns]?\b|\bpodr[ií]a[ns]?\b|"
    r"\bquiero\b|\bnecesito\b|\bpor favor\b|\bme gustar[ií]a\b|\bquisiera\b",
    re.IGNORECASE,
)
_DANGLING = re.compile(r"[\s,;:]*\b(?:and|but|so|y|e|pero|o)\s*$", re.IGNORECASE)
MIN_WORDS = 3  # "ok", "thanks!" and "hi there" add no request
SURE = 0.8  # a part must be clearly about something to count as its own request


@dataclass(frozen=True)
class Part:
    text: str
    asks: bool  # a question, a request, or introduced as another matter ("also ...")


@dataclass(frozen=True)
class Asks:
    primary: Classification  # what decides the ticket: the whole message
    also: tuple[Category, ...] = ()  # the other requests in the same message, most severe first


def parts_of(text: str) -> list[Part]:
    parts, start, introduced = [], 0, False
    for cut in [*_CUT.finditer(text), None]:
        chunk = text[start:cut.start() if cut else len(text)]
        chunk = _DANGLING.sub("", chunk).strip(" ,;:-")
        if len(chunk.split()) >= MIN_WORDS:
            parts.append(Part(chunk, introduced or bool(_OPENS.match(chunk) or _ASKS.search(chunk))))
        if cut is not None:
            start, introduced = cut.end(), bool(_INTRODUCED.search(cut.group()))
    return parts


def asks_in(classifier: Classifier, text: str, whole: Classification) -> Asks:
    parts = parts_of(text)
    if len(parts) < 2:
        return Asks(whole)
    found = {result.category for result in (classifier.classify(p.text) for p in parts if p.asks)
             if result.confidence >= SURE}
    also = sorted(found - {whole.category, Category.OTHER}, key=lambda c: -c.severity)
    return Asks(whole, tuple(also))
