"""Compliance sinks. Each module has `deliver(message, *, clock) -> DeliveryOutcome`.

delivered: the sink holds the content (also when it already held it: redelivery is idempotent);
retry: a transient failure, try again later with backoff; permanent: retrying cannot help, dead-letter now.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Literal

from genesys.clock import SYSTEM_CLOCK, Clock

SINK_NAMES = ("filesystem", "webhook", "s3")


@dataclass(frozen=True)
class DeliveryOutcome:
    result: Literal["delivered", "retry", "permanent"]
    status: int | None = None
    error: str = ""

    @classmethod
    def delivered(cls, status: int | None = None) -> DeliveryOutcome:
        return cls("delivered", status)

    @classmethod
    def retry(cls, error: str, status: int | None = None) -> DeliveryOutcome:
        return cls("retry", status, error)

    @classmethod
    def permanent(cls, error: str, status: int | None = None) -> DeliveryOutcome:
        return cls("permanent", status, error)


def deliver(message, *, clock: Clock = SYSTEM_CLOCK) -> DeliveryOutcome:
    if message.sink not in SINK_NAMES:
        return DeliveryOutcome.permanent(f"unknown compliance sink {message.sink!r}; expected one of {SINK_NAMES}")
    # Imported on use: boto3 and requests load only in processes that deliver to those sinks.
    sink = import_module(f"reviews.compliance.sinks.{message.sink}")
    return sink.deliver(message, clock=clock)
