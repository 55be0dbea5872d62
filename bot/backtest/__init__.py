"""Backtest: a clinic's past messages through the live bot's triage, counted (`triage-bot backtest FILE`)."""

from bot.backtest.compute import run_backtest
from bot.backtest.messages import InputProblem, PastMessage, read_messages
from bot.backtest.result import BENCHMARK, Backtest, FirstResponse, Handling, Outcome, Sla

__all__ = [
    "BENCHMARK",
    "Backtest",
    "FirstResponse",
    "Handling",
    "InputProblem",
    "Outcome",
    "PastMessage",
    "Sla",
    "read_messages",
    "run_backtest",
]
