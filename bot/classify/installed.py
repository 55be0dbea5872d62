"""The classifier a clinic uses: its latest installed retrained model (`triage-bot model retrain`), else the
shipped one. Every decision about a candidate is a row of `classifier_models`: installed, refused (with why),
retired (replaced by a newer one, or reverted to the shipped model). Instances load it when they start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.classify.artifact import ArtifactError, ModelArtifact
from bot.storage.models import ClassifierModelRow

INSTALLED, REFUSED, RETIRED = "installed", "refused", "retired"


@dataclass(frozen=True)
class ModelInUse:
    version: str
    source: str  # "shipped" or "clinic" (retrained here)
    training_size: int
    corrections: int
    installed_at: datetime | None
    figures: dict[str, Any]

    def line(self) -> str:
        """"model 1.3ac0fa9ca3b0 (shipped, 2362 examples)", or "... (retrained here Dec 01 from ...)"."""
        if self.source == "shipped":
            return f"model {self.version} (shipped, {self.training_size} examples)"
        when = f" {self.installed_at:%b %d}" if self.installed_at else ""
        base = self.training_size - self.corrections
        return f"model {self.version} (retrained here{when} from {base} examples + {self.corrections} corrections)"


def installed_row(session: Session) -> ClassifierModelRow | None:
    return session.scalars(select(ClassifierModelRow).where(ClassifierModelRow.status == INSTALLED)
                           .order_by(ClassifierModelRow.id.desc()).limit(1)).first()


def installed_artifact(session: Session) -> ModelArtifact | None:
    """The clinic's installed model, or None (the shipped one applies). A stored model this code cannot read is
    ArtifactError: `triage-bot model revert` goes back to the shipped one."""
    row = installed_row(session)
    if row is None or row.meta is None or row.arrays is None:
        return None
    return ModelArtifact.from_parts(row.meta, row.arrays)


def model_in_use(session: Session, shipped: ModelArtifact) -> ModelInUse:
    row = installed_row(session)
    if row is None or row.meta is None:
        meta = shipped.meta
        return ModelInUse(shipped.version, "shipped", int(meta.get("training_size", 0)), 0, None, {})
    return ModelInUse(row.version, "clinic", int(row.meta.get("training_size", 0)),
                      int(row.meta.get("corrections", 0)), row.at, dict(row.figures))


def install(session: Session, artifact: ModelArtifact, figures: dict[str, Any], actor: str, now: datetime,
            reason: str) -> ClassifierModelRow:
    """The candidate becomes the model in use; the one before is retired (kept, for the record)."""
    session.execute(update(ClassifierModelRow).where(ClassifierModelRow.status == INSTALLED)
                    .values(status=RETIRED))
    row = ClassifierModelRow(version=artifact.version, status=INSTALLED, reason=reason, figures=figures,
                             meta=artifact.document(), arrays=artifact.array_bytes(), actor=actor, at=now)
    session.add(row)
    session.flush()
    return row


def refuse(session: Session, version: str, figures: dict[str, Any], actor: str, now: datetime,
           reason: str) -> ClassifierModelRow:
    """A candidate kept out, and why: recorded without the model itself."""
    row = ClassifierModelRow(version=version, status=REFUSED, reason=reason, figures=figures, actor=actor, at=now)
    session.add(row)
    session.flush()
    return row


def revert(session: Session, actor: str, now: datetime) -> bool:
    """Back to the shipped model: the installed one is retired. False when the shipped one was in use."""
    row = installed_row(session)
    if row is None:
        return False
    row.status = RETIRED
    session.add(ClassifierModelRow(version="shipped", status=RETIRED, reason=f"reverted to the shipped model "
                                   f"from {row.version}", figures={}, actor=actor, at=now))
    return True


__all__ = ["INSTALLED", "REFUSED", "RETIRED", "ArtifactError", "ModelInUse", "install", "installed_artifact",
           "model_in_use", "refuse", "revert"]


def clinic_model(session: Session) -> Any:
    """The TriageModel to classify with: the clinic's installed one, else the shipped one (`default_model`)."""
    from bot.classify.model import TriageModel, default_model

    artifact = installed_artifact(session)
    return TriageModel(artifact) if artifact is not None else default_model()
