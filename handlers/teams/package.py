"""The Teams app package: a zip of manifest.json, color.png (192x192) and outline.png (32x32, white on transparent)
that an admin uploads in Teams admin center > Teams apps > Manage apps > Upload new app.

The manifest is checked against Microsoft's published schema (v1.24, vendored unchanged with the icons in
integrations/teams/manifest/, see SCHEMA-SOURCE.md there) before anything is written. Only json, zipfile and
jsonschema here: no Teams SDK, no network.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

MANIFEST_VERSION = "1.24"
SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
SCHEMA_FILE = "MicrosoftTeams.schema.json"
ICONS = {"color.png": (192, 192), "outline.png": (32, 32)}  # name in the zip (and beside the schema): width, height
DEFAULT_OUT = Path("triage-teams-app.zip")
PROJECT = "medspa-triage-bot"
FALLBACK_VERSION = "0.1.0"
ACCENT_COLOR = "#0F766E"  # the colour icon's teal
DEFAULT_DEVELOPER = "Medspa Triage Bot"
# The package id is derived from the bot's app id, so a rebuilt package updates the app Teams already has.
PACKAGE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:medspa-triage-bot:teams-app-package")

# Stricter than the v1.24 schema (which allows 128 and 4000): the limits Microsoft documents for bot commands.
COMMAND_TITLE_MAX = 32
COMMAND_DESCRIPTION_MAX = 128

COMMANDS: tuple[tuple[str, str], ...] = (
    ("queue", "The open queue and your tickets"),
    ("mine", "Your claimed tickets, with the open queue"),
    ("oncall", "Who is on call now"),
    ("oncall set", "Override the rota: oncall set @someone until tomorrow 8am"),
    ("oncall clear", "End the override: back to the rota"),
    ("digest", "Today's digest so far, posted to the managers"),
    ("help", "What the bot understands"),
)
SCOPES = ("team", "personal")

SHORT_DESCRIPTION = "Patient messages triaged into your clinic's queue, with on-call and a digest"  # <= 80
FULL_DESCRIPTION = (
    "Triage sorts the clinic's incoming patient messages (SMS, web form and email) by what they need: routine "
    "questions are answered, and the rest are posted as cards to the right team's channel, where staff claim, "
    "answer and close them. Urgent ones page the person on call, and tickets nobody picks up in time are nudged. "
    "Message the bot (or mention it in a channel) for the open queue and your tickets (queue, mine), who is on "
    "call (oncall, oncall set, oncall clear), today's digest for the managers (digest) and help."
)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def manifest_files() -> Traversable:
    """The vendored schema and the icons (integrations/teams/manifest/, shipped as package data)."""
    return resources.files("integrations.teams").joinpath("manifest")


def check_app_id(app_id: str) -> str:
    app_id = app_id.strip()
    if not _GUID.match(app_id):
        raise ValueError(f"app id {app_id!r} is not a GUID (the bot's Microsoft app id, as in "
                         "00000000-0000-0000-0000-000000000000: the Azure Bot's Microsoft App ID)")
    return app_id.lower()


def check_host(host: str) -> str:
    """A bare DNS host name (triage.example.com): no scheme, port, path or trailing dot."""
    given = host
    host = host.strip().lower()
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"host {given!r} is not a bare host name: give it as triage.example.com (no https://, "
                         "port or path)")
    return host


def check_https(what: str, url: str) -> str:
    if not re.match(r"^https://[^/\s?#]+(?:[/?#]\S*)?$", url):
        raise ValueError(f"{what} {url!r} must be an https:// URL")
    return url


def project_version() -> str:
    try:
        return metadata.version(PROJECT)
    except metadata.PackageNotFoundError:
        return FALLBACK_VERSION


def package_id(app_id: str) -> str:
    """The Teams app's own id: a UUID derived from the bot's app id (the same for every rebuild)."""
    return str(uuid.uuid5(PACKAGE_NAMESPACE, check_app_id(app_id)))


def _command_lists() -> list[dict[str, Any]]:
    commands = [{"title": title, "description": description} for title, description in COMMANDS]
    return [{"scopes": [scope], "commands": [dict(c) for c in commands]} for scope in SCOPES]


def build_manifest(app_id: str, *, host: str, name: str = "Triage", full_name: str | None = None,
                   version: str | None = None, developer_name: str = DEFAULT_DEVELOPER,
                   website_url: str | None = None, privacy_url: str | None = None, terms_url: str | None = None,
                   accent_color: str = ACCENT_COLOR) -> dict[str, Any]:
    """The manifest for the bot with this Microsoft app id, served at https://{host}/teams/messages.

    ValueError for an app id that is not a GUID, a host that is not a bare host name, a developer URL that is
    not https, or a name longer than Teams allows. The developer URLs default to pages on the bot's host."""
    bot_id = check_app_id(app_id)
    host = check_host(host)
    name = name.strip()
    if not name or len(name) > 30:
        raise ValueError(f"name {name!r} must be 1 to 30 characters (Teams' short app name)")
    full = (full_name or f"{name}: patient-message triage").strip()
    if len(full) > 100:
        raise ValueError(f"full name {full!r} is longer than 100 characters")
    if not developer_name.strip() or len(developer_name) > 32:
        raise ValueError(f"developer name {developer_name!r} must be 1 to 32 characters")
    base = f"https://{host}"
    developer = {
        "name": developer_name.strip(),
        "websiteUrl": check_https("developer website URL", website_url or f"{base}/"),
        "privacyUrl": check_https("privacy URL", privacy_url or f"{base}/privacy"),
        "termsOfUseUrl": check_https("terms of use URL", terms_url or f"{base}/terms"),
    }
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version or project_version(),
        "id": package_id(bot_id),
        "developer": developer,
        "name": {"short": name, "full": full},
        "description": {"short": SHORT_DESCRIPTION, "full": FULL_DESCRIPTION},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": accent_color,
        "bots": [{
            "botId": bot_id,
            "scopes": list(SCOPES),
            "isNotificationOnly": False,
            "supportsFiles": False,
            "commandLists": _command_lists(),
        }],
        "validDomains": [host],
    }


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(manifest_files().joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
    return loaded


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _limit_problems(manifest: Mapping[str, Any]) -> Iterator[str]:
    """Microsoft's documented limits for bot commands, stricter than the schema's."""
    bots = manifest.get("bots")
    for b, bot in enumerate(bots if isinstance(bots, list) else []):
        lists = bot.get("commandLists") if isinstance(bot, dict) else None
        for c, command_list in enumerate(lists if isinstance(lists, list) else []):
            commands = command_list.get("commands") if isinstance(command_list, dict) else None
            for i, command in enumerate(commands if isinstance(commands, list) else []):
                if not isinstance(command, dict):
                    continue
                for key, limit in (("title", COMMAND_TITLE_MAX), ("description", COMMAND_DESCRIPTION_MAX)):
                    value = command.get(key)
                    if isinstance(value, str) and len(value) > limit:
                        yield (f"$.bots[{b}].commandLists[{c}].commands[{i}].{key}: {_shown(value)} is "
                               f"{len(value)} characters; Teams allows {limit} for a bot command {key}")


def validate_manifest(manifest: Mapping[str, Any]) -> list[str]:
    """Problems with the manifest, one line each led by its JSON path: Microsoft's v1.24 schema (Draft-07
    validator: the schema says draft-04 but uses `const`), then the documented bot command limits. [] when valid."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    problems = []
    try:
        errors = sorted(validator.iter_errors(manifest), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    except re.error as exc:  # a \p{L} pattern (Office add-in extensions): Python's re cannot apply it
        return [f"$: a pattern in the schema could not be applied ({exc}); this manifest uses parts of the schema "
                "that cannot be checked here"]
    for error in errors:
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        problems.append(f"{error.json_path}: {message}")
    problems.extend(_limit_problems(manifest))
    return problems


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def build_package(out: Path, app_id: str, host: str, **options: Any) -> Path:
    """Write the zip (manifest.json, color.png, outline.png at its root) to `out` (a directory: the default
    file name in it) and return its path. `options` go to `build_manifest`. ValueError, before anything is
    written, when an argument is wrong or the manifest does not pass `validate_manifest`."""
    manifest = build_manifest(app_id, host=host, **options)
    problems = validate_manifest(manifest)
    if problems:
        raise ValueError("the manifest does not pass Microsoft's Teams schema v"
                         f"{MANIFEST_VERSION}: " + "; ".join(problems))
    icons = {}
    for icon, size in ICONS.items():
        data = manifest_files().joinpath(icon).read_bytes()
        if png_size(data) != size:
            raise ValueError(f"{icon} is {png_size(data)[0]}x{png_size(data)[1]}, Teams needs {size[0]}x{size[1]}")
        icons[icon] = data
    out = out / DEFAULT_OUT.name if out.is_dir() else out
    files = {"manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(), **icons}
    fd, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for file_name, data in files.items():
                entry = zipfile.ZipInfo(file_name, date_time=(1980, 1, 1, 0, 0, 0))  # the same bytes every build
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o644 << 16
                archive.writestr(entry, data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out
