"""The README's first command: the demo runs end to end and its database tells each ticket's story."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlers.cli import main


def test_demo_runs_and_ticket_show_tells_the_story(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "demo.db"
    assert main(["demo", "--database", str(database), "--messenger", "teams"]) == 0
    out = capsys.readouterr().out
    # The same cards as Teams draws them, beside Slack's (issue 9).
    slack_cards = json.loads((tmp_path / "demo-slack-cards.json").read_text(encoding="utf-8"))
    teams_cards = json.loads((tmp_path / "demo-teams-cards.json").read_text(encoding="utf-8"))
    assert [c["ticket"] for c in teams_cards] == [c["ticket"] for c in slack_cards] and teams_cards
    assert all(c["card"]["type"] == "AdaptiveCard" and c["card"]["version"] == "1.5" for c in teams_cards)
    assert all("Olivia" not in c["summary"] for c in teams_cards)
    assert "already stored: provider retry, nothing new" in out
    for heading in ("── #front-desk", "── #billing", "── #clinical", "── #managers", "── DM to Ana Ortiz NP"):
        assert heading in out
    # A working day (issue 7): staff claim, reply, acknowledge in Slack and by SMS, and resolve.
    assert "staff Ana Ortiz NP texts “4” from their phone" in out
    assert "SMS to Ana Ortiz NP: Ticket #4 acknowledged." in out
    assert "staff Ana Ortiz NP acknowledges #10 in Slack: done" in out
    assert "staff Marco Diaz resolves #3 in Slack: done" in out and "refused" not in out
    assert "\nClaims: Ana Ortiz NP 6" in out and "#4 acknowledged in 1 min by Ana Ortiz NP" in out
    assert "🔴 Adverse event" in out and "Named human: Jess Park" in out
    assert "¡Hola! Gracias por escribir" in out and "call 911" in out
    # Instagram/Facebook DMs come in through the signed Meta webhook and are answered by DM.
    assert "10:38 dm    m_demo032     HTTP 200, stored" in out
    assert "Came in on: Instagram/Facebook DM | Routed to: clinical" in out
    assert "\n6400000000000031\n  → Hi! Thanks for reaching out" in out
    # Emails come through the IMAP poller: the patient's own words only, the automatic reply skipped.
    assert "11:05 email <CAF1demo041. mailbox polled: 1 stored" in out
    assert "1 skipped (1 an automatic email" in out
    assert "Came in on: Email | Routed to: billing" in out and "Sent from Outlook" not in out
    assert f"Database: {database.resolve()}" in out
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{database}")  # the demo always runs on its SQLite file
    assert main(["ticket", "show", "4"]) == 0
    story = capsys.readouterr().out
    assert story.startswith("Ticket #4 · adverse_event")
    for kind in ("received", "matched", "classified", "routed", "posted", "paged"):
        assert f" {kind} " in story
    assert main(["ticket", "show", "999"]) == 1
