"""Build bot/classify/use_cache.npz: the USE embeddings of every training example, so that a process start does
not embed ~2,300 texts again.

Keys are the sha256 of each normalised text (bot.classify.model.normalize), vectors are float16. Run it after
editing bot/classify/training/*.jsonl; a stale cache is harmless (missing texts are embedded at load), just slower.

Run: python scripts/build_embedding_cache.py [--check]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.classify.embeddings import CACHE_PATH, EmbeddingCache, save_cache  # noqa: E402
from bot.classify.model import normalize  # noqa: E402
from bot.classify.training import load_examples  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report how many training texts are missing")
    args = parser.parse_args()
    texts = sorted({normalize(e.text) for e in load_examples()})
    cache = EmbeddingCache.load(CACHE_PATH)
    missing = sum(cache.get(t) is None for t in texts)
    print(f"{len(texts)} distinct training texts; {len(cache)} cached; {missing} missing from {CACHE_PATH.name}")
    if args.check:
        return 1 if missing else 0
    started = time.perf_counter()
    count = save_cache(texts, CACHE_PATH)
    size = CACHE_PATH.stat().st_size / 1e6
    print(f"wrote {count} embeddings to {CACHE_PATH} ({size:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
