"""The safety layer pages where a nurse would, and only there: measured on the two hand-written sets in
bot/classify/checks/ (never trained on) and on the messages that used to page for a word."""

from __future__ import annotations

import pytest

from bot.classify.checks import EMERGENCIES, ROUTINE, load_checks
from bot.classify.model import default_model
from bot.domain import Category

# Still paged, and measured as such (scripts/eval_safety.py): a joke in symptom words ("my eyes are burning from
# staring at your prices") the model gives real adverse-event probability. When in doubt, page.
KNOWN_FALSE_PAGES = {"routine-11"}


def test_no_emergency_phrased_in_other_words_is_missed() -> None:
    checks = load_checks(EMERGENCIES)
    results = default_model().classify_many([c.text for c in checks])
    missed = [c.id for c, r in zip(checks, results, strict=True) if r.category is not Category.ADVERSE_EVENT]
    assert missed == []


def test_routine_messages_with_symptom_words_page_only_where_measured() -> None:
    checks = load_checks(ROUTINE)
    results = default_model().classify_many([c.text for c in checks])
    paged = {c.id for c, r in zip(checks, results, strict=True) if r.category is Category.ADVERSE_EVENT}
    assert paged == KNOWN_FALSE_PAGES


@pytest.mark.parametrize(("text", "category"), [
    ("My card was charged twice today and honestly it hurts, can you refund one?", Category.BILLING),
    ("Is it hard to find parking near you today?", Category.FAQ),
    ("I'd like to book the red light therapy add-on after my facial next week", Category.BOOKING),
    ("Can I pay my balance now? I'm still sore about the late fee", Category.BILLING),
    ("Do you treat redness? My rosacea flares up every winter", Category.CLINICAL),
])
def test_a_word_is_not_a_symptom_when_the_model_is_sure(text: str, category: Category) -> None:
    result = default_model().classify(text)
    assert result.category is category and result.confidence > 0.7
    assert not any(reason.startswith("safety:") for reason in result.reasons)


def test_a_raised_result_carries_the_models_own_probability_and_the_rule_that_decided() -> None:
    result = default_model().classify("what time do you open? my lip went kind of grey where you injected")
    assert result.category is Category.ADVERSE_EVENT
    assert result.confidence == pytest.approx(result.scores["adverse_event"], abs=1e-4) and result.confidence < 0.5
    assert result.reasons[-1] == "safety: emergency sign reported ('lip went kind of grey')"


def test_someone_elses_symptom_is_read_in_its_own_clause() -> None:
    model = default_model()
    mine = model.classify("my sister says it's nothing, but my lip has been swollen and hard since the filler")
    assert mine.category is Category.ADVERSE_EVENT
    hers = model.classify("first time getting botox, my sister said her eyelid drooped, what if that happens to me?")
    assert hers.category is Category.CLINICAL
