"""Print the classifier's figures on a labelled JSONL set (default: ../shared/dev-messages.jsonl).

The bar: no adverse event missed, no clinical or adverse message put in booking/faq/other, accuracy >= 0.90.
Exit status 0 when the bar is met, 1 when it is not, 2 when the file is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from bot.classify.model import default_model, warm_up
from bot.domain import Category

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "dev-messages.jsonl"
ROUTINE = {Category.BOOKING, Category.FAQ, Category.OTHER}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    if not args.path.exists():
        print(f"{args.path} not found: nothing to measure", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in args.path.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    model = default_model()
    warm_up(background=False)  # the sentence encoder, so that its load is not timed as classification
    trained = time.perf_counter() - started
    started = time.perf_counter()
    results = model.classify_many([r["text"] for r in rows])
    per_message_ms = (time.perf_counter() - started) * 1000 / len(rows)
    single_ms = []
    for row in rows:
        started = time.perf_counter()
        model.classify(row["text"])
        single_ms.append((time.perf_counter() - started) * 1000)
    confusion: Counter[tuple[str, str]] = Counter()
    missed_adverse = 0
    medical_to_routine = 0
    correct = 0
    for row, result in zip(rows, results, strict=True):
        truth, got = Category(row["category"]), result.category
        confusion[(truth.value, got.value)] += 1
        correct += truth is got
        missed_adverse += truth is Category.ADVERSE_EVENT and got is not Category.ADVERSE_EVENT
        medical_to_routine += truth.is_medical and got in ROUTINE
        if args.show_errors and truth is not got:
            print(f"  {row.get('id')}: {truth.value} -> {got.value} ({result.confidence:.2f}) {row['text'][:90]!r}")
    accuracy = correct / len(rows)
    print(f"messages: {len(rows)}  ({args.path})")
    print(f"accuracy: {accuracy:.3f}  ({correct}/{len(rows)})")
    print(f"adverse events missed: {missed_adverse}")
    print(f"clinical/adverse put in booking/faq/other: {medical_to_routine}")
    print(f"model + encoder load: {trained:.2f} s   classification: {per_message_ms:.2f} ms per message (batch), "
          f"{statistics.median(single_ms):.1f} ms median one at a time")
    labels = [c.value for c in Category]
    print("confusion (rows: truth, columns: predicted)")
    print(" " * 14 + "".join(f"{label[:8]:>9}" for label in labels))
    for truth in labels:
        print(f"{truth:>14}" + "".join(f"{confusion[(truth, got)]:>9}" for got in labels))
    met = missed_adverse == 0 and medical_to_routine == 0 and accuracy >= 0.90
    print("bar met" if met else "bar NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
