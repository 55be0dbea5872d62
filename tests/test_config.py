"""A bad clinic config is reported with the file, the key, the line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.loader import ConfigError, load_config
from handlers.cli import DEMO_CONFIG, main

GOOD = """\
clinic:
  name: Test
  timezone: America/Chicago
booking:
  link: https://book.example
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_the_seed_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    sla = config.sla_minutes
    assert (sla.booking, sla.faq, sla.billing, sla.clinical, sla.adverse_event) == (5, 5, 30, 10, 5)
    assert config.templates.after_hours_ack["es"].endswith("llame al 911.")


def test_bad_value_names_file_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "sla_minutes:\n  billing: soon\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "sla_minutes.billing (line 7)" in message and "'soon'" in message


def test_unknown_key_and_bad_zone_are_both_reported(tmp_path: Path) -> None:
    text = GOOD.replace("America/Chicago", "Mars/Olympus") + "routing:\n  min_confidense: 0.5\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    problems = caught.value.problems
    assert any(p.startswith("clinic.timezone (line 3)") and "Mars/Olympus" in p for p in problems)
    assert any(p.startswith("routing.min_confidense (line 7)") and "Extra inputs" in p for p in problems)


def test_clinical_categories_can_never_be_auto_answered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="clinical can never be auto-answered"):
        load_config(write(tmp_path, GOOD + "routing:\n  auto_answer: [booking, clinical]\n"))


def test_unknown_staff_reference(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="oncall_provider 'dr-who' is not in staff"):
        load_config(write(tmp_path, GOOD + "routing:\n  oncall_provider: dr-who\n"))


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 3: not valid YAML"):
        load_config(write(tmp_path, "clinic:\n  name: x\n  bad: a: b\nbooking: {}\n"))


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(DEMO_CONFIG)]) == 0
    assert "OK — Lumière Aesthetics" in capsys.readouterr().out
    bad = write(tmp_path, GOOD + "business_hours:\n  mon: {open: '18:00', close: '09:00'}\n")
    with pytest.raises(SystemExit) as exited:
        main(["check-config", str(bad)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"config error in {bad}" in err and "business_hours.mon (line 7)" in err
    assert "close must be after open" in err
    with pytest.raises(SystemExit):
        main(["check-config", str(tmp_path / "missing.yml")])
    assert "file not found" in capsys.readouterr().err
