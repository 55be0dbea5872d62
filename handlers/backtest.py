"""`triage-bot backtest FILE`: a clinic's past messages through the live bot's triage, written up as a report
(report.html, one self-contained page; report.md with its PNG charts beside it) and summed up on stdout.

A file that cannot be read is one line on stderr naming the file and line, and exit code 2. Message text is
never printed, logged or written to the report.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bot.backtest import BENCHMARK, Backtest, Handling, InputProblem, read_messages, run_backtest
from bot.backtest.charts import CHARTS
from bot.backtest.result import Sla
from bot.classify.model import warm_up
from bot.config.models import ClinicConfig
from handlers.backtest_report import html_page, markdown, report_blocks

DEFAULT_OUTPUT = Path("backtest-report")
PROGRESS_FROM = 200  # messages; above this the bar is drawn even when stderr is not a terminal


@dataclass(frozen=True)
class Written:
    html: Path
    markdown: Path
    charts: tuple[Path, ...]


def run(path: Path, config: ClinicConfig, *, config_name: str, output: Path = DEFAULT_OUTPUT,
        quiet: bool = False) -> int:
    started = time.perf_counter()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return _fail(f"{path}: file not found")
    except UnicodeDecodeError:
        return _fail(f"{path}: not UTF-8 text")
    except OSError as exc:
        return _fail(f"{path}: cannot read ({exc.strerror})")
    warm_up()  # the sentence encoder loads in the background while the messages are read
    try:
        messages = read_messages(text, config.clinic.tz, is_csv=path.suffix.lower() == ".csv")
    except InputProblem as problem:
        where = f"{path}:{problem.line}" if problem.line else str(path)
        return _fail(f"{where}: {problem.problem}")
    show = not quiet and (sys.stderr.isatty() or len(messages) > PROGRESS_FROM)
    with tqdm(total=len(messages), unit="msg", file=sys.stderr, disable=not show, desc="backtest") as bar:
        backtest = run_backtest(config, messages, progress=bar.update)
    try:
        written = write_report(backtest, config, output, source=path.name, config_name=config_name)
    except OSError as exc:
        return _fail(f"{output}: cannot write the report ({exc.strerror})")
    print(summary(backtest, time.perf_counter() - started))
    print(f"report: {written.html}\n        {written.markdown} (+ {len(written.charts)} PNG charts beside it)")
    return 0


def _fail(line: str) -> int:
    print(f"backtest: {line}", file=sys.stderr)
    return 2


def write_report(backtest: Backtest, config: ClinicConfig, output: Path, *, source: str,
                 config_name: str) -> Written:
    output.mkdir(parents=True, exist_ok=True)
    charts = {name: draw(backtest) for name, draw in CHARTS.items()}
    blocks = report_blocks(backtest, config, source=source, config_name=config_name)
    paths = []
    for name, png in charts.items():
        (output / name).write_bytes(png)
        paths.append(output / name)
    md = output / "report.md"
    md.write_text(markdown(blocks), encoding="utf-8")
    page = output / "report.html"
    page.write_text(html_page(blocks, charts, f"Backtest: {backtest.clinic}"), encoding="utf-8")
    return Written(page, md, tuple(paths))


def summary(backtest: Backtest, seconds: float) -> str:
    total = len(backtest.outcomes)
    counts = backtest.categories
    mix = ", ".join(f"{name} {100 * sum(counts[c] for c in group) / total:.0f}%"
                    + (f" ({share:.0%})" if share else "") for name, group, share in BENCHMARK)
    handling = backtest.handling
    rows = backtest.first_response()
    met = sum(1 for o in backtest.outcomes if o.sla is Sla.MET)
    breached = sum(1 for o in backtest.outcomes if o.sla is Sla.BREACHED)
    auto = backtest.auto_answered
    return "\n".join((
        f"backtest: {total:,} messages, {backtest.first_day:%d %b} – {backtest.last_day:%d %b %Y} "
        f"({backtest.timezone}), in {seconds:.1f} s",
        f"  mix (benchmark): {mix}",
        f"  the bot would have answered {auto:,} itself ({100 * auto / total:.0f}%): "
        f"{handling[Handling.FAQ_ANSWERED]:,} FAQ from the answer book, {handling[Handling.SLOTS_OFFERED]:,} "
        "booking with slots offered",
        f"  pages: {len(backtest.pages):,} ({backtest.pages_open:,} inside business hours, "
        f"{backtest.pages_closed:,} outside)",
        f"  first response ({backtest.with_response_time:,} with a time): {met:,} met, {breached:,} breached "
        f"against the SLA targets; with the bot {sum(r.to_staff for r in rows):,} would go to staff",
    ))
