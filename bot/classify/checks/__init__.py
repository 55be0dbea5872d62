"""Two hand-written sets the safety layer is measured on (scripts/eval_safety.py, tests/test_safety_layer.py):
routine messages that merely contain symptom words (a page for one is a false page), and emergencies phrased
without the usual words (a missed page). Written for this repo; never trained on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
ROUTINE = HERE / "routine_with_symptom_words.jsonl"
EMERGENCIES = HERE / "emergencies_in_other_words.jsonl"


@dataclass(frozen=True)
class Check:
    id: str
    text: str
    pages: bool  # should the on-call provider be paged


def load_checks(path: Path) -> list[Check]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Check(str(r["id"]), str(r["text"]), bool(r["pages"])) for r in rows]
