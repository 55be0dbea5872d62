"""The shipped, versioned classifier: numpy arrays (.npz) and JSON, never pickle.

`triage_model.json` holds the metadata (format, version, the sha256 of the training data and of the embedding
cache it was trained with, training size, hyper-parameters, categories in column order) and both vocabularies;
`triage_model.npz` holds the idf vectors, the coefficients of each feature block and the intercepts. Both are
written by scripts/train_classifier.py and must be rebuilt whenever bot/classify/training/*.jsonl or
use_cache.npz change; tests/test_classifier.py fails while they disagree.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from bot.classify.training import TRAINING_DIR

FORMAT = 1
HERE = Path(__file__).parent
META_PATH = HERE / "triage_model.json"
ARRAYS_PATH = HERE / "triage_model.npz"
ARRAY_NAMES = ("words_idf", "chars_idf", "coef_words", "coef_chars", "coef_use", "intercept")


class ArtifactError(Exception):
    """The shipped model is missing or unreadable; retrain with scripts/train_classifier.py."""


def training_sha256(directory: Path = TRAINING_DIR) -> str:
    """One hash over every training file's name and bytes, in name order."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.jsonl")):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


@dataclass(frozen=True)
class ModelArtifact:
    meta: dict[str, Any]
    words_vocabulary: list[str]
    chars_vocabulary: list[str]
    arrays: dict[str, np.ndarray]

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    def document(self) -> dict[str, Any]:
        """The JSON half: the metadata with both vocabularies."""
        return {**self.meta, "vocabulary": {"words": self.words_vocabulary, "chars": self.chars_vocabulary}}

    def save(self, meta_path: Path = META_PATH, arrays_path: Path = ARRAYS_PATH) -> None:
        meta_path.write_text(json.dumps(self.document(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        with arrays_path.open("wb") as out:
            self.write_arrays(out)

    def write_arrays(self, out: BinaryIO) -> None:
        """np.savez_compressed's layout with a fixed timestamp, so that the same model is the same bytes."""
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in ARRAY_NAMES:
                entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                entry.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(entry, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(self.arrays[name]), allow_pickle=False)

    def array_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.write_arrays(buffer)
        return buffer.getvalue()

    @classmethod
    def from_parts(cls, document: dict[str, Any], arrays: bytes) -> ModelArtifact:
        """An artifact kept elsewhere (a clinic's retrained model in the database): the same checks as `load`."""
        try:
            with np.load(io.BytesIO(arrays), allow_pickle=False) as data:
                loaded = {name: data[name] for name in ARRAY_NAMES}
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"cannot read a stored classifier ({exc})") from None
        return cls._checked(dict(document), loaded, "the stored model")

    @classmethod
    def load(cls, meta_path: Path = META_PATH, arrays_path: Path = ARRAYS_PATH) -> ModelArtifact:
        try:
            document = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(arrays_path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in ARRAY_NAMES}
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"cannot load the classifier from {meta_path.name}/{arrays_path.name} ({exc}); "
                                "run scripts/train_classifier.py") from None
        return cls._checked(document, arrays, meta_path.name)

    @classmethod
    def _checked(cls, document: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> ModelArtifact:
        if document.get("format") != FORMAT:
            raise ArtifactError(f"{where}: format {document.get('format')!r}, this code reads {FORMAT}; "
                                "run scripts/train_classifier.py")
        vocabulary = document.pop("vocabulary")
        return cls(document, list(vocabulary["words"]), list(vocabulary["chars"]), arrays)
