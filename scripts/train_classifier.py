"""Train the triage classifier from bot/classify/training/*.jsonl and write the shipped artifact
(bot/classify/triage_model.json and triage_model.npz: JSON and numpy arrays, never pickle).

Run it after editing the training data or rebuilding the embedding cache (scripts/build_embedding_cache.py
first if texts were added): tests/test_classifier.py fails while the artifact's training-data hash differs
from the data's. The dev set (../shared/dev-messages.jsonl) is never trained on.

Run: PYTHONPATH=$PWD python scripts/train_classifier.py [--check]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.classify.artifact import ARRAYS_PATH, META_PATH, ArtifactError, ModelArtifact, training_sha256  # noqa: E402
from bot.classify.embeddings import CACHE_PATH  # noqa: E402


def check() -> int:
    from bot.classify.artifact import file_sha256

    try:
        artifact = ModelArtifact.load()
    except ArtifactError as exc:
        print(exc, file=sys.stderr)
        return 1
    stale = []
    if artifact.meta["training_sha256"] != training_sha256():
        stale.append("the training data changed")
    if artifact.meta["embedding_cache_sha256"] != file_sha256(CACHE_PATH):
        stale.append(f"{CACHE_PATH.name} changed")
    if stale:
        print(f"model {artifact.version} is stale: {' and '.join(stale)}; run scripts/train_classifier.py",
              file=sys.stderr)
        return 1
    print(f"model {artifact.version} matches the training data ({artifact.meta['training_size']} examples)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say whether the artifact is current")
    args = parser.parse_args()
    if args.check:
        return check()
    from bot.classify.train import SklearnPipeline, to_artifact
    from bot.classify.training import load_examples

    started = time.perf_counter()
    examples = load_examples()
    artifact = to_artifact(SklearnPipeline(examples))
    artifact.save()
    size = (META_PATH.stat().st_size + ARRAYS_PATH.stat().st_size) / 1e6
    print(f"model {artifact.version}: {len(examples)} examples, {artifact.meta['words']['features']} word and "
          f"{artifact.meta['chars']['features']} char features; wrote {META_PATH.name} and {ARRAYS_PATH.name} "
          f"({size:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
