"""The README's first command: the demo runs end to end and its database tells each ticket's story."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.cli import main


def test_demo_runs_and_ticket_show_tells_the_story(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "demo.db"
    assert main(["demo", "--database", str(database)]) == 0
    out = capsys.readouterr().out
    assert "already stored: provider retry, nothing new" in out
    for heading in ("── #front-desk", "── #billing", "── #clinical", "── DM to Dr. Maya Lee"):
        assert heading in out
    assert "🔴 Adverse event" in out and "Named human: Jess Park" in out
    assert "¡Hola! Gracias por escribir" in out and "call 911" in out
    assert f"Database: {database.resolve()}" in out
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{database}")
    assert main(["ticket", "show", "4"]) == 0
    story = capsys.readouterr().out
    assert story.startswith("Ticket #4 · adverse_event")
    for kind in ("received", "matched", "classified", "routed", "posted", "paged"):
        assert f" {kind} " in story
    assert main(["ticket", "show", "999"]) == 1
