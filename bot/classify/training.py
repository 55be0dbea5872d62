"""The labelled examples the classifier learns from. Written for this repo; the dev set is never among them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bot.domain import Category

TRAINING_DIR = Path(__file__).with_name("training")


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    category: Category
    lang: str = ""


def load_examples(directory: Path = TRAINING_DIR) -> list[Example]:
    examples: list[Example] = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                examples.append(
                    Example(id=data["id"], text=data["text"], category=Category(data["category"]),
                            lang=data.get("lang", ""))
                )
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path}:{number}: bad training example ({exc})") from None
    return examples
