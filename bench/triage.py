"""Triage alone, in this process: `python -m bench.triage [--messages 300] [--database URL]`.

Stores --messages texts of the benchmark's mix (`tests/process/traffic.py`) on a fresh SQLite file (or the
database URL given, which must be empty), then triages them all on one thread as a `serve` worker does, and
prints messages per second, milliseconds per message and SQL statements per message. Nothing is delivered.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import event

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.config.loader import load_config  # noqa: E402
from bot.domain import Channel  # noqa: E402
from bot.flows.intake import InboundMessage, accept_all  # noqa: E402
from bot.outbox.queue import OutboxKind  # noqa: E402
from bot.settings import TriageSettings, TwilioSettings  # noqa: E402
from handlers.serve import warm_up_triage  # noqa: E402
from handlers.wiring import build_service  # noqa: E402
from integrations.console import ConsolePoster, RecordingCaller, RecordingMessenger  # noqa: E402
from tests.process.harness import clinic_yaml  # noqa: E402
from tests.process.traffic import scripts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--database", default="", help="an empty database's URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as work:
        (Path(work) / "clinic.yml").write_text(clinic_yaml())
        config = load_config(Path(work) / "clinic.yml")
        settings = TriageSettings(database_url=args.database or f"sqlite:///{work}/triage.db")
        twilio = TwilioSettings(account_sid="ACbench", auth_token=SecretStr("bench"), from_number="+14155550100")
        service = build_service(settings, twilio, config, poster=ConsolePoster(),
                                messengers={OutboxKind.REPLY_SMS: RecordingMessenger()}, caller=RecordingCaller())
        now = datetime.now(UTC)
        texts = [sms for script in scripts(args.messages, bursts=20, adverse=5, run="triage") for sms in script]
        accept_all(service.db, [InboundMessage(channel=Channel.SMS, provider_message_id=sms.sid, sender=sms.sender,
                                               body=sms.body, received_at=now) for sms in texts[:args.messages]])
        warm_up_triage()
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(service.db.engine, "before_cursor_execute", count)
        started = time.perf_counter()
        done = service.run_triage(wake_outbox=False)
        elapsed = time.perf_counter() - started
        service.db.dispose()
    print(f"triage · {settings.database_url.split(':')[0]} · {done} messages on one thread: {done / elapsed:.0f} "
          f"msg/s, {elapsed / done * 1000:.1f} ms per message, {statements[0] / done:.1f} SQL statements per message")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
