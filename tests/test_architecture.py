"""The core imports no chat, vendor or web SDK: handlers are the ways in, integrations the ways out."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = {"slack_sdk", "slack_bolt", "twilio", "httpx", "starlette", "uvicorn", "msgraph", "requests",
                     "handlers", "integrations", "apscheduler"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_no_vendor_sdk() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN_IN_CORE)
        for path in (ROOT / "bot").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_integrations_do_not_reach_into_handlers() -> None:
    for path in (ROOT / "integrations").rglob("*.py"):
        assert "handlers" not in imported_roots(path), path


SLACK_SYNTAX = ("<@", "<!subteam", "<!here", "<!channel", "mrkdwn")


def test_core_writes_no_messenger_syntax() -> None:
    """Mentions and formatting are structures in the core (bot/mentions.py, bot/document.py); only a renderer
    in integrations/ writes Slack's `<@U…>` or mrkdwn, so a Teams renderer gets the same card and digest.
    Strings the code builds are checked (f-strings too); docstrings may name the syntax they keep out."""
    offenders = {}
    for path in (ROOT / "bot").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                    and any(mark in node.value for mark in SLACK_SYNTAX)):
                offenders[f"{path.relative_to(ROOT)}:{node.lineno}"] = node.value
    assert offenders == {}
