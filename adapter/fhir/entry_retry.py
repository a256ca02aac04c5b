"""Sending again the entries a server refused for now inside an HTTP 200 batch/transaction.

Servers are not atomic (SERVERS.md): Medplum commits most entries of a transaction and answers
the rest "429" once the client's rate budget runs out mid-way, all in an HTTP 200. Those
entries (429 and 5xx), when idempotent, are sent again in a Bundle of their own after the
window the server announced (its `RateLimit` or `Retry-After` header), else after a backoff,
within the same total budget as the request itself (``RetryPolicy.max_total_seconds``).
Entries still refused when the budget or the attempts run out are returned as refused: the
caller reports them with the server's OperationOutcome.

A resent entry may point at an entry that landed in an earlier round by its ``urn:uuid:``
fullUrl; that reference is rewritten to the ``Type/id`` the server gave the landed entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import requests

from adapter.fhir.bundles import EntryResult, entry_is_idempotent, rewrite_references
from adapter.fhir.errors import FhirError
from adapter.fhir.retry import RetryPolicy, serialization_failure, server_wait_seconds

logger = logging.getLogger("adapter.fhir")

Bundle = dict[str, Any]
# One POST of a Bundle under a retry policy: the HTTP response and the answer to each entry.
PostBundle = Callable[[Bundle, RetryPolicy], tuple[requests.Response, list[EntryResult]]]


def refused_for_now(result: EntryResult) -> bool:
    """An entry status that may succeed later: rate-limited (429), a server failure (5xx) or
    PostgreSQL's serialization failure (409 "could not serialize access")."""
    return result.status is not None and (result.status == 429 or result.status >= 500
                                          or serialization_failure(result.status,
                                                                   result.outcome))


def send_entries_with_retries(post: PostBundle, bundle: Bundle, policy: RetryPolicy, *,
                              describe: str,
                              on_retry: Callable[[int], None] = lambda entries: None,
                              ) -> list[EntryResult]:
    """POST ``bundle``; send its idempotent entries refused for now again until they land or
    the policy runs out. One result per entry of ``bundle``, the last answer for each."""
    started = policy.clock()
    response, answers = post(bundle, policy)
    results = list(answers)
    entries = bundle.get("entry") or []
    attempt = 1
    while True:
        pending = [i for i, result in enumerate(results)
                   if refused_for_now(result) and entry_is_idempotent(entries[i])]
        if not pending:
            return results
        statuses = ", ".join(sorted({str(results[i].status) for i in pending}))
        what = f"{len(pending)} of {len(entries)} entries of {describe} (refused with {statuses})"
        server_wait = server_wait_seconds(response, policy.now())
        wait = server_wait if server_wait is not None else policy.backoff(attempt)
        left = policy.max_total_seconds - (policy.clock() - started)
        if attempt >= policy.max_attempts:
            logger.warning("giving up on %s after %d attempts", what, attempt)
            return results
        if wait > left:
            logger.warning("giving up on %s: wait of %.1f s exceeds the %.1f s left of the "
                           "retry budget", what, wait, max(0.0, left))
            return results
        logger.warning("retrying %s (attempt %d of %d), waiting %.1f s",
                       what, attempt, policy.max_attempts, wait)
        on_retry(len(pending))
        policy.sleep(wait)
        attempt += 1
        resend = {**bundle, "entry": [_pointing_at_landed(entries[i], entries, results)
                                      for i in pending]}
        left = policy.max_total_seconds - (policy.clock() - started)
        try:
            response, answers = post(resend, replace(policy, max_total_seconds=max(0.0, left)))
        except FhirError as exc:  # the resend failed whole: those entries stay refused
            for i in pending:
                results[i] = replace(results[i], status=exc.status, resource=None,
                                     location=None, outcome=exc.outcome or str(exc))
            return results
        for i, answer in zip(pending, answers, strict=True):
            # an entry once sent in a request whose answer never came stays so (``resent``)
            results[i] = replace(answer, resent=True) if results[i].resent else answer


def _pointing_at_landed(entry: dict[str, Any], entries: list[Any],
                        results: list[EntryResult]) -> dict[str, Any]:
    """The entry with references to landed entries' fullUrls replaced by their Type/id."""
    landed = {}
    for sent, result in zip(entries, results, strict=True):
        full_url = sent.get("fullUrl") if isinstance(sent, dict) else None
        if isinstance(full_url, str) and result.target:
            landed[full_url] = result.target
    if not landed or not isinstance(entry.get("resource"), dict):
        return entry
    return {**entry, "resource": rewrite_references(entry["resource"], landed)}
