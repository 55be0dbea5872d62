"""Measure the classifier with its safety layer as `serve` runs it: 5-fold cross-validation on the training data
(accuracy, adverse events missed, per-category precision and recall, the confusion matrix), and the safety
layer's false pages and missed pages on bot/classify/checks/ (routine messages with symptom words; emergencies
phrased without the usual words). The dev set is measured by scripts/eval_classifier.py.

Run: PYTHONPATH=$PWD python scripts/eval_safety.py [--folds 5] [--show-errors]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.classify.checks import EMERGENCIES, ROUTINE, load_checks  # noqa: E402
from bot.classify.model import TriageModel, default_model  # noqa: E402
from bot.classify.train import SklearnPipeline, to_artifact  # noqa: E402
from bot.classify.training import load_examples  # noqa: E402
from bot.domain import Category  # noqa: E402


def cross_validate(folds: int, show: bool) -> tuple[float, int]:
    examples = load_examples()
    random.Random(1).shuffle(examples)
    confusion: Counter[tuple[Category, Category]] = Counter()
    for k in range(folds):
        held = examples[k::folds]
        train = [e for i, e in enumerate(examples) if i % folds != k]
        model = TriageModel(to_artifact(SklearnPipeline(train)))
        for example, result in zip(held, model.classify_many([e.text for e in held]), strict=True):
            confusion[(example.category, result.category)] += 1
            if show and example.category is not result.category:
                print(f"  {example.id}: {example.category.value} -> {result.category.value} "
                      f"({result.confidence:.2f}) {result.reasons[-1:]} {example.text[:80]!r}")
    total = sum(confusion.values())
    correct = sum(n for (truth, got), n in confusion.items() if truth is got)
    missed = sum(n for (truth, got), n in confusion.items() if truth is Category.ADVERSE_EVENT and got is not truth)
    print(f"{folds}-fold cross-validation on {total} training examples: accuracy {correct / total:.3f}, "
          f"adverse events missed {missed}")
    print(f"{'category':>14} {'precision':>9} {'recall':>7}")
    for category in Category:
        predicted = sum(n for (_, got), n in confusion.items() if got is category)
        actual = sum(n for (truth, _), n in confusion.items() if truth is category)
        hit = confusion[(category, category)]
        print(f"{category.value:>14} {hit / predicted if predicted else 0:>9.3f} {hit / actual if actual else 0:>7.3f}")
    print("confusion (rows: truth, columns: predicted)")
    print(" " * 14 + "".join(f"{c.value[:8]:>9}" for c in Category))
    for truth in Category:
        print(f"{truth.value:>14}" + "".join(f"{confusion[(truth, got)]:>9}" for got in Category))
    return correct / total, missed


def safety_sets(show: bool) -> tuple[int, int]:
    model = default_model()
    wrong = {}
    for path in (ROUTINE, EMERGENCIES):
        checks = load_checks(path)
        results = model.classify_many([c.text for c in checks])
        bad = [(c, r) for c, r in zip(checks, results, strict=True)
               if (r.category is Category.ADVERSE_EVENT) != c.pages]
        wrong[path] = len(bad)
        what = "false pages" if path == ROUTINE else "missed pages"
        print(f"{path.name}: {len(checks)} messages, {what} {len(bad)}")
        for check, result in bad if show else []:
            print(f"  {check.id}: {result.category.value} ({result.confidence:.2f}) {result.reasons[-1:]}")
    return wrong[ROUTINE], wrong[EMERGENCIES]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    accuracy, missed = cross_validate(args.folds, args.show_errors)
    _, missed_pages = safety_sets(args.show_errors)
    met = accuracy >= 0.93 and missed == 0 and missed_pages == 0
    print("bar met (cross-validation ≥ 0.93, no adverse event missed, no emergency missed)" if met else "bar NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
