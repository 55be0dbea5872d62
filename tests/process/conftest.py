"""Fixtures for the tests that run real `serve` processes: vendor stand-ins, processes stopped and their logs
printed (shown by pytest when a test fails)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process.harness import ServeProcess, Store, clinic_yaml, migrate, serve_env
from tests.slack_standin import SlackStandIn
from tests.standins import StandIn, TwilioApi

BotFactory = Callable[..., ServeProcess]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def twilio() -> Iterator[StandIn]:
    standin = StandIn(TwilioApi())
    yield standin
    standin.close()


@pytest.fixture
def bots(tmp_path: Path, slack: SlackStandIn, twilio: StandIn) -> Iterator[BotFactory]:
    """bots(database_url, slack_api=..., twilio_api=..., name=..., config=clinic_yaml(...)) -> an unstarted
    ServeProcess; the database is migrated first when the bot has `triage-bot migrate`. (Asks for the stand-ins
    so that they outlive the processes.)"""
    made: list[ServeProcess] = []
    stores: list[Store] = []

    def make(database_url: str, *, slack_api: str | None, twilio_api: str, name: str = "serve",
             config: str | None = None, extra: dict[str, str] | None = None) -> ServeProcess:
        workdir = tmp_path / name
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "clinic.yml"
        config_path.write_text(config or clinic_yaml(), encoding="utf-8")
        env = serve_env(database_url=database_url, config=config_path, slack_api=slack_api, twilio_api=twilio_api,
                        extra=extra)
        migrate(env, workdir)
        bot = ServeProcess(workdir=workdir, env=env, name=name)
        made.append(bot)
        return bot

    yield make
    for bot in made:
        bot.stop()
    for store in stores:
        store.close()
    for bot in made:
        print(f"==== {bot.name} log (last lines) ====\n{bot.log_tail(80)}")
