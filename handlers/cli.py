"""`triage-bot`: the console command. Each subcommand parses its arguments and calls one flow."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config.loader import ConfigError, load_config
from bot.config.models import ClinicConfig
from bot.settings import TriageSettings

DEMO_DIR = Path(__file__).resolve().parents[1] / "bot" / "demo"
DEMO_CONFIG = DEMO_DIR / "clinic.yml"


def config_path(given: Path | None, settings: TriageSettings) -> Path:
    """--config, else TRIAGE_CONFIG, else the bundled demo clinic."""
    return given or settings.config or DEMO_CONFIG


def load_or_exit(path: Path) -> ClinicConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    path = config_path(args.file or args.config, TriageSettings())
    config = load_or_exit(path)
    print(f"{path}: OK — {config.clinic.name} ({config.clinic.timezone}), {len(config.staff)} staff, "
          f"{len(config.faq)} FAQ answers, SLA minutes {config.sla_minutes.model_dump()}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from handlers.classify_cli import run

    return run(args.file)


def cmd_serve(args: argparse.Namespace) -> int:
    from handlers.serve import serve

    settings = TriageSettings()
    return serve(settings, load_or_exit(config_path(args.config, settings)))


def cmd_demo(args: argparse.Namespace) -> int:
    from handlers.demo import run_demo

    return run_demo(Path(args.database) if args.database else None)


def cmd_patients_import(args: argparse.Namespace) -> int:
    from bot.match.importer import import_patients
    from bot.storage.db import Database

    settings = TriageSettings()
    config = load_or_exit(config_path(args.config, settings))
    if not args.file.exists():
        print(f"{args.file}: file not found", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    with db.transaction() as session:
        report = import_patients(session, args.file, config.clinic.tz)
    for error in report.errors:
        print(error, file=sys.stderr)
    print(f"patients: {report.added} added, {report.updated} updated, {len(report.errors)} problem(s)")
    return 1 if report.errors else 0


def cmd_ticket_show(args: argparse.Namespace) -> int:
    from bot.storage.db import Database
    from bot.tickets.timeline import timeline

    settings = TriageSettings()
    config = load_or_exit(config_path(args.config, settings))
    db = Database(settings.database_url)
    with db.transaction() as session:
        lines = timeline(session, args.id, config)
    if lines is None:
        print(f"no ticket #{args.id} in {settings.database_url}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def cmd_corrections_export(args: argparse.Namespace) -> int:
    import json

    from bot.storage.db import Database
    from bot.tickets.corrections import corrections

    db = Database(TriageSettings().database_url)
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
        from handlers.runtime import runtime
        from integrations.slack.settings import SlackSettings

        service, _ = runtime(settings, config, SlackSettings())
        digest = Jobs(service).digest(day)
        service.run_outbox()
        print(digest_text(digest, config))
        print(f"posted to #{config.channels.managers}", file=sys.stderr)
        return 0
    from bot.clock import SystemClock

    now = SystemClock().now()
    db = Database(settings.database_url)
    with db.transaction() as session:
        digest = compute_digest(session, config, day or now.astimezone(config.clinic.tz).date(), now)
    print(digest_text(digest, config))
    if args.chart:
        args.chart.write_bytes(digest_chart(digest))
        print(f"chart written to {args.chart}", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="triage-bot", description="Patient-message triage bot for medical spas")
    top.add_argument("--config", type=Path, help="clinic config YAML (default: $TRIAGE_CONFIG or the demo clinic)")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the intake webhooks, chat app and scheduler")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="run the whole pipeline on the bundled demo clinic, no accounts needed")
    p.add_argument("--database", help="SQLite file for the demo (default: var/demo.db, recreated)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check-config", help="validate a clinic config without starting anything")
    p.add_argument("file", nargs="?", type=Path)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("classify", help="classify JSON Lines (or CSV with a text column) from FILE or stdin")
    p.add_argument("file", nargs="?", type=Path)
    p.set_defaults(func=cmd_classify)

    patients = sub.add_parser("patients", help="the embedded patient directory").add_subparsers(
        dest="patients_command", required=True
    )
    p = patients.add_parser("import", help="add or update patients from a CSV file")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_patients_import)

    ticket = sub.add_parser("ticket", help="look at tickets").add_subparsers(dest="ticket_command", required=True)
    p = ticket.add_parser("show", help="one ticket's timeline from the audit log")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_ticket_show)

    p = sub.add_parser("digest", help="the managers' daily digest: print it, or post it (--post)")
    p.add_argument("--date", help="local date YYYY-MM-DD (default: today)")
    p.add_argument("--post", action="store_true", help="post to the managers' channel (Slack when configured)")
    p.add_argument("--chart", type=Path, help="also write the PNG chart to this file")
    p.set_defaults(func=cmd_digest)

    corrections = sub.add_parser("corrections", help="staff reclassifications").add_subparsers(
        dest="corrections_command", required=True
    )
    p = corrections.add_parser("export", help="write them as labelled JSON Lines (the training data's format)")
    p.add_argument("--output", type=Path, help="file to write (default: stdout)")
    p.set_defaults(func=cmd_corrections_export)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
