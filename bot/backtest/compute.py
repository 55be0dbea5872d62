"""The backtest: what the live bot would have done with a clinic's past messages, message by message.

Each message goes down the live triage path (bot.flows.triage) with the same pieces: the shipped classifier
and its safety layer on the part of the message the bot reads, the other requests in it (`asks_in`), the
routing policy at the message's received time (open or closed, who was on call by the rota), the answer book
for FAQs, the booking flow's plan against the clinic's weekly schedule for bookings, and the SLA due time as
`apply_route` sets it. What the live bot knows and a file does not is left out and said so in the report:
the patient (so no VIP routing), earlier tickets of the same sender (so no follow-ups joined, no slots picked
from an earlier offer) and on-call overrides set from chat.

Pure: messages in, a `Backtest` out. No I/O, no clock, nothing printed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.backtest.messages import PastMessage
from bot.backtest.result import Backtest, Handling, Outcome
from bot.classify.model import TriageModel, default_model
from bot.classify.result import Classification
from bot.config.models import WEEKDAYS, ClinicConfig
from bot.domain import Category
from bot.flows.asks import Asks, asks_in, parts_of
from bot.flows.booking import BookingContext, HandOff
from bot.flows.booking import plan as booking_plan
from bot.flows.reading import for_reading
from bot.flows.triage import one_request_at_a_time as for_a_person  # the live rule
from bot.hours import is_open
from bot.oncall import on_call
from bot.respond.answers import AnswerBook
from bot.respond.booking_intent import read_booking
from bot.route.policy import route
from bot.sla.plan import due_at

BATCH = 64  # messages classified together: the sentence encoder is much faster per message in batches
NO_ANSWER = "no answer in the answer book"  # the live bot's words (bot.flows.triage._auto_answer)


class KnownClassifications:
    """The model, answering from results already computed in a batch (the parts of a message `asks_in` reads)."""

    def __init__(self, model: TriageModel, known: dict[str, Classification]) -> None:
        self._model = model
        self._known = known

    def classify(self, text: str) -> Classification:
        found = self._known.get(text)
        return found if found is not None else self._model.classify(text)


@dataclass(frozen=True)
class _Read:
    message: PastMessage
    text: str  # what the live bot reads of it


def run_backtest(
    config: ClinicConfig,
    messages: Sequence[PastMessage],
    *,
    model: TriageModel | None = None,
    progress: Callable[[int], None] | None = None,
) -> Backtest:
    """`progress` is told how many more messages are done after each batch."""
    model = model or default_model()
    answers = AnswerBook(config.faq)
    outcomes: list[Outcome] = []
    for start in range(0, len(messages), BATCH):
        batch = [_Read(m, for_reading(m.text)) for m in messages[start:start + BATCH]]
        outcomes += _triage_batch(config, model, answers, batch)
        if progress is not None:
            progress(len(batch))
    return Backtest(clinic=config.clinic.name, timezone=config.clinic.timezone, model_version=model.version,
                    outcomes=tuple(outcomes), sla_minutes={c: config.sla_minutes.for_category(c) for c in Category},
                    business_span=_business_span(config))


def _triage_batch(config: ClinicConfig, model: TriageModel, answers: AnswerBook,
                  batch: list[_Read]) -> list[Outcome]:
    wholes = model.classify_many([r.text for r in batch])
    # The parts `asks_in` will classify one by one, classified here in one batch (same model, same results).
    split = [parts_of(r.text) for r in batch]
    parts = sorted({p.text for found in split if len(found) > 1 for p in found if p.asks})
    known = KnownClassifications(model, dict(zip(parts, model.classify_many(parts), strict=True)))
    return [_triage(config, answers, r, asks_in(known, r.text, whole)) for r, whole in zip(batch, wholes, strict=True)]


def _triage(config: ClinicConfig, answers: AnswerBook, read: _Read, asks: Asks) -> Outcome:
    at = read.message.received_at
    result = asks.primary
    category = result.category
    open_now = is_open(config, at)
    decision = route(config, result, None, open_now=open_now, oncall=on_call(config, (), at).provider)
    decision = for_a_person(decision, None, asks.also)
    handling, handed_on = Handling.TO_STAFF, ""
    if decision.auto_answer and category is Category.BOOKING:
        context = BookingContext(read_booking(read.text, result.language, at, config.clinic.tz, config.staff))
        outcome = booking_plan(context, {}, config, at)
        if isinstance(outcome, HandOff):
            handed_on = f"booking: {hand_off_label(outcome.reason)}"
        else:
            handling = Handling.SLOTS_OFFERED
    elif decision.auto_answer:
        if answers.find(read.text, result.language) is None:
            handed_on = f"faq: {NO_ANSWER}"
        else:
            handling = Handling.FAQ_ANSWERED
    elif category is Category.OTHER:
        handling = Handling.COLLECTED
    elif category in config.routing.auto_answer:
        why = next((r for r in reversed(decision.reasons) if r.startswith("not auto-answered")), "not auto-answered")
        handed_on = f"{category.value}: {hand_off_label(why.removeprefix('not auto-answered: '))}"
    return Outcome(
        line=read.message.line, channel=read.message.channel, received_at=at, open_at_receipt=open_now,
        category=category, confidence=result.confidence, also=asks.also, role=decision.role, handling=handling,
        handed_on=handed_on, paged=decision.page, after_hours_ack=decision.after_hours_ack,
        due_at=None if category is Category.OTHER else due_at(config, category, at),
        first_response_at=read.message.first_response_at,
    )


def hand_off_label(reason: str) -> str:
    """A reason as a group ("no open slot fits (Thu, mornings)" is "no open slot fits"): counts, not details."""
    if reason.startswith("asked for "):
        return "asked for a named provider"
    if reason.startswith("the message also asks about"):
        return "the message also asks about something else"
    return reason.split(" (")[0].split(";")[0].strip()


def _business_span(config: ClinicConfig) -> tuple[float, float] | None:
    """The earliest opening and the latest closing of the week, in local hours (for shading a chart)."""
    days = [config.business_hours.for_day(d) for d in WEEKDAYS]
    hours = [h for h in days if h is not None]
    if not hours:
        return None
    return (min(h.open.hour + h.open.minute / 60 for h in hours),
            max(h.close.hour + h.close.minute / 60 for h in hours))
