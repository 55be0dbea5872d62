"""The errors integrations turn vendor failures into. The outbox only ever sees these."""

from __future__ import annotations


class DeliveryError(Exception):
    """Delivery did not happen. `transient` ones are retried; `retry_after` (seconds) overrides the backoff."""

    def __init__(self, reason: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


def transient(reason: str, retry_after: float | None = None) -> DeliveryError:
    return DeliveryError(reason, transient=True, retry_after=retry_after)


def permanent(reason: str) -> DeliveryError:
    return DeliveryError(reason, transient=False)
