"""The triage classifier: TF-IDF over words and character n-grams plus a sentence embedding, logistic
regression, then the safety layer.

Character n-grams carry typos, SMS spellings and Spanish inflections; word n-grams give readable reasons; the
multilingual Universal Sentence Encoder block (bot.classify.embeddings) carries meaning that shares no words
with the training examples. Each block has unit norm per message; the embedding block is scaled by
`use_weight`. Trained from the repo's examples when first loaded (the training texts' embeddings come from a
shipped cache), so no model file can drift from its data.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.classify.cues import card_cues
from bot.classify.embeddings import embed
from bot.classify.language import detect_language
from bot.classify.result import Classification
from bot.classify.safety import fold, raise_category
from bot.classify.training import Example, load_examples
from bot.domain import Category

CATEGORIES = tuple(Category)
_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"(.)\1{2,}")


def normalize(text: str) -> str:
    """Lowercase, fold curly quotes, squeeze 'sooooo' to 'soo', one space between words."""
    return _SPACES.sub(" ", _REPEATS.sub(r"\1\1", fold(text))).strip()


# Inverse regularisation strength and the weight of the USE block (words and chars each weigh 1).
C = 8.0
USE_WEIGHT = 1.0


class TriageModel:
    def __init__(self, examples: list[Example], *, c: float = C, use_weight: float = USE_WEIGHT) -> None:
        self._use_weight = use_weight
        texts = [normalize(e.text) for e in examples]
        labels = np.array([CATEGORIES.index(e.category) for e in examples])
        self._words = TfidfVectorizer(
            analyzer="word", ngram_range=(1, 2), strip_accents="unicode", sublinear_tf=True, min_df=1,
            token_pattern=r"(?u)\b\w+\b",
        )
        self._chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), strip_accents="unicode", sublinear_tf=True, min_df=2,
        )
        features = self._features(texts, fit=True)
        self._model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        self._model.fit(features, labels)
        self._word_count = len(self._words.vocabulary_)
        self._word_names = self._words.get_feature_names_out()

    def _features(self, texts: list[str], *, fit: bool = False) -> csr_matrix:
        """Word block, char block, USE block, in that order (the cues rely on the word block coming first)."""
        if fit:
            blocks = [self._words.fit_transform(texts), self._chars.fit_transform(texts)]
        else:
            blocks = [self._words.transform(texts), self._chars.transform(texts)]
        if self._use_weight:
            blocks.append(csr_matrix(embed(texts) * self._use_weight))
        return hstack(blocks, format="csr")

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self._model.predict_proba(self._features([normalize(t) for t in texts]))

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]

    def classify_many(self, texts: list[str]) -> list[Classification]:
        normalized = [normalize(t) for t in texts]
        features = self._features(normalized)
        probabilities = self._model.predict_proba(features)
        results = []
        for index, text in enumerate(texts):
            row = probabilities[index]
            scores = {CATEGORIES[i]: float(row[i]) for i in range(len(CATEGORIES))}
            choice = CATEGORIES[int(row.argmax())]
            verdict = raise_category(choice, scores, text)
            category = verdict.category
            confidence = scores[category] if category is choice else max(scores[category], 0.5)
            reasons = (*self._cues(features[index], category, text), *verdict.reasons)
            results.append(
                Classification(
                    category=category,
                    confidence=confidence,
                    language=detect_language(text),
                    reasons=reasons,
                    scores={c.value: round(s, 4) for c, s in scores.items()},
                )
            )
        return results

    def _cues(self, row: csr_matrix, category: Category, text: str, limit: int = 4) -> tuple[str, ...]:
        """What decided it, as a nurse can use it: the symptoms reported, then this message's words that pushed
        hardest towards `category`, without the time and connector words ("after", "since", "days")."""
        weights = self._model.coef_[CATEGORIES.index(category)]
        in_words = row.indices < self._word_count
        indices = row.indices[in_words]
        words: list[str] = []
        if len(indices):
            contributions = row.data[in_words] * weights[indices]
            order = np.argsort(-contributions)
            words = [str(self._word_names[indices[i]]) for i in order if contributions[i] > 0]
        cues = card_cues(text, category, words, limit)
        return (f"cues: {', '.join(f'“{cue}”' for cue in cues)}",) if cues else ()


@lru_cache(maxsize=1)
def default_model() -> TriageModel:
    """The production model, built once per process; it also loads the sentence encoder (about 2 s) so that
    the first patient message is not the one that waits for it."""
    model = TriageModel(load_examples())
    model.classify("warm up")
    return model
