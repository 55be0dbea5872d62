"""Patient traffic for a burst: single messages of every kind, a few patients texting three times in a row, one
adverse event. Seeded, so a failing run can be repeated."""

from __future__ import annotations

import random

from tests.process.harness import Sms

SINGLES = (
    ("faq", "what are your hours?"),
    ("faq", "when are you open on friday"),
    ("booking", "can I book a botox appointment next week?"),
    ("clinical", "is it safe to get botox while pregnant?"),
    ("clinical", "can I take ibuprofen before my filler appointment?"),
    ("billing", "I was charged twice for my last visit, can you refund the extra charge?"),
    ("other", "thanks so much!"),
    ("faq", "what are your hours?"),
    ("booking", "can I book a botox appointment next week?"),
    ("faq", "when are you open on friday"),
)
BURST = (
    "I was charged twice for my last visit, can you refund the extra charge?",
    "my card was billed $300 but the quote was $200",
    "please refund the difference to my card",
)
ADVERSE = "my lips are very swollen and blistering after filler yesterday and it hurts a lot"


def phone(n: int, prefix: str = "646") -> str:
    return f"+1{prefix}{5_000_000 + n:07d}"


def scripts(total: int, *, bursts: int = 10, adverse: int = 1, seed: int = 8, run: str = "r",
            prefix: str = "646") -> list[list[Sms]]:
    """`total` messages as per-patient scripts, shuffled; every MessageSid and sender is unique to `run`."""
    rng = random.Random(seed)
    out: list[list[Sms]] = []
    n = 0

    def sid() -> str:
        nonlocal n
        n += 1
        return f"SM{run}{n:06d}"

    patient = 0
    for _ in range(adverse):
        patient += 1
        out.append([Sms(sid(), phone(patient, prefix), ADVERSE)])
    for _ in range(bursts):
        patient += 1
        out.append([Sms(sid(), phone(patient, prefix), body) for body in BURST])
    while n < total:
        patient += 1
        out.append([Sms(sid(), phone(patient, prefix), rng.choice(SINGLES)[1])])
    rng.shuffle(out)
    return out
