"""The triage classifier: TF-IDF over words and character n-grams plus a sentence embedding, logistic
regression, then the safety layer.

Character n-grams carry typos, SMS spellings and Spanish inflections; word n-grams give readable reasons; the
multilingual Universal Sentence Encoder block (bot.classify.embeddings) carries meaning that shares no words
with the training examples. Each block has unit norm per message; the embedding block is scaled by
`use_weight`.

The model is trained offline (scripts/train_classifier.py, with scikit-learn: bot.classify.train) and shipped
as numpy arrays and JSON (bot.classify.artifact). Loading it takes a fraction of a second and imports neither
scikit-learn nor scipy: the TF-IDF rows are computed by bot.classify.tfidf exactly as scikit-learn computes
them, and the logistic regression is a dot product and a softmax.
"""

from __future__ import annotations

import re
import threading

import numpy as np

from bot.classify.artifact import ModelArtifact
from bot.classify.cues import card_cues
from bot.classify.embeddings import DIMENSIONS, embed, encoder
from bot.classify.language import detect_language
from bot.classify.result import Classification
from bot.classify.safety import fold, raise_category
from bot.classify.tfidf import SparseRow, Tfidf
from bot.domain import Category

CATEGORIES = tuple(Category)
MAX_CHARS = 2_000  # characters of a message the model reads (bot.flows.reading.READ_LIMIT for the whole triage)
_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"(.)\1{2,}")


def normalize(text: str) -> str:
    """Lowercase, fold curly quotes, squeeze 'sooooo' to 'soo', one space between words."""
    return _SPACES.sub(" ", _REPEATS.sub(r"\1\1", fold(text))).strip()


# Inverse regularisation strength and the weight of the USE block (words and chars each weigh 1). Used by the
# trainer (bot.classify.train); the artifact records the values it was trained with.
C = 8.0
USE_WEIGHT = 1.0
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
CHAR_MIN_DF = 2


def softmax(decision: np.ndarray) -> np.ndarray:
    """Row-wise softmax, as scikit-learn's multinomial predict_proba computes it."""
    exp = np.exp(decision - decision.max(axis=1, keepdims=True))
    exp /= exp.sum(axis=1, keepdims=True)
    return exp


class TriageModel:
    """The classifier as shipped: two TF-IDF blocks and the sentence embedding, then a linear layer."""

    def __init__(self, artifact: ModelArtifact) -> None:
        meta, arrays = artifact.meta, artifact.arrays
        if tuple(meta["categories"]) != tuple(c.value for c in CATEGORIES):
            raise ValueError(f"the model's categories {meta['categories']} are not this code's")
        self.meta = meta
        self.version = artifact.version
        self._use_weight = float(meta["hyperparameters"]["use_weight"])
        self._words = Tfidf("word", tuple(meta["words"]["ngram_range"]), artifact.words_vocabulary,
                            arrays["words_idf"], token_pattern=meta["words"]["token_pattern"])
        self._chars = Tfidf("char_wb", tuple(meta["chars"]["ngram_range"]), artifact.chars_vocabulary,
                            arrays["chars_idf"])
        self._coef_words = arrays["coef_words"]  # (categories, words)
        self._words_by_row = np.ascontiguousarray(arrays["coef_words"].T)  # (words, categories): gathered by index
        self._chars_by_row = np.ascontiguousarray(arrays["coef_chars"].T)
        self._coef_use = arrays["coef_use"]  # (categories, 512), empty when use_weight is 0
        self._intercept = arrays["intercept"]
        if self._use_weight and self._coef_use.shape != (len(CATEGORIES), DIMENSIONS):
            raise ValueError(f"coef_use has shape {self._coef_use.shape}")

    @property
    def uses_embeddings(self) -> bool:
        return bool(self._use_weight)

    def _decision(self, normalized: list[str]) -> tuple[np.ndarray, list[SparseRow]]:
        """The linear layer's scores, and each text's word row (for the cues)."""
        words = self._words.rows(normalized)
        decision = np.tile(self._intercept, (len(normalized), 1))
        for index, text in enumerate(normalized):
            chars = self._chars.row(text)
            decision[index] += words[index].values @ self._words_by_row[words[index].indices]
            decision[index] += chars.values @ self._chars_by_row[chars.indices]
        if self._use_weight and normalized:
            use = (embed(normalized) * self._use_weight).astype(np.float64)
            decision += use @ self._coef_use.T
        return decision, words

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return softmax(self._decision([normalize(t) for t in texts])[0])

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]

    def classify_many(self, texts: list[str]) -> list[Classification]:
        # The cost is bounded whatever the body's size: the model reads the start of a very long message.
        texts = [text[:MAX_CHARS] for text in texts]
        decision, words = self._decision([normalize(t) for t in texts])
        probabilities = softmax(decision)
        results = []
        for index, text in enumerate(texts):
            row = probabilities[index]
            scores = {CATEGORIES[i]: float(row[i]) for i in range(len(CATEGORIES))}
            choice = CATEGORIES[int(row.argmax())]
            verdict = raise_category(choice, scores, text)
            category = verdict.category
            confidence = scores[category]  # the model's own probability, also of a category the safety layer raised
            reasons = (*self._cues(words[index], category, text), *verdict.reasons)
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

    def _cues(self, row: SparseRow, category: Category, text: str, limit: int = 4) -> tuple[str, ...]:
        """What decided it, as a nurse can use it: the symptoms reported, then this message's words that pushed
        hardest towards `category`, without the time and connector words ("after", "since", "days")."""
        weights = self._coef_words[CATEGORIES.index(category)]
        words: list[str] = []
        if len(row.indices):
            contributions = row.values * weights[row.indices]
            order = np.argsort(-contributions)
            words = [self._words.terms[row.indices[i]] for i in order if contributions[i] > 0]
        cues = card_cues(text, category, words, limit)
        return (f"cues: {', '.join(f'“{cue}”' for cue in cues)}",) if cues else ()


_model_lock = threading.Lock()
_model: TriageModel | None = None


def default_model() -> TriageModel:
    """The shipped model, loaded once per process, by whichever thread asks first (about 0.1 s; no training).
    The sentence encoder is loaded separately: at the first message that needs it, or ahead of it by `warm_up`."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = TriageModel(ModelArtifact.load())
    return _model


def warm_up(*, background: bool = True) -> threading.Thread | None:
    """Load the model and the sentence encoder now (about 1.5 s for the encoder), so that the first patient
    message does not wait for them; in a daemon thread unless `background` is False."""

    def load() -> None:
        encoder()  # the longer of the two: while it loads, another thread can load the model
        default_model()

    if not background:
        load()
        return None
    thread = threading.Thread(target=load, name="classifier-warm-up", daemon=True)
    thread.start()
    return thread
