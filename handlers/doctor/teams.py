"""Microsoft Teams: the bot's app signs in (a Bot Connector token), and where it may post — the role channels and
staff's personal chats it has learnt (the `chat_places` table; the bot learns them when the app is installed).

Nothing is posted. The Microsoft packages (the `microsoft` extra) are imported only when Teams is configured.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.clock import SystemClock
from bot.config.models import ClinicConfig
from bot.domain import Role
from bot.outbox.errors import DeliveryError
from bot.places import Place
from bot.storage.db import Database
from bot.storage.models import ChatPlaceRow
from bot.storage.places import DbPlaces
from handlers.doctor.database import shown_url
from handlers.doctor.report import Check, Status, fail, ok, skip
from integrations.teams.settings import TeamsSettings

NAME = "Teams"
PLATFORM = "teams"
INSTALL_EXTRA = "pip install 'medspa-triage-bot[microsoft]'"
INSTALL_APP = "add the app to the clinic's team; the bot learns its channels then"
TABLE = ChatPlaceRow.__tablename__


def missing_packages() -> Check | None:
    """A fail line when the Teams SDK `serve` needs is not installed, else None."""
    try:
        found = importlib.util.find_spec("microsoft_teams") is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return fail(NAME, f"TEAMS_APP_ID is set but the Microsoft packages are not installed (microsoft_teams) — "
                      f"{INSTALL_EXTRA}")


def check_teams(settings: TeamsSettings | None, config: ClinicConfig | None, *,
                database_url: str | None = None) -> list[Check]:
    if settings is None:
        return [skip(NAME, "not configured (set TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID to the bot's "
                           "Microsoft app to post in Microsoft Teams)")]
    checks: list[Check] = []
    packages = missing_packages()
    if packages is not None:
        checks.append(packages)
    signed_in = _sign_in(settings)
    checks.append(signed_in)
    if signed_in.status is not Status.OK:
        return checks  # no place checks for an app that cannot sign in: fix that first
    if config is not None and database_url is not None:
        checks += check_places(config, database_url)
    return checks


def _sign_in(settings: TeamsSettings) -> Check:
    try:
        from integrations.teams.token import BOT_SCOPE, ClientCredentialsToken
    except ImportError as exc:
        return fail(NAME, f"TEAMS_APP_ID is set but the Microsoft packages are not installed ({exc.name}) — "
                          f"{INSTALL_EXTRA}")
    try:
        token = ClientCredentialsToken.from_settings(settings)
        asyncio.run(token(BOT_SCOPE, None))
    except DeliveryError as exc:
        reason = exc.reason
        if exc.transient and "unreachable" in reason:
            reason += " — check the network, or TEAMS_TOKEN_URL"
        elif exc.transient:
            reason += " — try again in a minute"
        return fail(NAME, reason)
    except ValueError as exc:  # a token URL that is not https (TeamsSettings checks it too)
        return fail(NAME, str(exc))
    tenant = settings.tenant_id or f"multi-tenant, via {settings.bot_token_tenant}"
    return ok(NAME, f"app {settings.app_id} signs in (tenant {tenant})")


def _shown(place: Place) -> str:
    channel = place.channel_name or place.conversation
    return f"{place.team_name}/{channel}" if place.team_name else channel


def _database_missing(url: str) -> bool:
    """An SQLite file not created yet (opening it would create it: doctor looks, it does not create)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    return file not in (None, "", ":memory:") and not Path(str(file)).exists()


def check_places(config: ClinicConfig, database_url: str) -> list[Check]:
    """Each role channel resolves to a channel the bot learnt, and how many staff have a personal chat known."""
    where = shown_url(database_url)
    if _database_missing(database_url):
        return [fail(NAME, f"no Teams channels known yet ({where} does not exist yet): the app has not been "
                           f"installed in a team yet — {INSTALL_APP}")]
    try:
        db = Database(database_url, migrate=False)
    except (SQLAlchemyError, ArgumentError, ImportError) as exc:
        return [fail(NAME, f"cannot read the Teams channels the bot knows from {where} ({type(exc).__name__}) — "
                           "check TRIAGE_DATABASE_URL")]
    try:
        return _places(config, db)
    except SQLAlchemyError as exc:
        return [fail(NAME, f"cannot read the Teams channels the bot knows from {where} ({type(exc).__name__}) — "
                           "check TRIAGE_DATABASE_URL and that the database server is running")]
    finally:
        db.dispose()


def _places(config: ClinicConfig, db: Database) -> list[Check]:
    if not inspect(db.engine).has_table(TABLE):
        return [fail(NAME, f"no Teams channels known yet (no {TABLE} table: the schema is older than this version's "
                           f"— `triage-bot serve` upgrades it): the app has not been installed in a team yet — "
                           f"{INSTALL_APP}")]
    with db.read() as session:
        channels = session.scalar(select(func.count()).select_from(ChatPlaceRow).where(
            ChatPlaceRow.platform == PLATFORM, ChatPlaceRow.kind == "channel")) or 0
    if not channels:
        return [fail(NAME, f"no Teams channels known yet: the app has not been installed in a team yet — "
                           f"{INSTALL_APP}")]
    places = DbPlaces(db, SystemClock())
    wanted: dict[str, list[Role]] = {}  # channel as configured -> the roles posting there
    for role in Role:
        wanted.setdefault(config.channels.for_role(role).strip(), []).append(role)
    found: list[str] = []
    checks: list[Check] = []
    for channel, roles in wanted.items():
        keys = " and ".join(f"channels.{role.value}" for role in roles)
        place = places.channel(PLATFORM, channel)
        if place is not None:
            found += [f"{role.value.replace('_', ' ')} → {_shown(place)}" for role in roles]
            continue
        candidates = places.channels_named(PLATFORM, channel)
        if len({p.team for p in candidates}) > 1:
            teams = ", ".join(sorted({p.team_name or p.team or "?" for p in candidates}))
            checks.append(fail(NAME, f"more than one team has a channel named {channel} ({teams}; {keys} in the "
                                     f"config) — name it as 'Team/Channel' or by id in {keys}"))
        else:
            checks.append(fail(NAME, f"no Teams channel named {channel} is known ({keys} in the config) — create it "
                                     "in the team (the bot learns it then), or name it as 'Team/Channel' or by id "
                                     f"in {keys}"))
    if found:
        checks.insert(0, ok(NAME, f"the bot may post in {', '.join(found)}"))
    checks.append(_personal_chats(config, places))
    return checks


def _personal_chats(config: ClinicConfig, places: DbPlaces) -> Check:
    people = [member for member in config.staff if member.teams_user]
    if not people:
        return skip(NAME, "no staff have a teams_user (their Entra object id), so none are mentioned or paged in "
                          "Teams")
    without = [member.id for member in people if places.personal(PLATFORM, member.teams_user) is None]
    known = len(people) - len(without)
    text = f"a personal chat is known with {known} of {len(people)} staff with a teams_user"
    if without:
        text += (f"; not yet with {', '.join(without)}: they get pages in Teams only after the bot opens a chat with "
                 "them, which needs the app installed for them")
    return ok(NAME, text)
