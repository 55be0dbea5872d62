"""`triage-bot teams package`: a zip Teams admin accepts, its manifest checked against Microsoft's v1.24 schema."""

from __future__ import annotations

import ast
import copy
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import matplotlib.image
import pytest

from handlers.teams.package import (
    COMMAND_DESCRIPTION_MAX,
    COMMAND_TITLE_MAX,
    SCHEMA_URL,
    build_manifest,
    build_package,
    package_id,
    project_version,
    validate_manifest,
)

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_DIR = ROOT / "integrations" / "teams" / "manifest"
APP_ID = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
HOST = "triage.example-clinic.com"
COMMANDS = ["queue", "mine", "oncall", "oncall set", "oncall clear", "digest", "help"]


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MANIFEST_DIR / "MicrosoftTeams.schema.json").read_text(encoding="utf-8"))
    return loaded


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_manifest_is_valid_against_microsofts_schema() -> None:
    manifest = build_manifest(APP_ID, host=HOST)
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft7Validator(schema()).iter_errors(manifest)]
    assert errors == []
    assert validate_manifest(manifest) == []
    assert manifest["manifestVersion"] == "1.24" and manifest["$schema"] == SCHEMA_URL
    assert manifest["version"] == project_version()
    assert manifest["validDomains"] == [HOST]
    assert "webApplicationInfo" not in manifest and "authorization" not in manifest  # neither is needed
    assert all(url.startswith(f"https://{HOST}/") for key, url in manifest["developer"].items() if key != "name")
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID and bot["scopes"] == ["team", "personal"]
    assert bot["isNotificationOnly"] is False and bot["supportsFiles"] is False
    assert {tuple(lst["scopes"]) for lst in bot["commandLists"]} == {("team",), ("personal",)}
    for command_list in bot["commandLists"]:
        assert [c["title"] for c in command_list["commands"]] == COMMANDS
        for command in command_list["commands"]:  # Microsoft's documented limits, tighter than the schema's
            assert len(command["title"]) <= COMMAND_TITLE_MAX and len(command["description"]) <= COMMAND_DESCRIPTION_MAX
    queue = bot["commandLists"][0]["commands"][0]
    assert queue["description"] == "The open queue and your tickets"


def test_options_reach_the_manifest() -> None:
    manifest = build_manifest(APP_ID.upper(), host="Triage.Example.com", name="Glow Triage", version="2.3.4",
                              developer_name="Glow Med Spa", privacy_url="https://glow.example/privacy")
    assert manifest["bots"][0]["botId"] == APP_ID  # a GUID in either case is the same bot
    assert manifest["name"]["short"] == "Glow Triage" and manifest["version"] == "2.3.4"
    assert manifest["developer"]["name"] == "Glow Med Spa"
    assert manifest["developer"]["privacyUrl"] == "https://glow.example/privacy"
    assert manifest["validDomains"] == ["triage.example.com"]
    assert validate_manifest(manifest) == []


def _set(manifest: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = manifest
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(last) if last.isdigit() else last] = value


@pytest.mark.parametrize(("path", "value", "reported"), [
    ("bots.0.commandLists.0.commands.0.title", "q" * 129, "$.bots[0].commandLists[0].commands[0].title"),
    ("bots.0.commandLists.1.commands.2.title", "who is on call at the clinic now?", "32 for a bot command title"),
    ("bots.0.commandLists.0.commands.3.description", "d" * 129, "128 for a bot command description"),
    ("bots.0.botId", "not-a-guid", "$.bots[0].botId: 'not-a-guid' does not match"),
    ("manifestVersion", "1.23", "$.manifestVersion: '1.24' was expected"),
    ("developer.privacyUrl", "ftp://example.com/privacy", "$.developer.privacyUrl"),
    ("name.short", "A name far longer than thirty characters", "$.name.short"),
    ("accentColor", "teal", "$.accentColor"),
    ("bots.0.scopes", ["team", "everywhere"], "$.bots[0].scopes[1]"),
    ("bots.0.notAKey", True, "'notAKey' was unexpected"),
])
def test_a_broken_manifest_is_reported_with_its_path(path: str, value: Any, reported: str) -> None:
    manifest = copy.deepcopy(build_manifest(APP_ID, host=HOST))
    _set(manifest, path, value)
    problems = validate_manifest(manifest)
    assert any(reported in problem for problem in problems), problems
    assert all(problem.startswith("$") for problem in problems)


def test_a_missing_required_field_is_reported() -> None:
    manifest = build_manifest(APP_ID, host=HOST)
    del manifest["developer"]["termsOfUseUrl"], manifest["icons"]
    problems = validate_manifest(manifest)
    assert "$: 'icons' is a required property" in problems
    assert "$.developer: 'termsOfUseUrl' is a required property" in problems


@pytest.mark.parametrize("app_id", ["", "nope", "6f1c2a9e3b4d4e5f8a7b9c0d1e2f3a4b",
                                    "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4", "{6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b}"])
def test_an_app_id_that_is_not_a_guid_is_refused(app_id: str) -> None:
    with pytest.raises(ValueError, match="is not a GUID"):
        build_manifest(app_id, host=HOST)


