"""`triage-bot model retrain`: staff corrections teach the clinic's own model, never at the cost of an adverse
event the model in use catches. Real trainings (a few seconds each), the real CLI, the real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.classify.installed import INSTALLED, REFUSED
from bot.classify.model import default_model
from bot.classify.training import load_examples
from bot.digest.render import digest_document
from bot.document import plain_document
from bot.domain import Category, Role
from bot.flows.actions import Actor, TicketActions
from bot.storage.models import ClassifierModelRow
from handlers.cli import main
from handlers.doctor.classifier import check_classifier
from handlers.jobs import Jobs
from handlers.slack.ids import ModalCallback
from handlers.slack.modals import CATEGORY_BLOCK, CATEGORY_INPUT
from handlers.wiring import _clinic_classifier
from tests.conftest import Clinic
from tests.slack_clinic import FRONT_DESK_USER, SlackClinic

NURSE = Actor(id="kim", name="Nurse Kim", roles=frozenset({Role.CLINICAL}), staff_id="kim")


def rows(db_url: str, clinic_db: object) -> list[ClassifierModelRow]:
    with clinic_db.read() as session:  # type: ignore[attr-defined]
        return list(session.query(ClassifierModelRow).order_by(ClassifierModelRow.id))


def test_a_correction_from_a_slack_click_is_learnt_by_the_next_retrain(
        slack_clinic: SlackClinic, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    slack_clinic.sms("do you guys do brow lamination?", sender="+12125550177")
    slack_clinic.deliver()
    slack_clinic.click(FRONT_DESK_USER, "triage_more", "", "front-desk", option="triage_reclassify:1")
    slack_clinic.submit(FRONT_DESK_USER, ModalCallback.RECLASSIFY, 1, {
        CATEGORY_BLOCK: {CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": "booking"}}}})
    db = slack_clinic.service.db
    monkeypatch.setenv("TRIAGE_DATABASE_URL", slack_clinic.service.settings.database_url)
    assert main(["model", "retrain", "--by", "manager"]) == 0
    out = capsys.readouterr().out
    assert "1 staff correction(s)" in out and "Accepted: no adverse event missed" in out
    assert "shipped adverse-event examples" in out and "Installed model 1.c" in out
    [row] = rows("", db)
    assert row.status == INSTALLED and row.actor == "manager" and row.meta and row.meta["corrections"] == 1
    assert row.meta["training_size"] == len(load_examples()) + 1 and row.arrays
    # What the next start classifies with, what doctor, `model show` and the digest say.
    model = _clinic_classifier(db)
    assert getattr(model, "version") == row.version != default_model().version  # noqa: B009
    assert model.classify("do you guys do brow lamination?").category is Category.BOOKING
    check = check_classifier(slack_clinic.service.settings.database_url)
    assert f"model {row.version} (retrained here" in check.line and "1 corrections" in check.line
    assert main(["model", "show"]) == 0 and f"Classifier: model {row.version}" in capsys.readouterr().out
    digest = Jobs(slack_clinic.service).digest()
    assert f"Classifier: model {row.version}" in plain_document(digest_document(digest, slack_clinic.service.config))
    assert main(["model", "revert", "--by", "manager"]) == 0
    assert getattr(_clinic_classifier(db), "version") == default_model().version  # noqa: B009


def test_a_candidate_that_misses_an_adverse_event_is_refused_and_the_refusal_recorded(
        clinic: Clinic, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Five adverse events from the shipped data, each reclassified as a question by mistake (or malice).
    adverse = [e.text for e in load_examples() if e.category is Category.ADVERSE_EVENT][:5]
    actions = TicketActions(clinic.service.db, clinic.service.config, clinic.clock)
    for number, text in enumerate(adverse):
        clinic.sms(text, sender=f"+1212555{number:04d}")
    for ticket in clinic.tickets():
        if ticket.category != Category.FAQ.value:
            assert actions.reclassify(ticket.id, NURSE, Category.FAQ).ok
    monkeypatch.setenv("TRIAGE_DATABASE_URL", clinic.service.settings.database_url)
    assert main(["model", "retrain", "--dry-run"]) == 1
    assert "Dry run" in capsys.readouterr().out and rows("", clinic.service.db) == []
    assert main(["model", "retrain", "--by", "manager"]) == 1
    out = capsys.readouterr().out
    assert "Refused: the candidate misses adverse events the model in use catches" in out
    assert "in the shipped adverse-event examples" in out and "Kept the model in use" in out
    [row] = rows("", clinic.service.db)
    assert row.status == REFUSED and row.arrays is None and "misses adverse events" in row.reason
    assert row.figures["sets"]["shipped adverse-event examples"]["adverse_missed_candidate"] > 0
    assert getattr(_clinic_classifier(clinic.service.db), "version") == default_model().version  # noqa: B009
    assert not any(text in out for text in adverse)  # patients' words are never printed


def test_no_corrections_means_nothing_to_learn(clinic: Clinic, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRIAGE_DATABASE_URL", clinic.service.settings.database_url)
    assert main(["model", "retrain"]) == 0
    assert "no staff corrections yet" in capsys.readouterr().out and rows("", clinic.service.db) == []


@pytest.mark.parametrize(("content", "said"), [
    ('{"text": "hi"}\n', ":1: missing 'category'"),
    ('{"text": "hi", "category": "spam"}\n', ":1: category must be one of"),
    ('\n{"text": "hi", "category": "faq"}\nnot json\n', ":3: not JSON"),
    ("", ": no labelled examples in it"),
])
def test_a_bad_eval_file_is_named_with_its_line(clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], content: str, said: str) -> None:
    monkeypatch.setenv("TRIAGE_DATABASE_URL", clinic.service.settings.database_url)
    path = tmp_path / "labelled.jsonl"
    path.write_text(content, encoding="utf-8")
    assert main(["model", "retrain", "--eval", str(path)]) == 2
    assert f"{path}{said}" in capsys.readouterr().err


def test_an_eval_file_is_scored_for_both_models(clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    clinic.sms("do you guys do brow lamination?", sender="+12125550177")
    [ticket] = clinic.tickets()
    front = Actor(id="jess", name="Jess", roles=frozenset({Role.FRONT_DESK}), staff_id="jess")
    assert TicketActions(clinic.service.db, clinic.service.config, clinic.clock).reclassify(
        ticket.id, front, Category.BOOKING if ticket.category != "booking" else Category.FAQ).ok
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps({"text": t, "category": c}) + "\n" for t, c in [
        ("what are your hours on saturday?", "faq"), ("why was I charged twice?", "billing")]), encoding="utf-8")
    monkeypatch.setenv("TRIAGE_DATABASE_URL", clinic.service.settings.database_url)
    assert main(["model", "retrain", "--eval", str(path), "--dry-run"]) in (0, 1)
    assert f"file {path}: 2 examples, accuracy" in capsys.readouterr().out
