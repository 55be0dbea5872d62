"""Lines with mentions in place (bot/mentions.py): one structure, rendered by Slack and as plain text."""

from __future__ import annotations

from bot.mentions import Mention, MentionKind, line_from_json, line_json, plain, trailing
from integrations.slack.mentions import slack_line

KIM = Mention(MentionKind.USER, "UKIM", staff="kim", name="Nurse Kim")
BILLING = Mention(MentionKind.GROUP, "S0BILL", role="billing")


def test_one_line_two_renderings_and_it_survives_the_outbox() -> None:
    line = ("🩺 On call now: ", KIM, " (Nurse Kim) until Wed 08:00.")
    assert slack_line(line) == "🩺 On call now: <@UKIM> (Nurse Kim) until Wed 08:00."
    assert plain(line) == "🩺 On call now: @Nurse Kim until Wed 08:00."  # the name is not said twice
    assert line_from_json(line_json(line)) == line


def test_trailing_mentions() -> None:
    line = trailing("⏰ Unclaimed", [BILLING, KIM, Mention(MentionKind.HERE, role="front_desk")])
    assert slack_line(line) == "⏰ Unclaimed — <!subteam^S0BILL> <@UKIM> <!here>"
    assert plain(line) == "⏰ Unclaimed — @billing @Nurse Kim @here"
    assert trailing("quiet", []) == ("quiet",)


def test_the_audit_keeps_ids_not_names() -> None:
    assert KIM.audited() == {"kind": "user", "id": "UKIM", "staff": "kim"}