@pytest.mark.parametrize("host", ["", "https://triage.example.com", "triage.example.com/teams/messages",
                                  "triage.example.com:443", "triage example.com", "-triage.example.com",
                                  "triage.example.com.", "user@triage.example.com"])
def test_a_host_that_is_not_a_bare_host_name_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="is not a bare host name"):
        build_manifest(APP_ID, host=host)


def test_developer_urls_must_be_https_and_the_name_must_fit() -> None:
    with pytest.raises(ValueError, match="must be an https:// URL"):
        build_manifest(APP_ID, host=HOST, terms_url="http://example.com/terms")
    with pytest.raises(ValueError, match="1 to 30 characters"):
        build_manifest(APP_ID, host=HOST, name="A name far longer than thirty characters")


def test_the_zip_holds_the_manifest_and_both_icons_at_its_root(tmp_path: Path) -> None:
    out = build_package(tmp_path / "app.zip", APP_ID, HOST)
    assert out == tmp_path / "app.zip"
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color, outline = archive.read("color.png"), archive.read("outline.png")
    assert manifest == build_manifest(APP_ID, host=HOST)
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert png_size(color) == (192, 192) and png_size(outline) == (32, 32)
    pixels = matplotlib.image.imread(io.BytesIO(outline), format="png")
    seen = pixels[..., 3] > 0
    assert seen.any() and (pixels[seen][:, :3] == 1).all()  # white on transparent
    assert (pixels[0, :, 3] == 0).all() and (pixels[:, 0, 3] == 0).all()
    assert (matplotlib.image.imread(io.BytesIO(color), format="png")[96, 96, 3] == 1)  # full colour, opaque


def test_the_package_id_is_stable_across_builds(tmp_path: Path) -> None:
    first = build_package(tmp_path / "first.zip", APP_ID, HOST)
    second = build_package(tmp_path / "second.zip", APP_ID.upper(), HOST)
    ids = [json.loads(zipfile.ZipFile(path).read("manifest.json"))["id"] for path in (first, second)]
    assert ids[0] == ids[1] == package_id(APP_ID) != APP_ID
    assert first.read_bytes() == second.read_bytes()  # the same bytes too: rebuilding changes nothing
    assert package_id("00000000-0000-0000-0000-000000000001") != ids[0]


def test_a_directory_as_out_gets_the_default_file_name(tmp_path: Path) -> None:
    assert build_package(tmp_path, APP_ID, HOST) == tmp_path / "triage-teams-app.zip"


def test_nothing_is_written_for_a_bad_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        build_package(tmp_path / "app.zip", "nope", HOST)
    assert list(tmp_path.iterdir()) == []


def test_the_packager_imports_no_teams_sdk() -> None:
    tree = ast.parse((ROOT / "handlers" / "teams" / "package.py").read_text(encoding="utf-8"))
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert roots <= {"__future__", "collections", "functools", "importlib", "json", "jsonschema", "os", "pathlib",
                     "re", "struct", "tempfile", "typing", "uuid", "zipfile"}


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("TEAMS_APP_ID", "TRIAGE_PUBLIC_HOST")}
    environ["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "handlers.cli", "teams", "package", *args], cwd=cwd,
                          env=environ | env, capture_output=True, text=True, timeout=120)


def test_the_cli_writes_the_zip_and_says_what_to_do_next(tmp_path: Path) -> None:
    done = run_cli(cwd=tmp_path, TEAMS_APP_ID=APP_ID, TRIAGE_PUBLIC_HOST=HOST)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "triage-teams-app.zip"
    assert done.stdout.startswith("triage-teams-app.zip: ")
    assert "Teams admin center > Teams apps > Manage apps > Upload new app" in done.stdout
    assert f"https://{HOST}/teams/messages" in done.stdout
    assert json.loads(zipfile.ZipFile(out).read("manifest.json"))["bots"][0]["botId"] == APP_ID

    done = run_cli("--app-id", APP_ID, "--host", HOST, "--out", str(tmp_path / "glow.zip"), "--name", "Glow",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(zipfile.ZipFile(tmp_path / "glow.zip").read("manifest.json"))["name"]["short"] == "Glow"


def test_the_cli_without_an_app_id_exits_2_naming_the_flag_and_variable(tmp_path: Path) -> None:
    done = run_cli("--host", HOST, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("triage-bot teams package: needs an app id (pass --app-id ID or set TEAMS_APP_ID)\n")
    assert list(tmp_path.iterdir()) == []
    done = run_cli(cwd=tmp_path, TEAMS_APP_ID=APP_ID)
    assert done.returncode == 2 and "TRIAGE_PUBLIC_HOST" in done.stderr and "--host" in done.stderr


def test_the_cli_refuses_a_url_for_a_host_in_one_line(tmp_path: Path) -> None:
    done = run_cli("--app-id", APP_ID, "--host", f"https://{HOST}/", cwd=tmp_path)
    assert done.returncode == 2
    # The last line: importing handlers.teams imports the Teams SDK, which may print its own warnings first.
    assert done.stderr.splitlines()[-1].startswith(f"triage-bot teams package: host 'https://{HOST}/' is not a "
                                                   "bare host name")
    assert not (tmp_path / "triage-teams-app.zip").exists()
