"""TF-IDF features computed the way scikit-learn's TfidfVectorizer computes them, without importing it.

Covers the settings this project uses: lowercase, strip_accents="unicode", analyzer "word" (a token pattern and
word n-grams) or "char_wb" (character n-grams inside space-padded words), sublinear_tf, smooth idf, l2 norm.
Given the vocabulary and idf vector of a fitted TfidfVectorizer, `transform` gives the same row (same column
indices, ascending, and the same values to rounding) as `TfidfVectorizer.transform`; tests/test_classifier.py
checks it against scikit-learn on every training text and the dev set. `fit` learns vocabulary and idf the way
scikit-learn does (min_df as a count), for small corpora such as the FAQ answer book.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Analyzer = Literal["word", "char_wb"]
WORD_TOKENS = r"(?u)\b\w+\b"
_WHITE_SPACES = re.compile(r"\s\s+")


def strip_accents_unicode(text: str) -> str:
    """scikit-learn's strip_accents="unicode": NFKD, then drop combining marks (ASCII text is left alone)."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    if high == 1:
        return tokens
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(tokens) + 1)):
        grams.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            if length <= n:  # a short word counts once, whole, at the first n not shorter than it
                grams.append(padded)
                break
            grams.extend(padded[i:i + n] for i in range(length - n + 1))
    return grams


@dataclass(frozen=True)
class SparseRow:
    """One document's features: column indices (ascending) and their values."""

    indices: np.ndarray  # int64
    values: np.ndarray  # float64


class Tfidf:
    def __init__(self, analyzer: Analyzer, ngram_range: tuple[int, int], vocabulary: Sequence[str],
                 idf: np.ndarray, *, token_pattern: str = WORD_TOKENS, sublinear_tf: bool = True) -> None:
        if len(vocabulary) != len(idf):
            raise ValueError(f"vocabulary has {len(vocabulary)} terms but idf has {len(idf)}")
        self.analyzer: Analyzer = analyzer
        self.ngram_range = ngram_range
        self.token_pattern = token_pattern
        self.sublinear_tf = sublinear_tf
        self.terms = list(vocabulary)
        self.vocabulary = {term: index for index, term in enumerate(self.terms)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self._tokens = re.compile(token_pattern)

    def __len__(self) -> int:
        return len(self.terms)

    def analyze(self, text: str) -> list[str]:
        text = strip_accents_unicode(text.lower())
        low, high = self.ngram_range
        if self.analyzer == "word":
            return word_ngrams(self._tokens.findall(text), low, high)
        return char_wb_ngrams(text, low, high)

    def row(self, text: str) -> SparseRow:
        counts = Counter(self.vocabulary[g] for g in self.analyze(text) if g in self.vocabulary)
        indices = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter((counts[i] for i in indices), dtype=np.float64, count=len(indices))
        if self.sublinear_tf:
            np.log(tf, out=tf)
            tf += 1.0
        tf *= self.idf[indices]
        norm = math.sqrt(float(np.dot(tf, tf)))
        if norm > 0.0:
            tf /= norm
        return SparseRow(indices, tf)

    def rows(self, texts: Iterable[str]) -> list[SparseRow]:
        return [self.row(text) for text in texts]

    def dense(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self)), dtype=np.float64)
        for number, row in enumerate(self.rows(texts)):
            out[number, row.indices] = row.values
        return out

    @classmethod
    def fit(cls, texts: Sequence[str], analyzer: Analyzer, ngram_range: tuple[int, int], *, min_df: int = 1,
            token_pattern: str = WORD_TOKENS, sublinear_tf: bool = True) -> Tfidf:
        """Vocabulary (terms sorted, those in fewer than `min_df` documents dropped) and smoothed idf."""
        probe = cls(analyzer, ngram_range, [], np.zeros(0), token_pattern=token_pattern, sublinear_tf=sublinear_tf)
        document_frequency: Counter[str] = Counter()
        for text in texts:
            document_frequency.update(set(probe.analyze(text)))
        terms = sorted(t for t, df in document_frequency.items() if df >= min_df)
        df = np.array([document_frequency[t] for t in terms], dtype=np.float64)
        idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        return cls(analyzer, ngram_range, terms, idf, token_pattern=token_pattern, sublinear_tf=sublinear_tf)


class ColumnIndex:
    """Documents' rows stored by column (an inverted index), for the dot product of every document with one row."""

    def __init__(self, rows: Sequence[SparseRow], columns: int) -> None:
        self.documents = len(rows)
        cols = np.concatenate([r.indices for r in rows]) if rows else np.zeros(0, np.int64)
        docs = np.concatenate([np.full(len(r.indices), n, np.int64) for n, r in enumerate(rows)]) if rows else cols
        vals = np.concatenate([r.values for r in rows]) if rows else np.zeros(0, np.float64)
        order = np.argsort(cols, kind="stable")
        self._docs, self._values = docs[order], vals[order]
        self._starts = np.searchsorted(cols[order], np.arange(columns + 1))

    def dot(self, row: SparseRow) -> np.ndarray:
        """Each document's dot product with `row`."""
        out = np.zeros(self.documents, dtype=np.float64)
        for column, value in zip(row.indices.tolist(), row.values.tolist(), strict=True):
            start, end = self._starts[column], self._starts[column + 1]
            out[self._docs[start:end]] += self._values[start:end] * value  # a document once per column
        return out
