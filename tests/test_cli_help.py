"""The admin's first hour: every command explains itself, and `serve` never runs the demo clinic by mistake."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.cli import DEMO_CONFIG, main, parser
from tests.conftest import HERE
from tests.dburl import db_url

README = HERE.parent / "README.md"


Parsers = dict[tuple[str, ...], argparse.ArgumentParser]


def commands(top: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Parsers:
    """Every runnable (leaf) command's parser, by its words: ("patients", "import"), ("serve",), ..."""
    found: Parsers = {}
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found |= commands(child, (*prefix, name)) or {(*prefix, name): child}
    return found


def help_of(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_every_command_and_argument_is_described() -> None:
    leaves = commands(parser())
    assert {("serve",), ("doctor",), ("demo",), ("check-config",), ("classify",), ("digest",),
            ("patients", "import"), ("ticket", "show"), ("corrections", "export")} <= set(leaves)
    for words, command in leaves.items():
        assert command.description, words
        for action in command._actions:
            assert action.help and action.help != argparse.SUPPRESS, (words, action.dest)


@pytest.mark.parametrize(("words", "variables"), [
    (("serve",), ["TRIAGE_CONFIG", "TRIAGE_HOST", "TRIAGE_PORT", "TRIAGE_DATABASE_URL", "TRIAGE_PUBLIC_URL",
                  "TRIAGE_WEB_FORM_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN",
                  "SLACK_API_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_API_URL",
                  "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_SENDER", "SMTP_STARTTLS"]),
    (("doctor",), ["TRIAGE_CONFIG", "TRIAGE_DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_API_URL", "TWILIO_API_URL",
                   "TWILIO_FROM_NUMBER", "SMTP_HOST"]),
    (("digest",), ["TRIAGE_CONFIG", "TRIAGE_DATABASE_URL", "SLACK_BOT_TOKEN"]),
    (("check-config",), ["TRIAGE_CONFIG"]),
    (("ticket", "show"), ["TRIAGE_DATABASE_URL", "TRIAGE_CONFIG"]),
    (("patients", "import"), ["TRIAGE_DATABASE_URL"]),
    (("corrections", "export"), ["TRIAGE_DATABASE_URL"]),
])
def test_help_names_the_environment_each_command_reads(capsys: pytest.CaptureFixture[str], words: tuple[str, ...],
                                                       variables: list[str]) -> None:
    text = help_of(capsys, *words)
    assert "environment:" in text
    missing = [name for name in variables if name not in text]
    assert missing == []


def test_help_describes_the_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--demo" in help_of(capsys, "serve") and "serve the bundled demo clinic" in help_of(capsys, "serve")
    digest = help_of(capsys, "digest")
    assert "--date YYYY-MM-DD" in digest and "--chart FILE.png" in digest and "--post" in digest
    classify = help_of(capsys, "classify")
    assert "input file (default: stdin)" in classify and "JSON Lines" in classify
    assert "the ticket number" in help_of(capsys, "ticket", "show")
    top = help_of(capsys)
    assert "doctor" in top and "triage-bot COMMAND --help" in top


def test_readme_documents_host_port_and_doctor() -> None:
    text = README.read_text(encoding="utf-8")
    assert "`TRIAGE_HOST`" in text and "`TRIAGE_PORT`" in text
    assert "triage-bot doctor" in text


SERVE_HINT = ("pass --config FILE or set TRIAGE_CONFIG=FILE (start from bot/demo/clinic.yml), or run "
              "`triage-bot serve --demo` to serve the demo clinic")


@pytest.fixture
def no_config_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("TRIAGE_CONFIG", raising=False)
    # Should serve ever get past its refusal here, it finds its port taken and stops instead of blocking the run.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    monkeypatch.setenv("TRIAGE_PORT", str(taken.getsockname()[1]))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", db_url(tmp_path))
    for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    yield monkeypatch
    taken.close()


def test_serve_without_a_config_refuses_in_one_line(capsys: pytest.CaptureFixture[str],
                                                    no_config_env: pytest.MonkeyPatch) -> None:
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err == f"triage-bot serve: no clinic config given — {SERVE_HINT}\n"


@pytest.mark.parametrize("how", ["--config", "TRIAGE_CONFIG", "top-level --config"])
def test_serve_refuses_the_demo_config_unless_asked(capsys: pytest.CaptureFixture[str],
                                                    no_config_env: pytest.MonkeyPatch, how: str) -> None:
    if how == "TRIAGE_CONFIG":
        no_config_env.setenv("TRIAGE_CONFIG", str(DEMO_CONFIG))
        argv = ["serve"]
    elif how == "--config":
        argv = ["serve", "--config", str(DEMO_CONFIG)]
    else:
        argv = ["--config", str(DEMO_CONFIG), "serve"]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"triage-bot serve: the demo clinic's config — {SERVE_HINT}\n"


def test_serve_demo_with_another_config_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   no_config_env: pytest.MonkeyPatch) -> None:
    assert main(["serve", "--demo", "--config", str(tmp_path / "clinic.yml")]) == 2
    assert "--demo serves the demo clinic; drop it to serve the config" in capsys.readouterr().err


def test_serve_with_a_real_config_gets_past_the_refusal(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        no_config_env: pytest.MonkeyPatch) -> None:
    # A config that does not load stops serve at loading it (exit 2, file/key/line), which shows serve took the
    # config it was given instead of refusing it; nothing starts listening.
    broken = tmp_path / "clinic.yml"
    broken.write_text("clinic: {name: Test}\nbooking: {}\n", encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        main(["serve", "--config", str(broken)])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"config error in {broken}" in err and "booking.link (line 2)" in err
