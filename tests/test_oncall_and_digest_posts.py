"""On-call overrides from Slack, hand-off posts, and the managers' digest posted with its chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.storage.models import OnCallOverrideRow
from handlers.cli import main
from handlers.jobs import Jobs
from handlers.wiring import build_service
from tests.conftest import local
from tests.slack_clinic import CLINICAL_USER, DOCTOR, FRONT_DESK_USER, SlackClinic, stored

ADVERSE_SMS = "my lip has been swelling more since the filler yesterday and now it's turning purple"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_oncall_override_from_slack_is_recorded_announced_and_paged(slack_clinic: SlackClinic) -> None:
    answer = slack_clinic.command(DOCTOR, f"oncall set <@{CLINICAL_USER}|nurse> until tomorrow 8am").json()
    assert answer["text"] == "Nurse Kim is on call until Wed Nov 25 08:00. The clinical channel has been told."
    with slack_clinic.service.db.transaction() as session:
        [row] = session.scalars(select(OnCallOverrideRow)).all()
        assert (row.provider, row.set_by, row.until) == ("nurse", stored(DOCTOR), local(2026, 11, 25, 8, 0))
    slack_clinic.deliver()
    [handoff] = slack_clinic.slack.messages("clinical")
    assert handoff["text"].startswith(f"🩺 On call now: <@{CLINICAL_USER}> (Nurse Kim) until")
    assert "override by Dr. Lee" in handoff["text"]
    slack_clinic.sms(ADVERSE_SMS, sender="+12125550101")
    slack_clinic.deliver()
    assert len(slack_clinic.slack.messages(CLINICAL_USER)) == 1  # the override is paged, not the rota
    assert slack_clinic.slack.messages(DOCTOR) == []
    oncall = slack_clinic.command(FRONT_DESK_USER, "oncall").json()["text"]
    assert oncall.startswith(f"On call now: <@{CLINICAL_USER}> (Nurse Kim)")
    # Ending the override early: the rota applies again, and the channel is told.
    assert slack_clinic.command(FRONT_DESK_USER, "oncall clear").json()["text"].startswith("Only the clinical")
    cleared = slack_clinic.command(CLINICAL_USER, "oncall clear").json()["text"]
    assert cleared == "Override ended: the rota applies again. The clinical channel has been told."
    assert slack_clinic.command(FRONT_DESK_USER, "oncall").json()["text"].startswith(f"On call now: <@{DOCTOR}>")
    assert slack_clinic.command(CLINICAL_USER, "oncall clear").json()["text"].startswith("No override")
    slack_clinic.deliver()
    assert slack_clinic.slack.messages("clinical")[-1]["text"].startswith(f"🩺 On call now: <@{DOCTOR}>")


def test_oncall_set_is_refused_or_explained(slack_clinic: SlackClinic) -> None:
    refused = slack_clinic.command(FRONT_DESK_USER, f"oncall set <@{CLINICAL_USER}|nurse> until 8pm").json()
    assert refused["text"] == "Only the clinical team or a manager can change who is on call."
    not_clinical = slack_clinic.command(DOCTOR, f"oncall set <@{FRONT_DESK_USER}|jess> until 8pm").json()
    assert "is not clinical staff" in not_clinical["text"]
    garbage = slack_clinic.command(DOCTOR, "oncall set @nurse until whenever").json()
    assert garbage["text"].startswith("Sorry:") and "whenever" in garbage["text"]
    with slack_clinic.service.db.transaction() as session:
        assert session.scalars(select(OnCallOverrideRow)).all() == []


def test_handoff_is_posted_once_per_shift(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    assert jobs.handoff() is True
    assert jobs.handoff() is False
    slack_clinic.clock.set(local(2026, 11, 25, 7, 59))
    assert jobs.handoff() is False
    slack_clinic.clock.set(local(2026, 11, 25, 8, 0))
    assert jobs.handoff() is True
    slack_clinic.deliver()
    assert [m["text"].split(" until ")[1] for m in slack_clinic.slack.messages("clinical")] == [
        "Wed 08:00 (routing.oncall_provider). Backup: <@UNURSE> (Nurse Kim).",
        "Thu 08:00 (routing.oncall_provider). Backup: <@UNURSE> (Nurse Kim).",
    ]


def test_digest_command_posts_text_and_chart_without_patient_details(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms("why was i charged $480 twice?? i paid at checkout", sender="+12125550104")
    slack_clinic.sms(ADVERSE_SMS, sender="+12125550101")
    slack_clinic.deliver()
    answer = slack_clinic.command("UBOSS", "digest").json()
    assert answer["text"] == "Today's digest so far is on its way to #managers."
    slack_clinic.deliver()
    [post] = slack_clinic.slack.messages("managers")
    assert "Test Clinic" in post["text"] and "#2" in post["text"]  # the adverse event, by number
    for private in ("Daniel", "Olivia", "+1212", "charged", "swelling", "lip"):
        assert private not in post["text"], private
    [upload] = slack_clinic.slack.uploads.values()
    assert upload.startswith(PNG_SIGNATURE)
    [shared] = [f for f in slack_clinic.slack.files.values() if f.get("shared")]
    assert shared["channel"] == "managers" and shared["name"] == "triage-digest-2026-11-24.png"


def test_scheduled_digest_posts_once_across_instances(slack_clinic: SlackClinic) -> None:
    first = slack_clinic.service
    second = build_service(first.settings, first.twilio, first.config, clock=first.clock, poster=None, messengers={})
    slack_clinic.clock.set(local(2026, 11, 24, 18, 30))
    Jobs(first).digest(scheduled=True)
    Jobs(second).digest(scheduled=True)
    slack_clinic.deliver()
    assert len(slack_clinic.slack.messages("managers")) == 1
    assert len(slack_clinic.slack.uploads) == 1
    second.db.dispose()


def test_digest_cli_prints_and_writes_the_chart(slack_clinic: SlackClinic, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    slack_clinic.sms("why was i charged $480 twice?? i paid at checkout", sender="+12125550104")
    monkeypatch.setenv("TRIAGE_DATABASE_URL", slack_clinic.service.settings.database_url)
    chart = tmp_path / "chart.png"
    config = Path(__file__).parent / "data_clinic.yml"
    assert main(["--config", str(config), "digest", "--date", "2026-11-24", "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "billing" in out.lower() and "Daniel" not in out
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    assert main(["digest", "--date", "24/11/2026"]) == 2
