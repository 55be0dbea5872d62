"""`triage-bot classify [FILE]`: JSON Lines or CSV in, one JSON object per line out. Bad lines are reported."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from bot.classify.model import default_model, warm_up

PROGRESS_FROM = 200  # lines; fewer finish before a bar would be worth drawing


def _records(handle: TextIO, name: str, is_csv: bool) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) pairs; a record that cannot be read is the error text instead."""
    if is_csv:
        reader = csv.DictReader(handle)
        if "text" not in (reader.fieldnames or []):
            yield 1, f"{name}:1: CSV needs a 'text' column"
            return
        for row in reader:
            yield reader.line_num, dict(row)
        return
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"{name}:{number}: not valid JSON ({exc.msg})"
            continue
        yield number, data


def run(path: Path | None) -> int:
    if path is not None and not path.exists():
        print(f"{path}: file not found", file=sys.stderr)
        return 2
    warm_up()  # the sentence encoder loads in the background while the input is read and the model loaded
    name = str(path) if path else "<stdin>"
    text = path.read_text(encoding="utf-8-sig") if path else sys.stdin.read()
    is_csv = path is not None and path.suffix.lower() == ".csv"
    lines = text.count("\n")
    model = default_model()
    show_bar = sys.stderr.isatty() and lines >= PROGRESS_FROM
    failures = 0
    out = sys.stdout
    for number, record in tqdm(_records(io.StringIO(text), name, is_csv), total=lines, disable=not show_bar,
                               unit="msg", file=sys.stderr):
        if isinstance(record, str):
            print(record, file=sys.stderr)
            failures += 1
            continue
        message = record.get("text") if isinstance(record, dict) else None
        if not isinstance(message, str) or not message.strip():
            print(f"{name}:{number}: needs a non-empty 'text'", file=sys.stderr)
            failures += 1
            continue
        result = model.classify(message)
        identifier = record.get("id", number)
        out.write(json.dumps(result.as_json(None if identifier is None else str(identifier)), ensure_ascii=False))
        out.write("\n")
    out.flush()
    if failures:
        print(f"{failures} line(s) could not be classified; the rest were", file=sys.stderr)
        return 1
    return 0
