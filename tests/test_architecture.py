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
