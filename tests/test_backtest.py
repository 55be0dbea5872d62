"""`triage-bot backtest FILE`: a clinic's past messages through the live triage, counted and written up."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from bench.month import MONTH_MESSAGES, category_counts, generate_month
from bot.backtest import Backtest, Handling, Sla, read_messages, run_backtest
from bot.config.loader import load_config
from bot.config.models import ClinicConfig
from bot.domain import Category, Channel
from handlers.cli import DEMO_CONFIG, main


@pytest.fixture(scope="module")
def demo() -> ClinicConfig:
    return load_config(DEMO_CONFIG)


# The demo clinic: Mon–Wed and Fri 9–18, Thu 9–19, Sat 10–16, closed Sundays; on call from 08:00 by the weekly
# rota (Mon dr-lee, Tue np-ortiz, Sat np-ortiz). A week of messages whose category is not in doubt, with the
# time a person first answered chosen to land either side of the due time the bot would set.
WEEK = [
    # text, received (local), first response (local) or None
    ("Do you sell gift cards?", "2026-11-16T11:00", "2026-11-16T11:04"),  # FAQ, in the answer book: 5 min, met
    ("How much does Botox cost?", "2026-11-16T11:05", "2026-11-16T11:30"),  # FAQ, in the answer book: breached
    ("Hi, I'd like to book a HydraFacial next Wednesday afternoon please", "2026-11-16T11:10", None),  # slots
    ("Please cancel my appointment on Friday, something came up", "2026-11-16T11:20", "2026-11-16T11:24"),
    # Billing at 17:45 Monday: 30 business minutes end at 09:15 Tuesday, so 09:10 is met.
    ("I was charged twice for my facial last week, can you refund one of the charges?", "2026-11-16T17:45",
     "2026-11-17T09:10"),
    ("Is it safe to get Botox while breastfeeding?", "2026-11-16T10:00", "2026-11-16T10:25"),  # 10 min: breached
    # Adverse events, on the wall clock (5 min): inside hours Monday, Tuesday night, Sunday 03:00 (Saturday's shift).
    ("My lips are really swollen and hard and it's getting worse since my filler yesterday", "2026-11-16T10:00",
     "2026-11-16T10:20"),
    ("I had filler in my cheek this morning and now the skin is turning grey and really painful",
     "2026-11-17T22:30", "2026-11-17T22:33"),
    ("thank you so much, see you soon!", "2026-11-18T12:00", None),  # other: collected quietly, no SLA
    ("my forehead has a rash and blisters since the peel on friday, it burns", "2026-11-22T03:00", None),
]


def week_jsonl() -> str:
    lines = []
    for text, received, answered in WEEK:
        record = {"text": text, "channel": "sms", "received_at": received}
        if answered:
            record["first_response_at"] = answered
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


def test_a_week_by_hand_has_the_expected_counts(demo: ClinicConfig) -> None:
    backtest = run_backtest(demo, read_messages(week_jsonl(), demo.clinic.tz, is_csv=False))

    assert backtest.categories == Counter({Category.FAQ: 2, Category.BOOKING: 2, Category.BILLING: 1,
                                           Category.CLINICAL: 1, Category.ADVERSE_EVENT: 3, Category.OTHER: 1})
    assert backtest.handling == Counter({Handling.FAQ_ANSWERED: 2, Handling.SLOTS_OFFERED: 1,
                                         Handling.TO_STAFF: 6, Handling.COLLECTED: 1})
    assert backtest.auto_answered == 3
    assert backtest.handed_on == Counter({"booking: a cancellation: a person handles it": 1})
    assert [(o.line, o.paged) for o in backtest.pages] == [(7, "dr-lee"), (8, "np-ortiz"), (10, "np-ortiz")]
    assert (backtest.pages_open, backtest.pages_closed) == (1, 2)
    assert backtest.pages_by_hour[10] == 1 and backtest.pages_by_hour[22] == 1 and backtest.pages_by_hour[3] == 1
    assert backtest.after_hours_acks == 2  # the two adverse events at night

    assert [o.sla for o in backtest.outcomes] == [
        Sla.MET, Sla.BREACHED, Sla.NO_RESPONSE_TIME, Sla.MET, Sla.MET, Sla.BREACHED, Sla.BREACHED, Sla.MET,
        Sla.NONE, Sla.NO_RESPONSE_TIME]
    billing = backtest.outcomes[4]
    assert billing.due_at == datetime.fromisoformat("2026-11-17T09:15").replace(tzinfo=demo.clinic.tz)
    rows = {r.category: r for r in backtest.first_response()}
    assert (rows[Category.FAQ].met, rows[Category.FAQ].breached, rows[Category.FAQ].auto_answered) == (1, 1, 2)
    assert (rows[Category.ADVERSE_EVENT].with_response_time, rows[Category.ADVERSE_EVENT].met,
            rows[Category.ADVERSE_EVENT].breached) == (2, 1, 1)
    assert rows[Category.BOOKING].auto_answered == 1 and rows[Category.BOOKING].to_staff == 1


def test_csv_reads_the_same_as_json_lines(demo: ClinicConfig) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["received_at", "channel", "text", "first_response_at"])
    writer.writerows([(received, "web", text, answered or "") for text, received, answered in WEEK])
    from_csv = read_messages(out.getvalue(), demo.clinic.tz, is_csv=True)
    from_jsonl = read_messages(week_jsonl(), demo.clinic.tz, is_csv=False)
    assert [(m.text, m.received_at, m.first_response_at) for m in from_csv] == \
           [(m.text, m.received_at, m.first_response_at) for m in from_jsonl]
    assert {m.channel for m in from_csv} == {Channel.WEB}


def test_the_report_is_written_without_any_message_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messages = tmp_path / "week.jsonl"
    messages.write_text(week_jsonl(), encoding="utf-8")
    out = tmp_path / "report"
    assert main(["backtest", str(messages), "--output", str(out), "--quiet"]) == 0

    printed = capsys.readouterr()
    assert "10 messages" in printed.out and "pages: 3 (1 inside business hours, 2 outside)" in printed.out
    assert str(out / "report.html") in printed.out
    names = {p.name for p in out.iterdir()}
    assert names == {"report.html", "report.md", "category-mix.png", "pages-by-hour.png", "first-response.png"}
    for chart in ("category-mix.png", "pages-by-hour.png", "first-response.png"):
        assert (out / chart).read_bytes().startswith(b"\x89PNG")
    page = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 3 and "<img" in page and 'src="http' not in page
    assert "](category-mix.png)" in md
    for text, _, _ in WEEK:
        for words in (text, text[:25], " ".join(text.split()[2:6])):
            assert words not in page and words not in md and words not in printed.out + printed.err


@pytest.mark.parametrize(("content", "suffix", "problem"), [
    ('{"text": "hi", "channel": "sms", "received_at": "2026-11-16T10:00"}\n\n'
     '{"text": "hello", "channel": "sms", "received_at": "yesterday"}\n', ".jsonl", ":3: received_at: not a date"),
    ('{"text": "hi", "channel": "fax", "received_at": "2026-11-16T10:00"}\n', ".jsonl",
     ":1: channel: unknown channel 'fax'"),
    ('{"text": "hi", "channel": "sms"\n', ".jsonl", ":1: not valid JSON"),
    ('{"text": "hi", "channel": "sms", "received_at": "2026-11-16T10:00", "first_response_at": "2026-11-16T09:00"}\n',
     ".jsonl", ":1: first_response_at: before received_at"),
    ("text,channel\nhi,sms\n", ".csv", ":1: the CSV header needs the column(s) received_at"),
    ("text,channel,received_at\nhi,sms,2026-11-16T10:00\nhello,email,16/11/2026\n", ".csv",
     ":3: received_at: not a date"),
    ("\n\n", ".jsonl", ": no messages in the file"),
])
def test_a_bad_file_is_one_line_naming_file_and_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, suffix: str, problem: str,
) -> None:
    path = tmp_path / f"past{suffix}"
    path.write_text(content, encoding="utf-8")
    assert main(["backtest", str(path), "--output", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"backtest: {path}{problem}"), err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "hello" not in err
    assert not (tmp_path / "out").exists()


def test_a_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(tmp_path / "nope.jsonl"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == f"backtest: {tmp_path / 'nope.jsonl'}: file not found"


def test_the_generated_month_is_the_benchmark_mix_from_training_examples(demo: ClinicConfig) -> None:
    counts = category_counts(MONTH_MESSAGES)
    assert sum(counts.values()) == 1_150
    assert counts[Category.BOOKING] + counts[Category.FAQ] == 747 and counts[Category.BILLING] == 276
    assert counts[Category.CLINICAL] == 115 and counts[Category.ADVERSE_EVENT] == 12
    month = generate_month(demo)
    assert Counter(month.labels) == Counter(counts)
    assert month == generate_month(demo)  # seeded
    dev = Path(__file__).resolve().parents[2] / "shared" / "dev-messages.jsonl"
    if dev.exists():
        dev_texts = {json.loads(line)["text"] for line in dev.read_text(encoding="utf-8").splitlines() if line}
        assert not dev_texts & {r["text"] for r in month.records}


@pytest.fixture(scope="module")
def month_backtest(demo: ClinicConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[Backtest, list[Category]]:
    month = generate_month(demo)
    path = month.write_jsonl(tmp_path_factory.mktemp("month") / "month.jsonl")
    messages = read_messages(path.read_text(encoding="utf-8"), demo.clinic.tz, is_csv=False)
    return run_backtest(demo, messages), list(month.labels)


def test_the_generated_month_has_the_expected_counts(month_backtest: tuple[Backtest, list[Category]]) -> None:
    backtest, labels = month_backtest
    assert len(backtest.outcomes) == 1_150 and [o.line for o in backtest.outcomes] == list(range(1, 1_151))
    agree = sum(1 for o, label in zip(backtest.outcomes, labels, strict=True) if o.category is label)
    assert agree >= 0.97 * 1_150  # the training examples' own labels: the classifier is sure of nearly all
    # Safety: every message written as an adverse event is paged (the layer may raise others to one, never lower).
    assert all(o.paged for o, label in zip(backtest.outcomes, labels, strict=True)
               if label is Category.ADVERSE_EVENT)
    assert len(backtest.pages) == backtest.categories[Category.ADVERSE_EVENT] >= 12
    assert backtest.pages_open + backtest.pages_closed == len(backtest.pages) and backtest.pages_closed > 0
    assert sum(backtest.pages_by_hour) == len(backtest.pages)
    routine = backtest.categories[Category.BOOKING] + backtest.categories[Category.FAQ]
    assert 0.2 * routine < backtest.auto_answered < routine
    assert all(not o.handling.auto_answered for o in backtest.outcomes
               if o.category not in (Category.BOOKING, Category.FAQ))
    timed = [o for o in backtest.outcomes if o.first_response_at is not None and o.due_at is not None]
    assert 0.7 * 1_150 < len(timed) < 0.9 * 1_150
    assert all((o.sla is Sla.MET) == (o.first_response_at <= o.due_at) for o in timed)  # type: ignore[operator]
    rows = backtest.first_response()
    assert sum(r.met + r.breached for r in rows) == len(timed)
    assert sum(r.auto_answered + r.to_staff for r in rows) == 1_150 - backtest.categories[Category.OTHER]


def test_the_generated_month_runs_through_the_command(tmp_path: Path, demo: ClinicConfig,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = generate_month(demo).write_jsonl(tmp_path / "month.jsonl")
    assert main(["backtest", str(path), "--output", str(tmp_path / "report"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "backtest: 1,150 messages, 01 Nov – 30 Nov 2026" in out
    assert (tmp_path / "report" / "report.html").stat().st_size > 10_000


def test_batched_classification_is_what_the_live_bot_gets_one_message_at_a_time(
    demo: ClinicConfig, month_backtest: tuple[Backtest, list[Category]],
) -> None:
    """The backtest classifies in batches for speed; triage classifies each message, then its parts, one by one."""
    from bot.classify.model import default_model
    from bot.flows.asks import asks_in
    from bot.flows.reading import for_reading

    model = default_model()
    records = generate_month(demo).records[:150]
    for record, outcome in zip(records, month_backtest[0].outcomes, strict=False):
        text = for_reading(record["text"])
        asks = asks_in(model, text, model.classify(text))
        assert (asks.primary.category, asks.also) == (outcome.category, outcome.also), outcome.line
        assert asks.primary.confidence == pytest.approx(outcome.confidence, abs=1e-9)
