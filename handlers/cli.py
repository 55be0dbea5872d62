"""`triage-bot`: the console command. Each subcommand parses its arguments and calls one flow."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The config and settings modules (pydantic) take most of a second to import: each command imports what it
# uses, so that `triage-bot classify` starts fast.
if TYPE_CHECKING:
    from bot.config.models import ClinicConfig
    from bot.settings import TriageSettings

DEMO_DIR = Path(__file__).resolve().parents[1] / "bot" / "demo"
DEMO_CONFIG = DEMO_DIR / "clinic.yml"


def config_path(given: Path | None, settings: TriageSettings) -> Path:
    """--config, else TRIAGE_CONFIG, else the bundled demo clinic."""
    return given or settings.config or DEMO_CONFIG


def load_or_exit(path: Path) -> ClinicConfig:
    from bot.config.loader import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.settings import TriageSettings

    path = config_path(args.file or args.config, TriageSettings())
    config = load_or_exit(path)
    print(f"{path}: OK — {config.clinic.name} ({config.clinic.timezone}), {len(config.staff)} staff, "
          f"{len(config.faq)} FAQ answers, SLA minutes {config.sla_minutes.model_dump()}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from handlers.classify_cli import run

    return run(args.file)


def cmd_backtest(args: argparse.Namespace) -> int:
    from bot.settings import TriageSettings
    from handlers.backtest import run

    path = config_path(args.config, TriageSettings())
    return run(args.file, load_or_exit(path), config_name=path.name, output=args.output, quiet=args.quiet)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.settings import TriageSettings
    from handlers.serve import serve

    settings = TriageSettings()
    given = args.config or settings.config
    if args.demo and given is not None:
        print("triage-bot serve: --demo serves the demo clinic; drop it to serve the config "
              f"{given}", file=sys.stderr)
        return 2
    if not args.demo and (given is None or _is_demo(given)):
        what = "the demo clinic's config" if given else "no clinic config given"
        print(f"triage-bot serve: {what} — pass --config FILE or set TRIAGE_CONFIG=FILE (start from "
              f"{DEMO_CONFIG.relative_to(DEMO_DIR.parents[1])}), or run `triage-bot serve --demo` to serve the demo "
              "clinic", file=sys.stderr)
        return 2
    return serve(settings, load_or_exit(DEMO_CONFIG if args.demo or given is None else given))


def _is_demo(path: Path) -> bool:
    try:
        return path.resolve() == DEMO_CONFIG.resolve()
    except OSError:
        return False


def cmd_migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.settings import TriageSettings
    from bot.storage.db import Database, head_revisions, migrate_to_head
    from handlers.doctor.database import shown_url

    settings = TriageSettings()
    where = shown_url(settings.database_url)
    try:
        db = Database(settings.database_url, migrate=False)
        try:
            before = migrate_to_head(db.engine)
            heads = ", ".join(sorted(head_revisions(db.engine)))
        finally:
            db.dispose()
    except SQLAlchemyError as exc:
        print(f"triage-bot migrate: {where}: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    if before is None:
        print(f"{where}: already at {heads}")
    else:
        print(f"{where}: upgraded from {', '.join(sorted(before)) or 'an empty schema'} to {heads}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.settings import TriageSettings
    from handlers.doctor import run_doctor

    settings = TriageSettings()
    return run_doctor(args.config or settings.config, settings)


def cmd_demo(args: argparse.Namespace) -> int:
    from handlers.demo import run_demo

    return run_demo(Path(args.database) if args.database else None, messenger=args.messenger)


def cmd_patients_import(args: argparse.Namespace) -> int:
    from bot.match.importer import import_patients
    from bot.settings import TriageSettings
    from bot.storage.db import Database

    settings = TriageSettings()
    config = load_or_exit(config_path(args.config, settings))
    if not args.file.exists():
        print(f"{args.file}: file not found", file=sys.stderr)
        return 2
    db = Database(settings.database_url, migrate=settings.auto_migrate, require_current=True)
    with db.transaction() as session:
        report = import_patients(session, args.file, config.clinic.tz)
    for error in report.errors:
        print(error, file=sys.stderr)
    print(f"patients: {report.added} added, {report.updated} updated, {len(report.errors)} problem(s)")
    return 1 if report.errors else 0


def cmd_ticket_show(args: argparse.Namespace) -> int:
    from bot.settings import TriageSettings
    from bot.storage.db import Database
    from bot.tickets.timeline import timeline

    settings = TriageSettings()
    config = load_or_exit(config_path(args.config, settings))
    db = Database(settings.database_url, migrate=settings.auto_migrate, require_current=True)
    with db.transaction() as session:
        lines = timeline(session, args.id, config)
    if lines is None:
        print(f"no ticket #{args.id} in {settings.database_url}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from bot.outbox.dead import failed
    from bot.settings import TriageSettings
    from bot.storage.db import Database

    settings = TriageSettings()
    with Database(settings.database_url).transaction() as session:
        letters = failed(session)
    if not letters:
        print("no failed outbox items")
        return 0
    for letter in letters:
        print(letter.line())
    print(f"{len(letters)} failed; retry one with: triage-bot outbox retry ID", file=sys.stderr)
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from bot.outbox.dead import retry
    from bot.settings import TriageSettings
    from bot.storage.db import Database

    settings = TriageSettings()
    with Database(settings.database_url).transaction() as session:
        problem = retry(session, args.id, SystemClock().now())
    if problem:
        print(f"triage-bot outbox retry: {problem}", file=sys.stderr)
        return 1
    print(f"outbox item #{args.id} queued again: a running `triage-bot serve` delivers it now")
    return 0


def cmd_corrections_export(args: argparse.Namespace) -> int:
    import json

    from bot.settings import TriageSettings
    from bot.storage.db import Database
    from bot.tickets.corrections import corrections

    settings = TriageSettings()
    db = Database(settings.database_url, migrate=settings.auto_migrate, require_current=True)
    with db.transaction() as session:
        lines = [json.dumps(row, ensure_ascii=False) for row in corrections(session)]
    text = "".join(line + "\n" for line in lines)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"{len(lines)} correction(s) written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from datetime import date

    from bot.digest import compute_digest, digest_chart, digest_text
    from bot.settings import TriageSettings
    from bot.storage.db import Database

    settings = TriageSettings()
    config = load_or_exit(config_path(args.config, settings))
    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        print(f"--date {args.date!r}: use YYYY-MM-DD", file=sys.stderr)
        return 2
    if args.post:
        from handlers.jobs import Jobs
        from handlers.runtime import SlackStartup, SlackStartupError, runtime
        from integrations.slack.settings import SlackSettings
        from integrations.teams.settings import TeamsSettings

        slack_settings = SlackSettings()
        try:
            SlackStartup(slack_settings).check()
        except SlackStartupError as exc:
            print(f"triage-bot digest: {exc}", file=sys.stderr)
            return 2
        try:
            service, _, _ = runtime(settings, config, slack_settings, TeamsSettings.from_env())
        except (SlackStartupError, ValueError) as exc:
            print(f"triage-bot digest: {exc}", file=sys.stderr)
            return 2
        digest = Jobs(service).digest(day)
        service.run_outbox()
        print(digest_text(digest, config))
        print(f"posted to #{config.channels.managers}", file=sys.stderr)
        return 0
    from bot.clock import SystemClock

    now = SystemClock().now()
    db = Database(settings.database_url, migrate=settings.auto_migrate, require_current=True)
    with db.transaction() as session:
        digest = compute_digest(session, config, day or now.astimezone(config.clinic.tz).date(), now)
    print(digest_text(digest, config))
    if args.chart:
        args.chart.write_bytes(digest_chart(digest))
        print(f"chart written to {args.chart}", file=sys.stderr)
    return 0


def cmd_mail_poll(args: argparse.Namespace) -> int:
    """Every mailbox configured, once: the Microsoft 365 shared mailbox (GRAPH_MAILBOX) and the IMAP one."""
    from bot.settings import GraphMailSettings, TriageSettings
    from handlers.mail.imap import ImapSettings

    graph = GraphMailSettings()
    if not graph.configured:
        return cmd_imap_poll(args)
    from handlers.mail.graph_poll import poll_once

    code = poll_once(graph, TriageSettings())
    return max(code, cmd_imap_poll(args)) if ImapSettings().configured else code


def cmd_imap_poll(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from bot.settings import TriageSettings
    from bot.storage.db import Database
    from handlers.mail.imap import ImapSettings, MailboxError
    from handlers.mail.polling import mailbox
    from integrations.email_smtp import SmtpSettings

    imap = ImapSettings()
    if not imap.configured:
        print("triage-bot mail poll: no IMAP mailbox configured — set IMAP_HOST, IMAP_USERNAME and IMAP_PASSWORD",
              file=sys.stderr)
        return 2
    settings = TriageSettings()
    db = Database(settings.database_url, migrate=settings.auto_migrate, require_current=True)
    try:
        result = mailbox(imap, SmtpSettings()).poll(db, SystemClock())
    except MailboxError as exc:
        print(f"triage-bot mail poll: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"{imap.username} {imap.folder}: {result.line}")
    if result.stored:
        print("a running `triage-bot serve` triages them within a second", file=sys.stderr)
    return 0


def cmd_teams_package(args: argparse.Namespace) -> int:
    import os

    app_id = args.app_id or os.environ.get("TEAMS_APP_ID", "").strip()
    host = args.host or os.environ.get("TRIAGE_PUBLIC_HOST", "").strip()
    missing = [what for what, value in (("an app id (pass --app-id ID or set TEAMS_APP_ID)", app_id),
                                        ("a host (pass --host HOST or set TRIAGE_PUBLIC_HOST)", host)) if not value]
    if missing:
        print(f"triage-bot teams package: needs {' and '.join(missing)}", file=sys.stderr)
        return 2
    from handlers.teams.package import build_package

    options = {"name": args.name} if args.name else {}
    try:
        path = build_package(args.out, app_id, host, **options)
    except (ValueError, OSError) as exc:
        print(f"triage-bot teams package: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: the Teams app package (manifest.json, color.png, outline.png) for bot {app_id}")
    print("next: upload it in Teams admin center > Teams apps > Manage apps > Upload new app; the Azure Bot's "
          f"messaging endpoint must be https://{host}/teams/messages")
    return 0


ENV_DATABASE = """\
  TRIAGE_DATABASE_URL   SQLAlchemy URL of the database (default sqlite:///var/triage.db;
                        PostgreSQL: postgresql+psycopg://user:pass@host/db)
  TRIAGE_AUTO_MIGRATE   upgrade the schema at start (default true); false: `serve` refuses an old schema"""
ENV_CONFIG = "  TRIAGE_CONFIG         the clinic config file, when --config is not given"
ENV_SLACK = """\
  SLACK_BOT_TOKEN       the Slack app's bot token (xoxb-…); without it cards are printed to the console
  SLACK_SIGNING_SECRET  verifies Slack's requests to /slack/events (HTTP mode)
  SLACK_APP_TOKEN       an app-level token (xapp-…, connections:write): Socket Mode instead of HTTP
  SLACK_API_URL         Slack Web API base URL (default https://slack.com/api/)"""
ENV_TWILIO = """\
  TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER
                        SMS in (signature check) and out
  TWILIO_API_URL        Twilio's API base URL (default https://api.twilio.com)"""
ENV_SMTP = """\
  SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_SENDER, SMTP_STARTTLS
                        the mail server for email replies (port 587 and STARTTLS by default)"""
ENV_IMAP = """\
  IMAP_HOST, IMAP_PORT, IMAP_USERNAME, IMAP_PASSWORD, IMAP_FOLDER, IMAP_SSL, IMAP_POLL_SECONDS
                        the mailbox patients email (port 993 with TLS, INBOX, every 60 s by default)
  IMAP_FIRST_POLL_DAYS  how many days back the very first poll reads (default 3; 0: the whole folder)"""
ENV_GRAPH = """\
  GRAPH_MAILBOX, GRAPH_TENANT_ID, GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_MAIL_POLL_SECONDS
                        the Microsoft 365 shared mailbox patients email (its Entra app: Mail.Read, Mail.Send)"""
ENV_SERVE = """\
  TRIAGE_HOST           address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  TRIAGE_PORT           port to listen on (default 8080)
  TRIAGE_PUBLIC_URL     the public base URL Twilio calls, when a proxy sits in front (signature check)
  TRIAGE_WEB_FORM_SECRET
                        HMAC-SHA256 key for /inbound/web (X-Triage-Signature: sha256=<hex>)
  TRIAGE_MAX_BODY_BYTES largest webhook body accepted (default 262144)"""
ENV_TEAMS_PACKAGE = """\
  TEAMS_APP_ID          the bot's Microsoft app id (the Azure Bot's), when --app-id is not given
  TRIAGE_PUBLIC_HOST    the bot's public host name (https://HOST/teams/messages), when --host is not given"""
DEFAULT_TEAMS_PACKAGE = Path("triage-teams-app.zip")


class HelpFormatter(argparse.HelpFormatter):
    """Wraps a one-paragraph description to the terminal; keeps laid-out text (the environment tables) as is."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _epilog(*parts: str, example: str = "") -> str:
    text = "environment:\n" + "\n".join(parts)
    return text + (f"\n\nexample:\n  {example}" if example else "")


def parser() -> argparse.ArgumentParser:
    formatter = HelpFormatter
    top = argparse.ArgumentParser(
        prog="triage-bot", formatter_class=formatter,
        description="Patient-message triage bot for medical spas: every SMS, web form and email is stored, "
                    "classified, answered when routine, and otherwise posted as a card in the clinic's Slack.",
        epilog="Run `triage-bot COMMAND --help` for a command's arguments and the environment it reads.\n"
               "New here? `triage-bot demo` runs a day at the bundled demo clinic; `triage-bot doctor --config "
               "FILE` checks a real set-up.")
    # --config is accepted before or after the command; SUPPRESS keeps one from overwriting the other.
    top.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="clinic config YAML (default: $TRIAGE_CONFIG)")
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                             help="clinic config YAML (default: $TRIAGE_CONFIG, else the demo clinic's)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str, epilog: str,
                parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description, epilog=epilog,
                              formatter_class=formatter, parents=list(parents))

    serve_config = argparse.ArgumentParser(add_help=False)
    serve_config.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                              help="clinic config YAML (default: $TRIAGE_CONFIG; required unless --demo)")
    doctor_config = argparse.ArgumentParser(add_help=False)
    doctor_config.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                               help="the clinic config to check (default: $TRIAGE_CONFIG)")
    p = command("serve", "run the intake webhooks, chat app and scheduler",
                "Serve the webhooks (/inbound/sms, /inbound/web, /slack/events, /healthz), the Slack app and "
                "the scheduled jobs (outbox, SLA sweep, on-call hand-off, digest) for one clinic. Migrations "
                "run on start, behind a lock (TRIAGE_AUTO_MIGRATE=false: only checked; run `triage-bot migrate`). "
                "Refuses to start without a clinic config, so a real clinic never runs on the demo's by mistake.",
                _epilog(ENV_CONFIG, ENV_DATABASE, ENV_SERVE, ENV_SLACK, ENV_TWILIO, ENV_SMTP, ENV_IMAP,
                        example="TRIAGE_CONFIG=clinic.yml TRIAGE_HOST=0.0.0.0 triage-bot serve"),
                parents=[serve_config])
    p.add_argument("--demo", action="store_true", help="serve the bundled demo clinic's config (for trying it out)")
    p.set_defaults(func=cmd_serve)

    p = command("migrate", "upgrade the database schema to this version, once, behind a lock",
                "Upgrade the database to this version's schema and exit. Takes a lock first (an advisory lock on "
                "PostgreSQL, a lock file beside an SQLite file), so two at once are safe and the second finds it "
                "done. Run it once per release before starting several instances with TRIAGE_AUTO_MIGRATE=false.",
                _epilog(ENV_DATABASE, example="TRIAGE_DATABASE_URL=postgresql+psycopg://triage@db/triage "
                        "triage-bot migrate"))
    p.set_defaults(func=cmd_migrate)

    p = command("doctor", "check the config, the database and every connection, one line each",
                "Check the clinic config, the database (reachable, migrations at head) and every configured "
                "connection: Slack (bot token, scopes, membership of each role channel), Twilio (credentials, "
                "the sending number), SMTP (connect, STARTTLS, login). Each line says what is wrong and how to "
                "fix it; the exit code is 1 when anything failed. Nothing is sent to anyone.",
                _epilog(ENV_CONFIG, ENV_DATABASE, ENV_SLACK, ENV_TWILIO, ENV_SMTP, ENV_IMAP,
                        example="triage-bot doctor --config clinic.yml"),
                parents=[doctor_config])
    p.set_defaults(func=cmd_doctor)

    p = command("demo", "run the whole pipeline on the bundled demo clinic, no accounts needed",
                "Run a day at the demo clinic (Lumière Aesthetics) through the real webhooks, with the SLA clock "
                "running, and print the cards, pages, nudges, replies and the digest. Needs no accounts and "
                "reads no environment: Slack and Twilio are played locally.", "")
    p.add_argument("--database", metavar="FILE", help="SQLite file for the demo (default: var/demo.db, recreated)")
    p.add_argument("--messenger", choices=("slack", "teams"), default="slack",
                   help="teams: also write the cards as Microsoft Teams draws them (Adaptive Cards), beside Block Kit")
    p.set_defaults(func=cmd_demo)

    p = command("check-config", "validate a clinic config without starting anything",
                "Load and validate a clinic config. Every problem names the file, the key and the line.",
                _epilog(ENV_CONFIG, example="triage-bot check-config clinic.yml"), parents=[with_config])
    p.add_argument("file", nargs="?", type=Path, metavar="FILE",
                   help="the config to check (default: --config, else $TRIAGE_CONFIG, else the demo clinic's)")
    p.set_defaults(func=cmd_check_config)

    p = command("classify", "classify JSON Lines (or CSV with a text column) from FILE or stdin",
                "Classify patient messages offline. Input: JSON Lines with a \"text\" field, or CSV with a "
                "text column (by the .csv suffix). Output: one JSON object per input line, with the category, "
                "confidence and the reasons; unreadable lines are reported on stderr. Reads no environment.",
                "example:\n  echo '{\"text\": \"is it safe to get botox while pregnant?\"}' | triage-bot classify")
    p.add_argument("file", nargs="?", type=Path, metavar="FILE", help="input file (default: stdin)")
    p.set_defaults(func=cmd_classify)

    p = command("backtest", "what the bot would have done with a clinic's past messages: a report",
                "Run a clinic's past messages through the bot's triage (nothing is stored or sent) and write a "
                "report: the category mix against the benchmark, how many the bot would have answered itself, "
                "the pages inside and outside business hours, and their first-response times against the SLA "
                "targets. Input: JSON Lines, or CSV by the .csv suffix, with text, channel, received_at and "
                "optionally first_response_at (ISO 8601; without an offset, the clinic's time). Writes "
                "report.html (self-contained), report.md and its PNG charts; never a message's text.",
                _epilog(ENV_CONFIG, example="triage-bot backtest --config clinic.yml november.jsonl"),
                parents=[with_config])
    p.add_argument("file", type=Path, metavar="FILE", help="the past messages (JSON Lines, or .csv)")
    p.add_argument("--output", type=Path, default=Path("backtest-report"), metavar="DIR",
                   help="directory for report.html, report.md and the charts (default: ./backtest-report)")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_backtest)

    patients = command("patients", "the embedded patient directory",
                       "Manage the patient directory kept in the bot's database.", "").add_subparsers(
        dest="patients_command", required=True, metavar="ACTION")
    p = patients.add_parser("import", help="add or update patients from a CSV file", formatter_class=formatter,
                            parents=[with_config],
                            description="Add or update patients from a CSV file (columns: id, name, phone, email, "
                                        "tier, lifetime_value, balance, last_visit, next_appointment, provider, "
                                        "language). Problems are listed per line; the exit code is 1 if any.",
                            epilog=_epilog(ENV_CONFIG, ENV_DATABASE))
    p.add_argument("file", type=Path, metavar="FILE.csv", help="the CSV export of the clinic's patients")
    p.set_defaults(func=cmd_patients_import)

    ticket = command("ticket", "look at tickets", "Look at tickets.", "").add_subparsers(
        dest="ticket_command", required=True, metavar="ACTION")
    p = ticket.add_parser("show", help="one ticket's timeline from the audit log", formatter_class=formatter,
                          parents=[with_config], description="Print one ticket's timeline from the audit log.",
                          epilog=_epilog(ENV_CONFIG, ENV_DATABASE))
    p.add_argument("id", type=int, metavar="ID", help="the ticket number (as on the card: #42 is 42)")
    p.set_defaults(func=cmd_ticket_show)

    outbox = command("outbox", "outbox items given up on (dead letters)",
                     "List the outbox items that failed after their last retry, and queue one again.",
                     "").add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    p = outbox.add_parser("list", help="list outbox items (--failed: the ones given up on)",
                          formatter_class=formatter, epilog=_epilog(ENV_DATABASE),
                          description="List the outbox items that failed after their last retry (dead letters): "
                                      "id, kind, ticket, tries and why, never a patient's details.")
    p.add_argument("--failed", action="store_true", required=True, help="the failed ones (the only list so far)")
    p.set_defaults(func=cmd_outbox_list)
    p = outbox.add_parser("retry", help="queue a failed outbox item again", formatter_class=formatter,
                          epilog=_epilog(ENV_DATABASE, example="triage-bot outbox retry 42"),
                          description="Put one failed outbox item back in the queue, due now, with its retries "
                                      "restored. A running `serve` delivers it.")
    p.add_argument("id", type=int, metavar="ID", help="the outbox item's id (from `outbox list --failed`)")
    p.set_defaults(func=cmd_outbox_retry)

    p = command("digest", "the managers' daily digest: print it, or post it (--post)",
                "Compute the managers' digest for a day and print it; --post posts it to the managers' channel "
                "instead (Slack when SLACK_BOT_TOKEN is set, else the console).",
                _epilog(ENV_CONFIG, ENV_DATABASE, ENV_SLACK), parents=[with_config])
    p.add_argument("--date", metavar="YYYY-MM-DD", help="the clinic's local date (default: today)")
    p.add_argument("--post", action="store_true", help="post to the managers' channel (Slack when configured)")
    p.add_argument("--chart", type=Path, metavar="FILE.png", help="also write the PNG chart to this file")
    p.set_defaults(func=cmd_digest)

    corrections = command("corrections", "staff reclassifications",
                          "Staff reclassifications, the bot's best training signal.", "").add_subparsers(
        dest="corrections_command", required=True, metavar="ACTION")
    p = corrections.add_parser("export", help="write them as labelled JSON Lines (the training data's format)",
                               formatter_class=formatter,
                               description="Write every staff reclassification as a labelled JSON Lines record.",
                               epilog=_epilog(ENV_DATABASE))
    p.add_argument("--output", type=Path, metavar="FILE", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_corrections_export)

    model = command("model", "the clinic's classifier: show it, retrain it from corrections, revert",
                    "Which classifier this clinic uses, and learning from staff corrections.", "").add_subparsers(
        dest="model_command", required=True, metavar="ACTION")
    p = model.add_parser("show", help="the model in use, its version, training size and evaluation figures",
                         formatter_class=formatter, description="Show the classifier this clinic uses.",
                         epilog=_epilog(ENV_DATABASE))
    p.set_defaults(func=lambda args: _model_cli().cmd_model_show(args))
    p = model.add_parser(
        "retrain", help="train on the shipped data plus staff corrections; install it only if no worse",
        formatter_class=formatter,
        description="Train a candidate on the shipped training data plus this clinic's staff corrections, score it "
                    "next to the model in use on a held-out fifth of the corrections, on each --eval file and on "
                    "the shipped adverse-event examples, and install it for this clinic only if it misses no "
                    "adverse event the model in use catches and its accuracy is not lower. Otherwise the model in "
                    "use is kept and the refusal recorded with why. Exit 0 installed, 1 refused, 2 bad input. The "
                    "adverse-event safety layer runs after any model.",
        epilog=_epilog(ENV_DATABASE, example="triage-bot model retrain --eval labelled.jsonl"))
    p.add_argument("--eval", type=Path, action="append", metavar="FILE",
                   help="labelled JSON Lines (text, category) to score both models on; repeatable")
    p.add_argument("--dry-run", action="store_true", help="evaluate only: install and record nothing")
    p.add_argument("--by", metavar="NAME", help="who is retraining, for the record (default: the login name)")
    p.set_defaults(func=lambda args: _model_cli().cmd_model_retrain(args))
    p = model.add_parser("revert", help="go back to the shipped model", formatter_class=formatter,
                         description="Retire the clinic's retrained model: the shipped one is used again.",
                         epilog=_epilog(ENV_DATABASE))
    p.add_argument("--by", metavar="NAME", help="who is reverting, for the record (default: the login name)")
    p.set_defaults(func=lambda args: _model_cli().cmd_model_revert(args))

    mail = command("mail", "patients' email from an IMAP or Microsoft 365 mailbox",
                   "Read patients' email from the clinic's IMAP mailbox or Microsoft 365 shared mailbox (`serve` "
                   "polls them on its own).",
                   "").add_subparsers(dest="mail_command", required=True, metavar="ACTION")
    p = mail.add_parser("poll", help="read the mailbox once and store the new emails", formatter_class=formatter,
                        description="Read the IMAP folder once, read-only (nothing is marked seen), and store every "
                                    "email not stored yet; prints how many were stored, already stored and skipped "
                                    "(automatic replies, the clinic's own address), never who or what. A running "
                                    "`serve` triages them.",
                        epilog=_epilog(ENV_DATABASE, ENV_IMAP, ENV_SMTP, ENV_GRAPH, example="triage-bot mail poll"))
    p.set_defaults(func=cmd_mail_poll)

    teams = command("teams", "Microsoft Teams set-up", "Set the bot up in Microsoft Teams.", "").add_subparsers(
        dest="teams_command", required=True, metavar="ACTION")
    p = teams.add_parser("package", help="build the Teams app package (zip) to upload in Teams admin",
                         formatter_class=formatter,
                         description="Build the Teams app package: a zip of manifest.json (checked against "
                                     "Microsoft's Teams manifest schema v1.24), color.png and outline.png, for "
                                     "Teams admin center > Teams apps > Manage apps > Upload new app. Rebuilding "
                                     "for the same app id gives the same Teams app id. Nothing is sent anywhere.",
                         epilog=_epilog(ENV_TEAMS_PACKAGE, example="triage-bot teams package --app-id "
                                        "00000000-0000-0000-0000-000000000000 --host triage.example.com"))
    p.add_argument("--app-id", metavar="ID", help="the bot's Microsoft app id, a GUID (default: $TEAMS_APP_ID)")
    p.add_argument("--host", metavar="HOST",
                   help="the bot's public host name, e.g. triage.example.com (default: $TRIAGE_PUBLIC_HOST)")
    p.add_argument("--out", type=Path, default=DEFAULT_TEAMS_PACKAGE, metavar="PATH",
                   help=f"the zip to write (default: ./{DEFAULT_TEAMS_PACKAGE})")
    p.add_argument("--name", metavar="NAME", help="the app's short name in Teams, up to 30 characters "
                                                  "(default: Triage)")
    p.set_defaults(func=cmd_teams_package)
    return top


def _model_cli() -> Any:
    from handlers import model_cli  # scikit-learn and the model: loaded only for `model`

    return model_cli


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except Exception as exc:
        from bot.storage.db import SchemaNotCurrent

        if not isinstance(exc, SchemaNotCurrent):
            raise
        print(f"triage-bot {args.command}: {exc}", file=sys.stderr)  # one line: what to run
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
