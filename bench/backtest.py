"""`python -m bench.backtest [--messages 1150] [--output DIR]`: time `triage-bot backtest` on a generated month.

Writes a month of a four-provider clinic (bench/month.py: the benchmark's mix, from the repo's own training
examples) for the demo clinic, runs `triage-bot backtest` on it in a fresh process, as a clinic would, and
prints the wall time from start to exit (imports, model and sentence encoder, classifying, the report and its
charts) beside the 10 s target.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.month import MONTH_MESSAGES, generate_month  # noqa: E402
from bot.config.loader import load_config  # noqa: E402
from handlers.cli import DEMO_CONFIG  # noqa: E402

TARGET_SECONDS = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=MONTH_MESSAGES, help="messages in the month (default 1150)")
    parser.add_argument("--output", type=Path, default=None, help="keep the report here (default: a temp dir)")
    args = parser.parse_args(argv)
    config = load_config(DEMO_CONFIG)
    with tempfile.TemporaryDirectory(prefix="triage-backtest-") as work:
        month = generate_month(config, messages=args.messages).write_jsonl(Path(work) / "month.jsonl")
        output = args.output or Path(work) / "report"
        command = [sys.executable, "-m", "handlers.cli", "backtest", str(month), "--output", str(output), "--quiet"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        print(f"bench.backtest: triage-bot backtest exited {done.returncode}", file=sys.stderr)
        return 1
    verdict = "within" if elapsed < TARGET_SECONDS else "OVER"
    print(f"bench.backtest: {args.messages:,} messages in {elapsed:.1f} s, start to exit "
          f"({verdict} the {TARGET_SECONDS:.0f} s target), {args.messages / elapsed:.0f} msg/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
