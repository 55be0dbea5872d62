"""`triage-bot doctor`: the config, the database and every configured connection, one line each.

Each check says what it found and, when something is wrong, what to do. The exit code is non-zero when any
check failed; a connection that is not configured is not a failure unless the clinic's config needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.config.loader import ConfigError, load_config
from bot.config.models import ClinicConfig
from bot.settings import GraphMailSettings, MetaSettings, TriageSettings, TwilioSettings
from handlers.doctor.classifier import check_classifier
from handlers.doctor.database import check_database
from handlers.doctor.graph import check_graph
from handlers.doctor.graph_mail import check_graph_mail
from handlers.doctor.imap import check_imap
from handlers.doctor.meta import check_meta
from handlers.doctor.report import Check, Status, fail, ok
from handlers.doctor.slack import check_slack
from handlers.doctor.smtp import check_smtp
from handlers.doctor.teams import check_teams
from handlers.doctor.twilio import check_twilio
from handlers.mail.imap import ImapSettings
from integrations.email_smtp import SmtpSettings
from integrations.slack.settings import SlackSettings
from integrations.teams.settings import TeamsSettings

__all__ = ["Check", "Status", "check_config", "run_doctor"]


def check_config(path: Path | None) -> tuple[list[Check], ClinicConfig | None]:
    if path is None:
        return [fail("Config", "no clinic config given — pass --config FILE or set TRIAGE_CONFIG=FILE (start from "
                               "bot/demo/clinic.yml)")], None
    try:
        config = load_config(path)
    except ConfigError as exc:
        return [fail("Config", f"{exc.path}: {problem}") for problem in exc.problems], None
    found = f"{path} — {config.clinic.name} ({config.clinic.timezone}), {len(config.staff)} staff"
    return [ok("Config", found)], config


def teams_settings(teams: TeamsSettings | None, *, slack_too: bool = False) -> tuple[TeamsSettings | None,
                                                                               list[Check]]:
    """`teams`, else TeamsSettings.from_env(), and what is wrong with the Teams variables (`slack_too`: Slack is
    configured as well: then one line says that every card goes to both)."""
    if teams is None:
        try:
            teams = TeamsSettings.from_env()
        except ValueError as exc:  # a variable missing or wrong: its message names it
            return None, [fail("Teams", f"{exc} — fix it, or unset TEAMS_APP_ID if the clinic does not use Teams")]
    if teams is not None and slack_too:
        return teams, [ok("Messengers", "Slack and Teams are both set: every card, page, nudge and digest goes to "
                                        "each, and a click in either changes both")]
    return teams, []


def run_doctor(
    config_path: Path | None,
    settings: TriageSettings,
    *,
    twilio: TwilioSettings | None = None,
    slack: SlackSettings | None = None,
    smtp: SmtpSettings | None = None,
    teams: TeamsSettings | None = None,
    meta: MetaSettings | None = None,
    imap: ImapSettings | None = None,
    graph_mail: GraphMailSettings | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Print one line per check as it finishes (a slow vendor shows where it is); 1 if any failed.

    Settings not given are read from the environment, as `serve` reads them (`teams`: TeamsSettings.from_env())."""
    checks: list[Check] = []

    def report(found: Check | list[Check]) -> None:
        for check in found if isinstance(found, list) else [found]:
            checks.append(check)
            out(check.line)

    config_checks, config = check_config(config_path)
    report(config_checks)
    report(check_database(settings.database_url))
    report(check_classifier(settings.database_url))
    slack = slack or SlackSettings()
    report(check_slack(slack, config))
    teams, problems = teams_settings(teams, slack_too=slack.bot_token is not None)
    report(problems)
    if teams is not None or not any(check.status is Status.FAIL for check in problems):  # a bad variable: one line
        report(check_teams(teams, config, database_url=settings.database_url))
        report(check_graph(teams, config))
    report(check_twilio(twilio or TwilioSettings(), config))
    report(check_smtp(smtp or SmtpSettings()))
    report(check_imap(imap or ImapSettings()))
    report(check_graph_mail(graph_mail or GraphMailSettings(), settings.public_url))
    report(check_meta(meta or MetaSettings()))
    failed = sum(check.status is Status.FAIL for check in checks)
    out(f"{failed} problem(s) found" if failed else "all checks passed")
    return 1 if failed else 0
