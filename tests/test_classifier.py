"""The classifier: the bar on the held-out dev set, the safety layer, and `triage-bot classify`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.classify.artifact import ModelArtifact, file_sha256, training_sha256
from bot.classify.checks import EMERGENCIES, ROUTINE, load_checks
from bot.classify.embeddings import CACHE_PATH
from bot.classify.model import USE_WEIGHT, C, default_model
from bot.classify.overlap import near_duplicates
from bot.classify.safety import raise_category
from bot.classify.training import load_examples
from bot.domain import Category
from handlers.cli import main
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
DEV = SHARED / "dev-messages.jsonl"


@pytest.mark.skipif(not DEV.exists(), reason="../shared/dev-messages.jsonl is not beside this clone")
def test_dev_set_bar_is_met() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_classifier.py"), str(DEV)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "adverse events missed: 0" in run.stdout
    assert "clinical/adverse put in booking/faq/other: 0" in run.stdout


def test_training_data_is_varied_and_never_the_dev_set() -> None:
    examples = load_examples()
    assert len(examples) > 1500
    counts = {c: sum(e.category is c for e in examples) for c in Category}
    assert min(counts.values()) >= 200
    assert sum(e.lang == "es" for e in examples) > 500
    texts = [e.text for e in examples]
    assert len({t.strip().lower() for t in texts}) == len(examples)
    checks = [c.text for c in load_checks(ROUTINE) + load_checks(EMERGENCIES)]
    assert near_duplicates(checks, texts) == []  # the safety check sets are never trained on
    if DEV.exists():
        dev = [json.loads(line)["text"] for line in DEV.read_text("utf-8").splitlines() if line.strip()]
        assert near_duplicates(dev, texts) == []


def test_near_duplicates_are_found_through_case_punctuation_accents_and_a_changed_word() -> None:
    training = ["I think you have the wrong number, I've never been to a med spa", "ok!!", "👍🏼",
                "¿Cuánto cuesta el bótox por unidad?"]
    found = near_duplicates(["Sorry I think you have the wrong number, I've never been to a med spa", "OK", "👍",
                             "cuanto cuesta el botox por unidad", "what are your hours on saturday"], training)
    assert [pair[0] for pair in found] == ["Sorry I think you have the wrong number, I've never been to a med spa",
                                           "OK", "👍", "cuanto cuesta el botox por unidad"]


@pytest.mark.parametrize("text", [
    "my forehead feels tight and tingly since the peel and now it is weeping",
    "cannot close my mouth all the way after the appointment",
    "se me cayó el párpado izquierdo desde el botox del lunes",
    "lip looks like a balloon today and it's throbbing, is that normal?",
])
def test_unseen_complications_are_paged(text: str) -> None:
    result = default_model().classify(text)
    assert result.category is Category.ADVERSE_EVENT and result.page and result.urgency.value == "critical"


def test_negated_and_hypothetical_symptoms_are_not_pages() -> None:
    model = default_model()
    assert model.classify("no swelling at all, just wondering when I can work out").category is Category.CLINICAL
    assert model.classify("will I bruise after lip filler?").category is Category.CLINICAL


def test_result_carries_confidence_reasons_and_language() -> None:
    result = default_model().classify("hola, necesito cambiar mi cita del jueves")
    assert result.category is Category.BOOKING and result.language == "es"
    assert 0.0 < result.confidence <= 1.0
    assert result.reasons and "cita" in result.reasons[0]


def test_safety_layer_only_ever_raises() -> None:
    scores = {c: 0.0 for c in Category}
    for choice in Category:
        for text in ("ok thanks", "my lip is swollen since yesterday", "do you do botox"):
            verdict = raise_category(choice, {**scores, choice: 1.0}, text)
            assert verdict.category.severity >= choice.severity
    low = {**scores, Category.FAQ: 0.65, Category.ADVERSE_EVENT: 0.31}
    assert raise_category(Category.FAQ, low, "whatever").category is Category.ADVERSE_EVENT
    lower = {**scores, Category.FAQ: 0.75, Category.ADVERSE_EVENT: 0.25}
    assert raise_category(Category.FAQ, lower, "whatever").category is Category.FAQ


def test_classify_command_reads_jsonl_and_reports_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"id": "a", "text": "my cheek is swollen and hot since the filler"}\n'
        "{not json\n"
        '{"id": "c", "text": ""}\n'
        '{"id": "d", "channel": "sms", "text": "what are your hours?"}\n',
        encoding="utf-8",
    )
    assert main(["classify", str(path)]) == 1
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["id"] for r in rows] == ["a", "d"]
    assert rows[0]["category"] == "adverse_event" and rows[0]["page"] is True and rows[0]["urgency"] == "critical"
    assert rows[1]["category"] == "faq" and rows[1]["page"] is False
    assert set(rows[0]) >= {"id", "category", "urgency", "page", "confidence", "language", "reasons"}
    assert f"{path}:2: not valid JSON" in captured.err
    assert f"{path}:3: needs a non-empty 'text'" in captured.err


def test_classify_command_reads_csv_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,"why was I charged twice?"\n2,STOP\n', encoding="utf-8")
    assert main(["classify", str(path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["category"]) for r in rows] == [("1", "billing"), ("2", "other")]
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO('{"text": "can i reschedule to friday"}\n'))
    assert main(["classify"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == "1" and row["category"] == "booking"


def test_shipped_model_was_built_from_the_current_training_data() -> None:
    """Edit the training data (or the embedding cache) and this fails until scripts/train_classifier.py is run."""
    meta = ModelArtifact.load().meta
    retrain = "the shipped model is stale: run scripts/train_classifier.py"
    assert meta["training_sha256"] == training_sha256(), retrain
    assert meta["embedding_cache_sha256"] == file_sha256(CACHE_PATH), retrain
    assert meta["training_size"] == len(load_examples())
    assert meta["hyperparameters"]["c"] == C and meta["hyperparameters"]["use_weight"] == USE_WEIGHT
    assert default_model().version == meta["version"] and meta["training_sha256"][:12] in meta["version"]


@pytest.fixture(scope="module")
def fresh_pipeline():  # -> bot.classify.train.SklearnPipeline
    from bot.classify.train import SklearnPipeline

    return SklearnPipeline(load_examples())


def test_shipped_model_computes_what_scikit_learn_computes(fresh_pipeline) -> None:  # type: ignore[no-untyped-def]
    """Same TF-IDF rows on every training text and the dev set, same probabilities, same results."""
    from bot.classify.model import normalize
    from bot.classify.train import to_artifact

    model = default_model()
    texts = [e.text for e in load_examples()]
    if DEV.exists():
        texts += [json.loads(line)["text"] for line in DEV.read_text("utf-8").splitlines() if line.strip()]
    normalized = [normalize(t) for t in texts]
    words = fresh_pipeline.words.transform(normalized).toarray()
    chars = fresh_pipeline.chars.transform(normalized).toarray()
    assert np.abs(words - model._words.dense(normalized)).max() < 1e-12
    assert np.abs(chars - model._chars.dense(normalized)).max() < 1e-12
    fresh = to_artifact(fresh_pipeline)
    assert fresh.words_vocabulary == model._words.terms and fresh.chars_vocabulary == model._chars.terms
    assert np.abs(fresh_pipeline.probabilities(texts) - model.probabilities(texts)).max() < 1e-9
    sample = [*texts[::25], "my lip is STILL swollen 3 days after filler!!", "¿Cuánto cuesta el botox?", "ok"]
    from bot.classify.model import TriageModel

    retrained, shipped = TriageModel(fresh).classify_many(sample), model.classify_many(sample)
    # The same results; confidences to float rounding (the last digits depend on the BLAS numpy was built with).
    assert [(r.category, r.language, r.reasons, r.scores) for r in retrained] == \
        [(r.category, r.language, r.reasons, r.scores) for r in shipped]
    assert max(abs(a.confidence - b.confidence) for a, b in zip(retrained, shipped, strict=True)) < 1e-9


def test_run_time_imports_neither_scikit_learn_nor_scipy() -> None:
    code = ("import sys, handlers.serve; from bot.classify.model import default_model; "
            "default_model().classify('what are your hours?'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'matplotlib'}))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert run.stdout.strip() == "[]"


def test_answer_book_features_are_scikit_learns() -> None:
    """The FAQ answer book's char n-gram TF-IDF (fitted at start, without scikit-learn) is scikit-learn's."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from bot.classify.tfidf import ColumnIndex, Tfidf
    from bot.config.loader import load_config
    from bot.respond.answers import content_words

    config = load_config(ROOT / "bot" / "demo" / "clinic.yml")
    questions = [content_words(s) for e in config.faq for samples in e.questions.values() for s in samples]
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, strip_accents="unicode")
    matrix = reference.fit_transform(questions)
    ours = Tfidf.fit(questions, "char_wb", (3, 5))
    assert ours.terms == list(reference.get_feature_names_out())
    assert np.abs(ours.idf - reference.idf_).max() < 1e-12
    index = ColumnIndex(ours.rows(questions), len(ours))
    for asked in ["what are your hours", "¿Dónde están ubicados? Gracias", "parking??", "", "botox price"]:
        expected = (matrix @ reference.transform([content_words(asked)]).T).toarray().ravel()
        assert np.abs(index.dot(ours.row(content_words(asked))) - expected).max() < 1e-12
