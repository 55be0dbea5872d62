"""The benchmark: drives a real `triage-bot serve` over loopback and prints one run's figures beside the targets.

    python -m bench.run [--db sqlite|postgresql] [--messages 2000] [--concurrency 16]

What it measures (all from outside the process, with one HTTP client):
- the burst: --messages signed Twilio SMS webhooks, --concurrency at a time: accepted per second, ack latency
  p50/p99, and the same client and burst against a bare local HTTP server answering the same empty TwiML;
- lost messages: answered 2xx but not in the database;
- intake to card: Slack paces posts to about one a second per channel, so cards queued by a 2,000-message burst
  measure the pacing, not the bot. After the burst's deliveries drain (or --drain-timeout passes; the output
  says which), a sample of --card-sample card-needing texts spread over the clinical, billing and front-desk
  channels is sent one at a time (each once its channel's pace allows a post), each timed from the webhook
  being sent to the Slack stand-in receiving that ticket's card; compared with the same client's bare
  chat.postMessage calls to the same Slack stand-in;
- classification throughput and p99 per message, in this process (the model serve uses);
- start to ready: spawn to the first 200 from /readyz (else /healthz); peak RSS of the serve process (psutil).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import select

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.flows.deliver import CHAT_PACE_SECONDS  # noqa: E402
from bot.storage.models import InboundMessageRow  # noqa: E402
from tests.process import checks  # noqa: E402
from tests.process.harness import (  # noqa: E402
    Sender,
    ServeProcess,
    Sms,
    Store,
    clinic_yaml,
    free_port,
    migrate,
    percentile,
    serve_env,
    wait_for,
)
from tests.process.traffic import scripts  # noqa: E402
from tests.slack_standin import SlackStandIn  # noqa: E402
from tests.standins import StandIn, TwilioApi  # noqa: E402

PG_URL = os.environ.get("TRIAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SAMPLE_BODIES = (
    "is it safe to get botox while pregnant?",
    "I was charged twice for my last visit, can you refund the extra charge?",
    "thanks so much!",
)
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class TimedSlack(SlackStandIn):
    """The Slack stand-in, noting when each top-level post arrived (monotonic clock) by its text."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str, str]] = []  # (when, channel, text)

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        result = super()._m_chat_postMessage(args)
        if result.get("ok") and not args.get("thread_ts"):
            self.arrivals.append((time.monotonic(), str(args.get("channel")), str(args.get("text", ""))))
        return result


BARE_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn does for the bot
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, format, *args):
        pass
