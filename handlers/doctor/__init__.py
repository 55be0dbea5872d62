"""`triage-bot doctor`: the config, the database and every configured connection, one line each.

Each check says what it found and, when something is wrong, what to do. The exit code is non-zero when any
check failed; a connection that is not configured is not a failure unless the clinic's config needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.config.loader import ConfigError, load_config
from bot.config.models import ClinicConfig
from bot.settings import TriageSettings, TwilioSettings
from handlers.doctor.database import check_database
from handlers.doctor.report import Check, Status, fail, ok
from handlers.doctor.slack import check_slack
from handlers.doctor.smtp import check_smtp
from handlers.doctor.twilio import check_twilio
from integrations.email_smtp import SmtpSettings
from integrations.slack.settings import SlackSettings

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


def run_doctor(
    config_path: Path | None,
    settings: TriageSettings,
    *,
    twilio: TwilioSettings | None = None,
    slack: SlackSettings | None = None,
    smtp: SmtpSettings | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Print one line per check as it finishes (a slow vendor shows where it is); 1 if any failed."""
    checks: list[Check] = []

    def report(found: Check | list[Check]) -> None:
        for check in found if isinstance(found, list) else [found]:
            checks.append(check)
            out(check.line)

    config_checks, config = check_config(config_path)
    report(config_checks)
    report(check_database(settings.database_url))
    report(check_slack(slack or SlackSettings(), config))
    report(check_twilio(twilio or TwilioSettings(), config))
    report(check_smtp(smtp or SmtpSettings()))
    failed = sum(check.status is Status.FAIL for check in checks)
    out(f"{failed} problem(s) found" if failed else "all checks passed")
    return 1 if failed else 0
