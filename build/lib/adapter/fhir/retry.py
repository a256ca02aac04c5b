"""When and how long to retry a FHIR request.

The policy is data; `send_with_retries` applies it with tenacity. Only transient failures are
retried (429, 502, 503, 504, dropped connections, timeouts), only for idempotent requests, with
exponential backoff and jitter, honouring `Retry-After`, within a bounded number of attempts
and a bounded total time. Sleeping and clocks are injectable so tests never wait.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
import tenacity

logger = logging.getLogger("adapter.fhir")

RETRY_STATUSES = frozenset({429, 502, 503, 504})

# Failures where the request may never have reached the server, or its answer was lost.
RETRY_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def _transient_exception(exc: BaseException) -> bool:
    # A TLS failure is a ConnectionError too, but retrying a bad certificate cannot help.
    return isinstance(exc, RETRY_EXCEPTIONS) and not isinstance(exc, requests.exceptions.SSLError)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and pacing of retries; `sleep`, `clock` and `now` are seams for tests."""

    max_attempts: int = 5
    max_total_seconds: float = 60.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    jitter: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    now: Callable[[], datetime] = field(default=_utc_now, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_total_seconds < 0 or self.backoff_base < 0 or self.jitter < 0:
            raise ValueError("retry times must not be negative")

    def backoff(self, attempt: int) -> float:
        """Exponential wait after failed attempt number `attempt` (1-based), plus jitter."""
        exponential = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return exponential + random.uniform(0, self.jitter)


NO_RETRY = RetryPolicy(max_attempts=1)


def retry_after_seconds(response: requests.Response, now: datetime) -> float | None:
    """Seconds the server asks us to wait (`Retry-After` as seconds or HTTP-date), if any.

    An HTTP-date is measured against the response's own `Date` header when present, so a
    skewed local clock does not stretch or shrink the wait.
    """
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    reference = now
    if server_date := response.headers.get("Date"):
        try:
            reference = parsedate_to_datetime(server_date)
        except (TypeError, ValueError, IndexError):
            reference = now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())


def failure_reason(outcome: tenacity.Future) -> str:
    """A short, secret-free reason for a failed attempt: the status or the exception type."""
    if outcome.failed:
        return type(outcome.exception()).__name__
    return f"HTTP {outcome.result().status_code}"


class _Schedule:
    """The wait before each retry of one request, decided once per attempt.

    tenacity asks `stop` and `wait` separately (in an order that changed between versions);
    both read the same memoised plan so jitter is drawn once and the budget check sees the
    wait that will actually be slept.
    """

    def __init__(self, policy: RetryPolicy, describe: str) -> None:
        self.policy = policy
        self.describe = describe
        self.started = policy.clock()
        self._waits: dict[int, float] = {}

    def wait_for(self, state: tenacity.RetryCallState) -> float:
        attempt = state.attempt_number
        if attempt not in self._waits:
            server_wait = None
            if state.outcome is not None and not state.outcome.failed:
                server_wait = retry_after_seconds(state.outcome.result(), self.policy.now())
            planned = server_wait if server_wait is not None else self.policy.backoff(attempt)
            self._waits[attempt] = planned
        return self._waits[attempt]

    def remaining(self) -> float:
        return self.policy.max_total_seconds - (self.policy.clock() - self.started)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            logger.warning("giving up on %s after %d attempts", self.describe, state.attempt_number)
            return True
        wait, remaining = self.wait_for(state), self.remaining()
        if wait > remaining:
            logger.warning(
                "giving up on %s: wait of %.1f s exceeds the %.1f s left of the retry budget",
                self.describe,
                wait,
                max(0.0, remaining),
            )
            return True
        return False


def send_with_retries(
    send: Callable[[], requests.Response],
    policy: RetryPolicy,
    *,
    idempotent: bool,
    describe: str,
    on_retry: Callable[[], None] = lambda: None,
) -> requests.Response:
    """Call `send` until it gives a non-transient answer; return the last response.

    A transient status that outlives the policy is returned (the caller turns it into an
    error with the server's own text); a transient exception that outlives it is raised.
    Non-idempotent requests get exactly one attempt.
    """
    if not idempotent:
        return send()
    schedule = _Schedule(policy, describe)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        logger.warning(
            "retrying %s after %s (attempt %d of %d), waiting %.1f s",
            describe,
            failure_reason(state.outcome),
            state.attempt_number,
            policy.max_attempts,
            schedule.wait_for(state),
        )
        on_retry()

    retrying = tenacity.Retrying(
        sleep=policy.sleep,
        stop=schedule.stop,
        wait=schedule.wait_for,
        retry=(
            tenacity.retry_if_exception(_transient_exception)
            | tenacity.retry_if_result(lambda r: r.status_code in RETRY_STATUSES)
        ),
        before_sleep=before_sleep,
        retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
    )
    return retrying(send)
