"""The classifier: which model this clinic uses (shipped, or retrained from its corrections) and its figures."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from bot.classify.artifact import ArtifactError, ModelArtifact
from bot.classify.installed import installed_artifact, model_in_use
from bot.storage.db import current_revisions, head_revisions, make_engine
from handlers.doctor.report import Check, fail, ok

NAME = "Classifier"


def _exists(url: str) -> bool:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    return file in (None, "", ":memory:") or Path(str(file)).exists()


def check_classifier(database_url: str) -> Check:
    try:
        shipped = ModelArtifact.load()
    except ArtifactError as exc:
        return fail(NAME, f"{exc}")
    shipped_line = f"model {shipped.version} (shipped, {shipped.meta.get('training_size', 0)} examples)"
    if not _exists(database_url):  # nothing to read, and nothing is created here
        return ok(NAME, shipped_line)
    try:
        engine = make_engine(database_url)
        try:
            if current_revisions(engine) != head_revisions(engine):
                return ok(NAME, f"{shipped_line}; the database says which model the clinic uses once migrated")
            with Session(engine) as session:
                used = model_in_use(session, shipped)
                installed_artifact(session)  # a stored model this code cannot read fails here, not at a patient
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError):
        return ok(NAME, f"{shipped_line}; the database could not be read for a retrained one (see Database)")
    except ArtifactError as exc:
        return fail(NAME, f"the clinic's retrained model cannot be read ({exc}) — `triage-bot model revert`")
    figures = (used.figures.get("sets") or {}).get("held-out corrections")
    scored = (f"; held-out corrections {figures['candidate_accuracy']:.0%} right against "
              f"{figures['current_accuracy']:.0%} before" if figures else "")
    return ok(NAME, f"{used.line()}{scored} — `triage-bot model retrain` learns from staff corrections")