ThreadingHTTPServer.request_queue_size = 128
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
"""


class Bare:
    """A bare local HTTP server in its own process (as the bot is): reads the request and answers the empty
    TwiML, nothing else."""

    def __init__(self) -> None:
        port = free_port()
        self._process = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)], stdout=subprocess.PIPE,
                                         stdin=subprocess.DEVNULL)
        assert self._process.stdout is not None
        self._process.stdout.readline()  # "ready"
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)


class PeakRss:
    """Samples the resident memory of a process (and its children) every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._pid: int | None = None
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def watch(self, pid: int) -> None:
        self._pid = pid

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            if self._pid is None:
                continue
            try:
                proc = psutil.Process(self._pid)
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            except psutil.Error:
                continue
            self.peak = max(self.peak, rss)

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(PG_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"harness_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def burst_figures(sender: Sender, traffic: list[list[Sms]]) -> tuple[float, float, float, list[Any]]:
    started = time.monotonic()
    sent = sender.burst(traffic)
    elapsed = time.monotonic() - started
    accepted = [s for s in sent if s.acknowledged]
    latencies = [s.seconds for s in accepted]
    return len(accepted) / elapsed, percentile(latencies, 50), percentile(latencies, 99), sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--card-sample", type=int, default=30, help="card-needing texts timed one at a time")
    parser.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for the burst's deliveries")
    parser.add_argument("--sample-timeout", type=float, default=300, help="seconds for the whole card sample")
    parser.add_argument("--print-samples", action="store_true", help="print each intake-to-card sample")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, SQLite file)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    slack, twilio, bare = TimedSlack(), StandIn(TwilioApi()), Bare()
    rss = PeakRss()
    rows: list[tuple[str, str, str, bool | None]] = []
    bot: ServeProcess | None = None
    try:
        with database(args.db, workdir) as url:
            config = workdir / "clinic.yml"
            config.write_text(clinic_yaml(), encoding="utf-8")
            env = serve_env(database_url=url, config=config, slack_api=f"{slack.url}/api/", twilio_api=twilio.url)
            migrate(env, workdir)
            bot = ServeProcess(workdir=workdir, env=env, name="serve")
            bot.spawn()
            rss.watch(bot.pid)
            bot.wait_ready(180)
            rows.append(("start to ready", f"{bot.ready_after:.2f} s ({bot.ready_path})", "< 3 s",
                         bot.ready_after < 3))

            traffic = scripts(args.messages, bursts=20, adverse=5, run="bench")
            bare_sender = Sender(lambda sms: bare.url, concurrency=args.concurrency)
            b_rate, b_p50, b_p99, _ = burst_figures(bare_sender, traffic)
            sender = Sender(lambda sms: bot.url if bot else "", concurrency=args.concurrency)
            rate, p50, p99, sent = burst_figures(sender, traffic)
            failed = [s for s in sent if not s.acknowledged]
            rows.append((f"webhooks accepted/s ({args.messages} at {args.concurrency})",
                         f"{rate:.0f}/s (bare {b_rate:.0f}/s)", "≥ 300/s", rate >= 300))
            rows.append(("ack latency p50 / p99", f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms "
                         f"(bare {b_p50 * 1000:.0f} / {b_p99 * 1000:.0f} ms)", "p99 < 100 ms", p99 < 0.1))
            rows.append(("not acknowledged (no 2xx)", f"{len(failed)}", "0", not failed))

            store = Store(url)
            acknowledged = {s.sms.sid for s in sent if s.acknowledged}
            stored = {m.provider_message_id for m in store.inbound()}
            lost = acknowledged - stored
            rows.append(("lost (2xx but not stored)", str(len(lost)), "0", not lost))

            drain_started = time.monotonic()
            triaged_after: list[float] = []

            def drained_all() -> bool:
                if store.untriaged():
                    return False
                if not triaged_after:
                    triaged_after.append(time.monotonic() - drain_started)
                # Every delivery, thread lines and card updates too: they share the channels' pace with cards.
                return not checks.pending(store)

            try:
                wait_for(drained_all, args.drain_timeout, "the burst's deliveries", every=0.5)
                drained = (f"all triaged {triaged_after[0]:.0f} s and delivered "
                           f"{time.monotonic() - drain_started:.0f} s after the burst")
            except AssertionError:
                left = len(checks.pending(store))
                drained = f"NOT drained after {args.drain_timeout:.0f} s: {left} deliveries still pending"
            cards = len(slack.arrivals)
            rows.append(("burst's cards and replies", f"{cards} cards, {len(checks.twilio_messages(twilio))} texts; "
                         f"{drained}", "", None))

            # Intake to card, one at a time after the burst, against a bare chat.postMessage from this client.
            samples: list[float] = []
            tickets: dict[str, int] = {}
            last_card: dict[int, float] = {}
            time.sleep(CHAT_PACE_SECONDS)  # the drain's last posts' pace runs out
            sampling_ends = time.monotonic() + args.sample_timeout
            for i in range(args.card_sample):
                if time.monotonic() > sampling_ends:
                    break
                kind = i % len(SAMPLE_BODIES)  # each kind's card goes to its own channel
                # Slack paces posts to one a second per channel: a sample goes once its channel's pace allows a
                # post, so it times the bot, not the pacing.
                time.sleep(max(0.0, last_card.get(kind, 0.0) + CHAT_PACE_SECONDS + 0.05 - time.monotonic()))
                sms = Sms(f"SMsample{i:04d}", f"+1917555{i:04d}", SAMPLE_BODIES[kind])
                seen = len(slack.arrivals)
                started = time.monotonic()
                answer = sender.send(sms)
                if not answer.acknowledged:
                    continue

                def card(seen: int = seen, sid: str = sms.sid) -> float | None:
                    """When this text's own ticket's card arrived (not another ticket's from the backlog)."""
                    if sid not in tickets:
                        found = store.rows(select(InboundMessageRow.ticket_id)
                                           .where(InboundMessageRow.provider_message_id == sid))
                        if not found or found[0][0] is None:
                            return None
                        tickets[sid] = int(found[0][0])
                    ticket = tickets[sid]
                    return next((t for t, _, text in slack.arrivals[seen:] if text.endswith(f"ticket #{ticket}")),
                                None)

                try:
                    arrived: float = wait_for(card, max(0.0, sampling_ends - time.monotonic()), "the sample's card",
                                              every=0.01)  # type: ignore[assignment]
                except AssertionError:
                    continue
                samples.append(arrived - started)
                last_card[kind] = arrived
            bare_calls: list[float] = []
            with httpx.Client(timeout=10) as client:
                for i in range(args.card_sample):
                    started = time.monotonic()
                    client.post(f"{slack.url}/api/chat.postMessage", headers={"Authorization": "Bearer xoxb-bench"},
                                json={"channel": "bench-bare", "text": f"bare {i}"})
                    bare_calls.append(time.monotonic() - started)
            if args.print_samples:
                print("intake to card, each sample (ms):", [round(x * 1000) for x in samples], file=sys.stderr)
            c50, c99 = percentile(samples, 50), percentile(samples, 99)
            bare99 = percentile(bare_calls, 99)
            ratio = c99 / bare99 if bare_calls else float("nan")
            rows.append((f"intake to card p50 / p99 ({len(samples)} of {args.card_sample} sampled)",
                         f"{c50 * 1000:.0f} / {c99 * 1000:.0f} ms (bare chat call p99 {bare99 * 1000:.1f} ms: "
                         f"{ratio:.0f}×)", "p99 ≤ 5× bare", ratio <= 5))
            rows.append(("peak RSS of serve", f"{rss.peak / 2**20:.0f} MB", "< 300 MB", rss.peak < 300 * 2**20))
            store.close()
            sender.close()
            bare_sender.close()

            rows.extend(classification(traffic))
            bot.stop()
    finally:
        rss.stop()
        if bot is not None:
            bot.stop()
        slack.close()
        twilio.close()
        bare.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"triage-bot benchmark · {args.db} · {args.messages} messages, {args.concurrency} at a time · "
          f"{os.cpu_count()} CPUs")
    width = max(len(r[0]) for r in rows)
    for name, figure, target, ok in rows:
        mark = "" if ok is None else ("✓" if ok else "✗")
        print(f"  {name:<{width}}  {figure:<60} {target:<15} {mark}")
    if args.keep:
        print(f"work directory (logs, database): {workdir}")
    return 0


def classification(traffic: list[list[Sms]]) -> list[tuple[str, str, str, bool | None]]:
    """The model serve uses, in this process: every burst body once, timed per message; plus a long body."""
    from bot.classify.model import default_model

    loaded = time.monotonic()
    model = default_model()
    load = time.monotonic() - loaded
    bodies = [sms.body for script in traffic for sms in script][:1000]
    times: list[float] = []
    for body in bodies:
        started = time.monotonic()
        model.classify(body)
        times.append(time.monotonic() - started)
    long_started = time.monotonic()
    model.classify("my lip is swollen " * 11_000)  # about 200,000 characters
    long = time.monotonic() - long_started
    return [("classification", f"{len(times) / sum(times):.0f} msg/s, p99 {percentile(times, 99) * 1000:.1f} ms "
             f"(model load {load:.1f} s; one 200,000-char body {long:.2f} s)", "", None)]


if __name__ == "__main__":
    raise SystemExit(main())
