"""A current treatment is not a current symptom: "taking antibiotics for a sinus infection" asks whether a
treatment is safe (clinical), it does not report a complication after one (adverse event, page)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlers.cli import main
from tests.conftest import Clinic

# The example, then more of the same kind: a medication being taken, an illness being treated.
CURRENT_TREATMENT = [
    "Is it safe to get Botox while I'm taking antibiotics for a sinus infection?",
    "estoy tomando antibióticos por una infección de oído, ¿puedo hacerme el relleno?",
    "I'm on Accutane, can I get a peel?",
    "I'm on antibiotics for strep throat, is it ok to get filler on Friday?",
    "Can I still get my lip filler if I'm being treated for a UTI?",
    "I have a sinus infection, can I still come in for botox tomorrow?",
    "I'm taking ibuprofen for back pain, can I still get botox tomorrow?",
    "tomo antibióticos para una infección de garganta, ¿es seguro el botox?",
    "me están tratando una infección urinaria, ¿puedo hacerme el láser el sábado?",
    "tengo infección de oído y estoy con antibióticos, ¿puedo ir a mi cita de botox mañana?",
    "tengo fiebre por la gripe, ¿puedo ir a mi cita de relleno mañana?",
    # An infection nobody named, before a treatment: the model is 98% sure it is a question for a provider and
    # gives an adverse event under 1%, so the symptom rule does not page it (bot/classify/safety.py).
    "I'm on antibiotics for an infection, can I get filler next week?",
]
# Still adverse events: the infection is where a treatment of ours went in, or another symptom is reported.
STILL_ADVERSE = [
    "I'm on antibiotics for the infection from my filler",
    "I'm taking antibiotics for the infection where the filler went in",
    "on antibiotics for an infection at the injection site, still swollen",
    "my lip is swollen and hard since the filler, I'm taking antibiotics for it now",
    "took antibiotics for a sinus infection and now my lip is swollen since the filler",
    "I have an ear infection and since my botox yesterday my eyelid is drooping",
    "tengo una infección en el labio después del relleno y estoy tomando antibióticos",
    "estoy tomando antibióticos por la infección del relleno y sigue hinchado",
    # A medication taken for a complication is still the complication.
    "I'm taking antibiotics for the swelling in my lip",
    "estoy tomando antibióticos por la hinchazón del labio",
]


def classify(tmp_path: Path, capsys: pytest.CaptureFixture[str], texts: list[str]) -> list[dict[str, object]]:
    source = tmp_path / "messages.jsonl"
    source.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    assert main(["classify", str(source)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_a_current_treatment_is_a_clinical_question(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = classify(tmp_path, capsys, CURRENT_TREATMENT)
    assert [(r["category"], text) for r, text in zip(results, CURRENT_TREATMENT, strict=True)] == [
        ("clinical", text) for text in CURRENT_TREATMENT]
    assert not any("current symptom" in str(r["reasons"]) for r in results)


def test_a_symptom_after_our_treatment_still_pages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = classify(tmp_path, capsys, STILL_ADVERSE)
    assert [(r["category"], text) for r, text in zip(results, STILL_ADVERSE, strict=True)] == [
        ("adverse_event", text) for text in STILL_ADVERSE]


@pytest.mark.parametrize("text", CURRENT_TREATMENT[:2] + CURRENT_TREATMENT[7:8])
def test_by_sms_it_goes_to_the_clinical_channel_and_pages_nobody(clinic: Clinic, text: str) -> None:
    assert clinic.sms(text, sender="+12125550103").status_code == 200
    [ticket] = clinic.tickets()
    assert ticket.category == "clinical" and ticket.role == "clinical"
    assert not ticket.paged and "paged" not in clinic.events(ticket.id)
    assert clinic.outbox("chat.page") == []


def test_by_sms_an_infection_at_the_injection_site_pages(clinic: Clinic) -> None:
    clinic.sms("on antibiotics for an infection at the injection site, still swollen", sender="+12125550103")
    [ticket] = clinic.tickets()
    assert ticket.category == "adverse_event" and ticket.paged == "dr-lee"
