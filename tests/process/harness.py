"""A real `triage-bot serve` process under test: started as a subprocess on a free loopback port with Slack and
Twilio played by local stand-ins in this process, fed signed Twilio webhooks N at a time, killed with SIGKILL
and restarted, and its database read afterwards. Used by tests/process/ and by bench/.

The subprocess gets a clean environment (only what is set here, so no stray variable or `.env` reaches it: its
working directory is a fresh directory of its own) and writes its output to a log file shown on failure.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from bot.storage.models import InboundMessageRow, OutboxRow, TicketRow

REPO = Path(__file__).resolve().parents[2]
TWILIO_SID = "ACharness"
TWILIO_TOKEN = "harness-twilio-auth-token"
CLINIC_NUMBER = "+12125550000"
SLACK_TOKEN = "xoxb-harness"
SLACK_SECRET = "harness-signing-secret"
WEB_SECRET = "harness-web-form-secret"
PUBLIC_URL = "https://triage.test"  # what Twilio signs: the load balancer's URL, the same for every instance

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], T], timeout: float, what: str, *, every: float = 0.1,
             describe: Callable[[], str] | None = None) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds saying `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(every)


def clinic_yaml(*, sla_minutes: dict[str, int] | None = None, ladder: str | None = None,
                page_ladder: str | None = None, digest_at: str | None = None) -> str:
    """A test clinic open around the clock (so a run behaves the same at any hour), Dr. Lee on call, the nurse as
    backup, Morgan the manager at the top of the ladders."""
    days = "\n".join(f"  {day}: {{open: \"00:00\", close: \"23:59\"}}"
                     for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    sla = sla_minutes or {}
    sla_lines = "\n".join(f"  {k}: {v}" for k, v in sla.items())
    parts = [
        "clinic:\n  name: Harness Clinic\n  timezone: America/New_York",
        f"business_hours:\n{days}",
        "staff:\n"
        "  - {id: dr-lee, name: Dr. Lee, chat_user: UDRLEE, clinical: true, phone: \"+1 212 555 0181\"}\n"
        "  - {id: nurse, name: Nurse Kim, chat_user: UNURSE, clinical: true, phone: \"+1 212 555 0182\"}\n"
        "  - {id: jess, name: Jess, chat_user: UJESS}\n"
        "  - {id: boss, name: Morgan, chat_user: UBOSS}",
        "roles:\n  front_desk: {members: [UJESS], lead: jess}\n  billing: {members: [UJESS], lead: jess}\n"
        "  clinical: {lead: dr-lee}\n  managers: {members: [UBOSS]}",
        "routing:\n  oncall_provider: dr-lee",
        "oncall:\n  weekly: {mon: dr-lee, tue: dr-lee, wed: dr-lee, thu: dr-lee, fri: dr-lee, sat: dr-lee, "
        "sun: dr-lee}\n  backup: {mon: nurse, tue: nurse, wed: nurse, thu: nurse, fri: nurse, sat: nurse, sun: nurse}",
        "escalation:\n  manager: boss"
        + (f"\n  ladder: {ladder}" if ladder else "") + (f"\n  page_ladder: {page_ladder}" if page_ladder else ""),
        f"digest:\n  post_at: \"{digest_at}\"" if digest_at else "digest:\n  enabled: false",
        "booking:\n  link: https://book.test/x\n  lead_minutes: 60\n  weekly_slots:\n"
        + "\n".join(f"    {d}: [\"10:00\", \"14:00\"]" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
        "faq:\n  - id: hours\n    questions:\n      en: [\"what are your hours\", \"when are you open\"]\n"
        "      es: [\"cuál es su horario\", \"a qué hora abren\"]\n"
        "    answer:\n      en: \"Open every day.\"\n      es: \"Abrimos todos los días.\"",
    ]
    if sla_lines:
        parts.append(f"sla_minutes:\n{sla_lines}")
    return "\n".join(parts) + "\n"


@dataclass
class ServeProcess:
    """One `triage-bot serve` subprocess. `start()` waits until it answers ready; `kill()` is SIGKILL."""

    workdir: Path
    env: dict[str, str]
    name: str = "serve"
    args: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    started_at: float = 0.0
    ready_after: float = 0.0  # seconds from spawn to the first 200 from the ready endpoint
    ready_path: str = ""
    _runs: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    log_paths: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def spawn(self, port: int | None = None) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        log_path = self.workdir / f"{self.name}-{next(self._runs)}.log"
        self.log_paths.append(log_path)
        env = {**self.env, "TRIAGE_PORT": str(self.port), "TRIAGE_HOST": "127.0.0.1"}
        with log_path.open("wb") as log:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "handlers.cli", "serve", *self.args], cwd=self.workdir, env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start(self, port: int | None = None, timeout: float = 180) -> ServeProcess:
        self.spawn(port)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 180) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode} before it was ready\n"
                                     f"{self.log_tail()}")
            for path in ("/readyz", "/healthz") if not self.ready_path else (self.ready_path,):
                try:
                    response = httpx.get(self.url + path, timeout=2)
                except httpx.TransportError:
                    return False
                if response.status_code == 404 and path == "/readyz":
                    continue  # no /readyz in this version: /healthz says it is up
                if response.status_code == 200:
                    self.ready_path = path
                    return True
                return False
            return False

        wait_for(ready, timeout, f"{self.name} to answer ready", every=0.02, describe=self.log_tail)
        self.ready_after = time.monotonic() - self.started_at

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the container dies."""
        if self.alive():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace") for p in self.log_paths if p.exists())

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def serve_env(*, database_url: str, config: Path, slack_api: str | None, twilio_api: str,
              extra: dict[str, str] | None = None) -> dict[str, str]:
    """Everything the subprocess reads, and nothing else from this process's environment."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(config.parent),
        "TRIAGE_DATABASE_URL": database_url,
        "TRIAGE_CONFIG": str(config),
        "TRIAGE_PUBLIC_URL": PUBLIC_URL,
        "TRIAGE_WEB_FORM_SECRET": WEB_SECRET,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": CLINIC_NUMBER,
        "TWILIO_API_URL": twilio_api,
    }
    if slack_api is not None:
        env |= {"SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": slack_api}
    return env | (extra or {})


def migrate(env: dict[str, str], workdir: Path) -> None:
    """Run `triage-bot migrate` first when this version has it (migrations once, not by every instance)."""
    from handlers.cli import parser

    commands = next(a for a in parser()._actions if a.dest == "command").choices  # type: ignore[union-attr]
    if commands is None or "migrate" not in commands:
        return
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "migrate"], cwd=workdir, env=env,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


# ---------------------------------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class Sms:
    sid: str
    sender: str
    body: str

    def form(self) -> dict[str, str]:
        return {"MessageSid": self.sid, "SmsSid": self.sid, "AccountSid": TWILIO_SID, "From": self.sender,
                "To": CLINIC_NUMBER, "Body": self.body, "NumMedia": "0"}


def signed(sms: Sms) -> tuple[dict[str, str], dict[str, str]]:
    form = sms.form()
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC_URL}/inbound/sms", form)
    return form, {"X-Twilio-Signature": signature}


@dataclass
class Sent:
    sms: Sms
    status: int | None  # None: no answer (refused, reset, timed out)
    seconds: float
    sent_at: float  # time.monotonic() when the request went out
    error: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Sender:
    """Posts signed SMS webhooks, `concurrency` at a time, one shared connection pool."""

    def __init__(self, base_url: Callable[[Sms], str], concurrency: int = 16, timeout: float = 15) -> None:
        self._base_url = base_url
        self._concurrency = concurrency
        self.client = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=concurrency * 2,
                                                                        max_keepalive_connections=concurrency * 2))

    def send(self, sms: Sms) -> Sent:
        form, headers = signed(sms)
        started = time.monotonic()
        try:
            response = self.client.post(f"{self._base_url(sms)}/inbound/sms", data=form, headers=headers)
        except httpx.HTTPError as exc:
            return Sent(sms, None, time.monotonic() - started, started, type(exc).__name__)
        return Sent(sms, response.status_code, time.monotonic() - started, started)

    def burst(self, scripts: Iterable[Sequence[Sms]],
              on_sent: Callable[[Sent], None] | None = None) -> list[Sent]:
        """Each script is one patient's messages, sent in order (the next right after the previous answer);
        scripts run `concurrency` at a time."""
        results: list[Sent] = []
        lock = threading.Lock()

        def run(script: Sequence[Sms]) -> None:
            for sms in script:
                sent = self.send(sms)
                with lock:
                    results.append(sent)
                if on_sent:
                    on_sent(sent)

        with ThreadPoolExecutor(self._concurrency) as pool:
            list(pool.map(run, scripts))
        return results

    def until_acknowledged(self, scripts: Iterable[Sequence[Sms]], rounds: int = 3) -> tuple[list[Sent], list[Sent]]:
        """The burst, then Twilio's retries of what got no 2xx (same MessageSid), up to `rounds` tries in all.
        Returns (first answers, every answer)."""
        first = self.burst(scripts)
        every = list(first)
        waiting = [s.sms for s in first if not s.acknowledged]
        for _ in range(rounds - 1):
            if not waiting:
                break
            answers = self.burst([[sms] for sms in waiting])
            every += answers
            waiting = [s.sms for s in answers if not s.acknowledged]
        return first, every

    def close(self) -> None:
        self.client.close()


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# ---------------------------------------------------------------------------------------------------- database


class Store:
    """Reads the bot's database from outside, on the same URL."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    def inbound(self) -> list[InboundMessageRow]:
        with self.session() as s:
            return list(s.scalars(select(InboundMessageRow).order_by(InboundMessageRow.id)))

    def tickets(self) -> list[TicketRow]:
        with self.session() as s:
            return list(s.scalars(select(TicketRow).order_by(TicketRow.id)))

    def outbox(self, *kinds: str) -> list[OutboxRow]:
        with self.session() as s:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if kinds:
                query = query.where(OutboxRow.kind.in_(kinds))
            return list(s.scalars(query))

    def untriaged(self) -> int:
        return sum(1 for m in self.inbound() if m.processed_at is None)

    def rows(self, statement: Any) -> list[Any]:
        with self.session() as s:
            return list(s.execute(statement).all())

    def close(self) -> None:
        self.engine.dispose()
