"""The clinic's FAQ answer book: find the entry a question asks about, or admit there is none."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.classify.stopwords import STOPWORDS
from bot.classify.tfidf import ColumnIndex, Tfidf
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
        self._vectorizer: Tfidf | None = None
        if questions:
            # scikit-learn's TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
            # strip_accents="unicode"), computed without importing it (bot.classify.tfidf)
            self._vectorizer = Tfidf.fit(questions, "char_wb", (3, 5))
            self._matrix = ColumnIndex(self._vectorizer.rows(questions), len(self._vectorizer))

    def find(self, question: str, language: str) -> Answer | None:
        if self._vectorizer is None:
            return None
        vector = self._vectorizer.row(content_words(question))
        similarities = self._matrix.dot(vector)
        best = int(similarities.argmax())
        score = float(similarities[best])
        if score < self._min:
            return None
        entry = self._entries[self._owners[best]]
        text = pick_language(entry.answer, language)
        return Answer(entry_id=entry.id, text=text, similarity=score)
