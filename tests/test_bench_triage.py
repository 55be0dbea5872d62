"""`python -m bench.triage` runs end to end on a few messages and prints its figures."""

from __future__ import annotations

import re

import pytest

from bench.triage import main


def test_bench_triage_triages_every_stored_message_and_prints_the_rate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--messages", "12"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"(\d+) messages on one thread: (\d+) msg/s, ([\d.]+) ms per message, ([\d.]+) SQL", out)
    assert found, out
    assert int(found[1]) == 12 and float(found[3]) > 0 and float(found[4]) > 5
