"""The clinic's FAQ answer book: find the entry a question asks about, or admit there is none."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.classify.stopwords import STOPWORDS
from bot.config.models import FaqEntry
from bot.respond.compose import pick_language

_WORD = re.compile(r"[\w']+")


def content_words(text: str) -> str:
    """The words that carry the question ("park", "horario"), without the ones every question shares."""
    return " ".join(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS)

MIN_SIMILARITY = 0.32


@dataclass(frozen=True)
class Answer:
    entry_id: str
    text: str
    similarity: float


class AnswerBook:
    """Char n-gram similarity of content words against each entry's sample questions, in both languages."""

    def __init__(self, entries: tuple[FaqEntry, ...], min_similarity: float = MIN_SIMILARITY) -> None:
        self._entries = entries
        self._min = min_similarity
        self._owners: list[int] = []
        questions: list[str] = []
        for index, entry in enumerate(entries):
            for samples in entry.questions.values():
                for sample in samples:
                    questions.append(content_words(sample))
                    self._owners.append(index)
        self._vectorizer: TfidfVectorizer | None = None
        if questions:
            self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                               strip_accents="unicode", lowercase=True)
            self._matrix = self._vectorizer.fit_transform(questions)

    def find(self, question: str, language: str) -> Answer | None:
        if self._vectorizer is None:
            return None
        vector = self._vectorizer.transform([content_words(question)])
        similarities = np.asarray((self._matrix @ vector.T).todense()).ravel()
        best = int(similarities.argmax())
        score = float(similarities[best])
        if score < self._min:
            return None
        entry = self._entries[self._owners[best]]
        text = pick_language(entry.answer, language)
        return Answer(entry_id=entry.id, text=text, similarity=score)
