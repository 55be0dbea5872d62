"""`triage-bot model show | retrain | revert`: which classifier this clinic uses, and learning from corrections."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from bot.classify.artifact import ModelArtifact
from bot.classify.installed import install, installed_artifact, model_in_use, refuse, revert
from bot.classify.model import TriageModel, default_model
from bot.classify.retrain import Verdict, retrain
from bot.classify.training import Example, load_examples
from bot.clock import SystemClock
from bot.domain import Category
from bot.settings import TriageSettings
from bot.storage.db import Database
from bot.storage.models import CorrectionRow


class BadFile(Exception):
    pass


def _database() -> Database:
    settings = TriageSettings()
    return Database(settings.database_url, migrate=settings.auto_migrate, require_current=True)


def read_labelled(path: Path) -> list[Example]:
    """JSON Lines with `text` and `category` (the training data's and `corrections export`'s format)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFile(f"{path}: cannot read it ({type(exc).__name__})") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            examples.append(Example(id=str(data.get("id", f"{path.name}:{number}")), text=str(data["text"]),
                                    category=Category(data["category"])))
        except json.JSONDecodeError:
            raise BadFile(f"{path}:{number}: not JSON") from None
        except KeyError as exc:
            raise BadFile(f"{path}:{number}: missing {exc.args[0]!r}") from None
        except (ValueError, TypeError, AttributeError):
            raise BadFile(f"{path}:{number}: category must be one of "
                          f"{', '.join(c.value for c in Category)}") from None
    if not examples:
        raise BadFile(f"{path}: no labelled examples in it")
    return examples


def cmd_model_show(args: argparse.Namespace) -> int:
    db = _database()
    with db.read() as session:
        used = model_in_use(session, ModelArtifact.load())
    print(f"Classifier: {used.line()}")
    for name, figures in (used.figures.get("sets") or {}).items():
        print(f"  {name}: {_figures(figures)}")
    return 0


def cmd_model_retrain(args: argparse.Namespace) -> int:
    try:
        files = {f"file {path}": read_labelled(path) for path in args.eval or []}
    except BadFile as exc:
        print(f"triage-bot model retrain: {exc}", file=sys.stderr)
        return 2
    db = _database()
    with db.read() as session:
        artifact = installed_artifact(session)
        rows = list(session.query(CorrectionRow).order_by(CorrectionRow.id))
        corrections = [Example(id=f"corr-{row.id}", text=row.text, category=Category(row.corrected)) for row in rows]
    current: TriageModel = TriageModel(artifact) if artifact is not None else default_model()
    print(f"Model in use: {current.version}; {len(corrections)} staff correction(s); training the candidate…",
          flush=True)
    verdict = retrain(current, load_examples(), corrections, files)
    _print(verdict)
    if not verdict.corrections:
        return 0
    actor = args.by or getpass.getuser()
    now = SystemClock().now()
    if args.dry_run:
        print("Dry run: nothing installed or recorded.")
        return 0 if verdict.accepted else 1
    with db.transaction() as session:
        if verdict.accepted and verdict.candidate is not None:
            install(session, verdict.candidate, verdict.figures, actor, now, verdict.reason)
        else:
            refuse(session, "candidate", verdict.figures, actor, now, verdict.reason)
    if verdict.accepted and verdict.candidate is not None:
        print(f"Installed model {verdict.candidate.version} for this clinic; restart `triage-bot serve` (every "
              "instance) to use it. `triage-bot model revert` goes back to the shipped model.")
        return 0
    print("Kept the model in use (the refusal is recorded).")
    return 1


def cmd_model_revert(args: argparse.Namespace) -> int:
    db = _database()
    with db.transaction() as session:
        reverted = revert(session, args.by or getpass.getuser(), SystemClock().now())
    print("Back to the shipped model; restart `triage-bot serve` to use it." if reverted
          else "The shipped model is already in use.")
    return 0


def _print(verdict: Verdict) -> None:
    for comparison in verdict.comparisons:
        print(f"  {comparison.name}: {_figures(comparison.figures())}")
    print(("Accepted: " if verdict.accepted else "Refused: " if verdict.corrections else "") + verdict.reason)


def _figures(figures: dict[str, object]) -> str:
    return (f"{figures['examples']} examples, accuracy {figures['current_accuracy']:.1%} in use → "
            f"{figures['candidate_accuracy']:.1%} candidate; adverse events missed "
            f"{figures['adverse_missed_current']} → {figures['adverse_missed_candidate']} of {figures['adverse']}")
