"""When and how long to retry a FHIR request.

The policy is data; `send_with_retries` applies it with tenacity. Only transient failures are
retried (429, 502, 503, 504, PostgreSQL's 409 "could not serialize access", dropped
connections, timeouts), only for idempotent requests,
after the window the server announced (`Retry-After`, the IETF `RateLimit` header Medplum
sends, or the `_msBeforeNext` of its 429 body), else with exponential backoff and jitter,
within a bounded number of attempts and a total time budget (``--retry-budget``). Sleeping
and clocks are injectable so tests never wait.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
import tenacity

logger = logging.getLogger("adapter.fhir")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
from adapter.fhir.limits import DEFAULT_RETRY_BUDGET  # noqa: E402  (re-exported)

# Failures where the request may never have reached the server, or its answer was lost.
RETRY_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


# PostgreSQL's serialization failure, answered 409 by Medplum: transient (the same request
# succeeds once the concurrent transaction is done), unlike a 409 version conflict.
SERIALIZATION_FAILURE = "could not serialize access"


def serialization_failure(status: int | None, text: str) -> bool:
    return status == 409 and SERIALIZATION_FAILURE in text


def _transient_response(response: requests.Response) -> bool:
    if response.status_code in RETRY_STATUSES:
        return True
    return response.status_code == 409 and len(response.content or b"") < 64_000 \
        and serialization_failure(409, response.text or "")


def _transient_exception(exc: BaseException) -> bool:
    # A TLS failure is a ConnectionError too, but retrying a bad certificate cannot help.
    return isinstance(exc, RETRY_EXCEPTIONS) and not isinstance(exc, requests.exceptions.SSLError)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and pacing of retries; `sleep`, `clock` and `now` are seams for tests."""

    max_attempts: int = 5
    # The most time one request (with its refused entries) may spend waiting to get through.
    # Medplum announces rate-limit windows of up to 60 s; two of them fit.
    max_total_seconds: float = DEFAULT_RETRY_BUDGET
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    jitter: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    now: Callable[[], datetime] = field(default=_utc_now, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not all(math.isfinite(t) and t >= 0
                   for t in (self.max_total_seconds, self.backoff_base, self.jitter)):
            raise ValueError("retry times must be finite and not negative")  # nan never waited

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


def rate_limit_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds until an exhausted rate-limit window resets, from the IETF RateLimit header.

    Medplum sends the structured form ``RateLimit: "fhirInteractions";r=0;t=58`` (``r``
    remaining, ``t`` seconds to reset); earlier drafts sent ``RateLimit: limit=10,
    remaining=0, reset=58`` or separate ``RateLimit-Remaining`` / ``RateLimit-Reset``
    headers. Only windows with nothing remaining count; the longest of them is returned.
    """
    policies: list[dict[str, str]] = []
    if value := headers.get("RateLimit", "").strip():
        members = [m.strip() for m in _split_outside_quotes(value, ",") if m.strip()]
        if members and all(_is_pair(m) and ";" not in m for m in members):  # older form
            named = dict(_pair(m) for m in members)
            policies.append({"r": named.get("remaining", ""), "t": named.get("reset", "")})
        for member in members:
            _name, *params = _split_outside_quotes(member, ";")
            if params:
                policies.append(dict(_pair(p) for p in params if _is_pair(p)))
    if reset := headers.get("RateLimit-Reset", "").strip():
        policies.append({"r": headers.get("RateLimit-Remaining", "").strip(), "t": reset})
    waits = []
    for policy in policies:
        remaining, reset = _number(policy.get("r")), _number(policy.get("t"))
        if reset is not None and (remaining is None or remaining <= 0):
            waits.append(max(0.0, reset))
    return max(waits) if waits else None


def ms_before_next_seconds(response: requests.Response) -> float | None:
    """Seconds from the ``_msBeforeNext`` of a refused response's JSON body (Medplum's 429:
    ``{"_remainingPoints":0,"_msBeforeNext":37414,...}``). Bodies of successful responses
    are not read (a transaction response can be large)."""
    if 200 <= response.status_code < 300 or len(response.content or b"") > 64_000:
        return None
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    wait = _number(body.get("_msBeforeNext")) if isinstance(body, dict) else None
    return None if wait is None else max(0.0, wait / 1000)


def server_wait_seconds(response: requests.Response, now: datetime) -> float | None:
    """The wait the server announced, by any of the ways servers announce it; when several
    are given the longest wins (retrying before any of them ends would be refused again)."""
    waits = [wait for wait in (retry_after_seconds(response, now),
                               rate_limit_seconds(response.headers),
                               ms_before_next_seconds(response)) if wait is not None]
    return max(waits) if waits else None


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    return re.split(rf'{separator}(?=(?:[^"]*"[^"]*")*[^"]*$)', text)


def _is_pair(text: str) -> bool:
    return "=" in text


def _pair(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name.strip().lower(), value.strip().strip('"')


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


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
                server_wait = server_wait_seconds(state.outcome.result(), self.policy.now())
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
            | tenacity.retry_if_result(_transient_response)
        ),
        before_sleep=before_sleep,
        retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
    )
    return retrying(send)
