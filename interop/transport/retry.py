"""When to retry an HTTP request, and how long to wait: one policy for the FHIR client.

Only idempotent requests are retried (GET, HEAD, PUT, DELETE, a conditional create, a
transaction made only of those), on 429/502/503/504, connection failures and timeouts.
The wait honours ``Retry-After`` (seconds or an HTTP date); otherwise it is exponential
backoff with full jitter. ``max_retries`` bounds the count, ``budget`` the total time spent
waiting: a ``Retry-After`` that would cross the budget is not waited for, the failure is
reported instead.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "parse_retry_after"]

#: statuses that say "try again later" rather than "this request is wrong"
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry an idempotent request.

    ``backoff`` is the first wait in seconds, doubled per attempt up to ``max_backoff``;
    a random fraction of it is taken (full jitter) so clients do not retry in step.
    ``sleep``, ``clock`` and ``random`` are replaceable for tests.
    """

    max_retries: int = 3
    budget: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def delay(self, attempt: int, retry_after: float | None, started: float) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up.

        ``attempt`` counts from 1; ``started`` is ``clock()`` when the first attempt began.
        """
        if attempt > self.max_retries:
            return None
        if retry_after is not None:
            wait = max(0.0, retry_after)
        else:
            ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            # full jitter, but never less than a tenth of the ceiling: a zero wait would hammer
            wait = ceiling * (0.1 + 0.9 * self.random())
        if self.clock() - started + wait > self.budget:
            return None
        return wait


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or
    unreadable. A date in the past gives 0."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)
