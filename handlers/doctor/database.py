"""The database: reachable, and its schema at the migrations' head. Nothing is created or upgraded here."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.storage.db import current_revisions, head_revisions, make_engine
from handlers.doctor.report import Check, fail, ok, skip

__all__ = ["check_database", "current_revisions", "head_revisions", "shown_url"]

NAME = "Database"
HOW_TO_MIGRATE = "`triage-bot serve` upgrades the schema when it starts"


def shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def check_database(url: str) -> Check:
    where = shown_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return fail(NAME, f"TRIAGE_DATABASE_URL is not a database URL ({where}) — use e.g. "
                          "sqlite:///var/triage.db or postgresql+psycopg://user:pass@host/db")
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).exists():
        return skip(NAME, f"{where} does not exist yet — {HOW_TO_MIGRATE} and creates it")
    try:
        engine = make_engine(url)
    except (SQLAlchemyError, ImportError) as exc:
        return fail(NAME, f"cannot use {where} ({type(exc).__name__}) — check TRIAGE_DATABASE_URL and that "
                          "its driver is installed")
    try:
        current = current_revisions(engine)
        heads = head_revisions(engine)
    except SQLAlchemyError as exc:
        return fail(NAME, f"cannot connect to {where} ({type(exc).__name__}) — check TRIAGE_DATABASE_URL "
                          "and that the database server is running")
    finally:
        engine.dispose()
    at = ", ".join(sorted(heads))
    if current == heads:
        return ok(NAME, f"{where} reachable, migrations at head ({at})")
    if not current:
        return skip(NAME, f"{where} reachable, no schema yet — {HOW_TO_MIGRATE}")
    return fail(NAME, f"{where} schema at {', '.join(sorted(current))}, this version needs {at} — "
                      f"{HOW_TO_MIGRATE} (back up the database first)")
