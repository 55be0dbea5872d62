"""`triage-bot model retrain`: learn from the clinic's staff corrections, and install the result only when it is
no worse where it matters.

1. The examples: the shipped training data, with every staff correction (the latest per text) in place of any
   shipped example of the same text.
2. A candidate is trained without a held-out fifth of the corrections (when there are at least five) and scored
   next to the model in use, at the model's own choice (before the adverse-event safety layer, which runs
   after any model and is never retrained): on the held-out corrections, on each labelled file given, and on
   the shipped adverse-event examples.
3. It is refused when it misses an adverse event the model in use catches, on any of them, or when its accuracy
   on the held-out corrections and files together is lower. Otherwise the model trained on everything is
   installed for this clinic (bot/classify/installed.py), with the figures.

Training uses scikit-learn (bot/classify/train.py): seconds, at the command, never in `serve`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.classify.artifact import FORMAT, ModelArtifact
from bot.classify.model import CATEGORIES, TriageModel, normalize
from bot.classify.train import SklearnPipeline, to_artifact
from bot.classify.training import Example
from bot.domain import Category

MIN_FOR_HOLDOUT = 5  # fewer corrections are all learnt from: a labelled file (--eval) checks the accuracy then
HOLDOUT_SHARE = 0.2
HELD_OUT = "held-out corrections"
SHIPPED_ADVERSE = "shipped adverse-event examples"


@dataclass(frozen=True)
class Score:
    examples: int
    correct: int
    adverse: int  # examples labelled adverse_event
    caught: frozenset[int]  # indices of those the model put in adverse_event

    @property
    def accuracy(self) -> float:
        return self.correct / self.examples if self.examples else 0.0


@dataclass(frozen=True)
class Comparison:
    name: str
    current: Score
    candidate: Score

    @property
    def newly_missed(self) -> int:
        """Adverse events the model in use catches and the candidate does not."""
        return len(self.current.caught - self.candidate.caught)

    def figures(self) -> dict[str, Any]:
        return {"examples": self.current.examples, "current_accuracy": round(self.current.accuracy, 4),
                "candidate_accuracy": round(self.candidate.accuracy, 4), "adverse": self.current.adverse,
                "adverse_missed_current": self.current.adverse - len(self.current.caught),
                "adverse_missed_candidate": self.candidate.adverse - len(self.candidate.caught)}


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    comparisons: tuple[Comparison, ...] = ()
    candidate: ModelArtifact | None = None  # trained on everything; set when accepted
    corrections: int = 0
    figures: dict[str, Any] = field(default_factory=dict)


def score(model: TriageModel, examples: Sequence[Example]) -> Score:
    if not examples:
        return Score(0, 0, 0, frozenset())
    chosen = np.asarray(model.probabilities([e.text for e in examples])).argmax(axis=1)
    predicted = [CATEGORIES[int(i)] for i in chosen]
    adverse = [i for i, e in enumerate(examples) if e.category is Category.ADVERSE_EVENT]
    return Score(len(examples), sum(p is e.category for p, e in zip(predicted, examples, strict=True)),
                 len(adverse), frozenset(i for i in adverse if predicted[i] is Category.ADVERSE_EVENT))


def learning_set(shipped: Sequence[Example], corrections: Sequence[Example]) -> list[Example]:
    corrected = {normalize(c.text) for c in corrections}
    return [*(e for e in shipped if normalize(e.text) not in corrected), *corrections]


def latest_per_text(corrections: Sequence[Example]) -> list[Example]:
    """One correction per text (staff corrected it twice: the later one), in order."""
    by_text: dict[str, Example] = {}
    for correction in corrections:
        by_text.pop(normalize(correction.text), None)
        by_text[normalize(correction.text)] = correction
    return list(by_text.values())


def retrain(current: TriageModel, shipped: Sequence[Example], corrections: Sequence[Example],
            files: Mapping[str, Sequence[Example]] | None = None, *, seed: int = 0) -> Verdict:
    corrections = latest_per_text(corrections)
    if not corrections:
        return Verdict(False, "no staff corrections yet: nothing new to learn from (a Reclassify on a card records "
                              "one)")
    held = _held_out(corrections, seed)
    learnt = [c for i, c in enumerate(corrections) if i not in held]
    everything = learning_set(shipped, corrections)
    final = _artifact(everything, current.version, len(corrections)) if not held else None
    evaluation = TriageModel(final) if final is not None else _train(learning_set(shipped, learnt))
    sets: dict[str, list[Example]] = {}
    if held:
        sets[HELD_OUT] = [corrections[i] for i in sorted(held)]
    sets.update({name: list(examples) for name, examples in (files or {}).items()})
    sets[SHIPPED_ADVERSE] = [e for e in shipped if e.category is Category.ADVERSE_EVENT]
    comparisons = tuple(Comparison(name, score(current, examples), score(evaluation, examples))
                        for name, examples in sets.items())
    figures = {"corrections": len(corrections), "held_out": len(held),
               "sets": {c.name: c.figures() for c in comparisons}}
    missed = [c for c in comparisons if c.newly_missed]
    if missed:
        said = "; ".join(f"{c.newly_missed} in the {c.name}" for c in missed)
        return Verdict(False, f"the candidate misses adverse events the model in use catches ({said}): kept the "
                              "model in use", comparisons, corrections=len(corrections), figures=figures)
    judged = [c for c in comparisons if c.name != SHIPPED_ADVERSE]
    now_right = sum(c.current.correct for c in judged)
    then_right = sum(c.candidate.correct for c in judged)
    total = sum(c.current.examples for c in judged)
    if then_right < now_right:
        return Verdict(False, f"the candidate's accuracy is lower ({then_right}/{total} against {now_right}/{total}"
                              " for the model in use): kept the model in use", comparisons,
                       corrections=len(corrections), figures=figures)
    candidate = final or _artifact(everything, current.version, len(corrections))
    compared = (f"accuracy {then_right}/{total} against {now_right}/{total}" if total else
                "no held-out example to compare accuracy on (fewer than 5 corrections and no --eval file)")
    return Verdict(True, f"no adverse event missed that the model in use catches; {compared}", comparisons,
                   candidate, len(corrections), figures)


def _held_out(corrections: Sequence[Example], seed: int) -> set[int]:
    if len(corrections) < MIN_FOR_HOLDOUT:
        return set()
    count = max(1, round(len(corrections) * HOLDOUT_SHARE))
    return set(random.Random(seed).sample(range(len(corrections)), count))


def _train(examples: Sequence[Example]) -> TriageModel:
    return TriageModel(to_artifact(SklearnPipeline(examples)))


def _artifact(examples: Sequence[Example], base_version: str, corrections: int) -> ModelArtifact:
    artifact = to_artifact(SklearnPipeline(examples))
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.category.value}\0{example.text}\0".encode())
    data_hash = digest.hexdigest()
    meta = {**artifact.meta, "version": f"{FORMAT}.c{data_hash[:11]}", "training_sha256": data_hash,
            "training_size": len(examples), "corrections": corrections, "base_version": base_version}
    return ModelArtifact(meta, artifact.words_vocabulary, artifact.chars_vocabulary, artifact.arrays)
