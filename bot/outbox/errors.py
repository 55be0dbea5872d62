"""The errors integrations turn vendor failures into. The outbox only ever sees these."""

from __future__ import annotations


class DeliveryError(Exception):
    """Delivery did not happen. `transient` ones are retried; `retry_after` (seconds) overrides the backoff.

    `counts` is False when the destination only said "not now" (a 429 rate limit, a line whose card is not
    posted yet): such a try is not a failure and never uses up the row's retries.
    """

    def __init__(self, reason: str, *, transient: bool, retry_after: float | None = None,
                 counts: bool = True, rate_limited: bool = False, maybe_sent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after
        self.counts = counts
        self.rate_limited = rate_limited  # the destination said slow down: every row to it waits
        # No clear answer (a timeout, a reset, a cut-off or 5xx answer): the message may have landed, so the
        # next try first asks the destination (the row's `reconcile`) instead of sending blind.
        self.maybe_sent = maybe_sent


def transient(reason: str, retry_after: float | None = None) -> DeliveryError:
    return DeliveryError(reason, transient=True, retry_after=retry_after)


def unanswered(reason: str) -> DeliveryError:
    """The request went out and no clear answer came back: retried, and reconciled before it is sent again."""
    return DeliveryError(reason, transient=True, maybe_sent=True)


def rate_limited(reason: str, retry_after: float | None = None) -> DeliveryError:
    """A 429: obeyed (Retry-After) for every row to that destination, never counted as a failed try."""
    return DeliveryError(reason, transient=True, retry_after=retry_after, counts=False, rate_limited=True)


def waiting(reason: str, retry_after: float | None = None) -> DeliveryError:
    """Waiting for something to land first (a line for its card): retried, never counted as a failed try."""
    return DeliveryError(reason, transient=True, retry_after=retry_after, counts=False)


def permanent(reason: str) -> DeliveryError:
    return DeliveryError(reason, transient=False)
