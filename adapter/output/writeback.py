"""Write-back: a page's findings become DetectedIssue writes on the server, idempotently.

The plan is pure (results + the issues already on the server -> creates, updates, cancels),
so idempotency is tested without a server: an unchanged finding writes nothing, a changed
one updates its issue in place, and a finding that no longer holds is cancelled. The sink
``WriteBack`` asks for the page's earlier issues in the page's own batch, sends the plan in
transactions and counts what the server confirmed, entry by entry, never what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from adapter.driver import Sink
from adapter.fhir import EntryResult, FhirClient, FhirError, Query
from adapter.fhir.guard import ID_RE
from adapter.outcomes import ClaimResult, PageOutcome, Problem
from adapter.output.detected_issue import (
    CLAIM_SYSTEM,
    IDENTIFIER_SYSTEM,
    build_detected_issue,
    cancel,
    issue_key,
    issue_urn,
    key_of,
)

EARLIER_ISSUES = "earlier-issues"  # the name of write-back's search in a page's batch

# What makes two versions of an issue "the same": not the time it was identified, not meta.
_COMPARED = ("status", "code", "severity", "patient", "implicated", "evidence", "detail",
             "identifier")


def fingerprint(issue: dict[str, Any]) -> str:
    return json.dumps({k: issue.get(k) for k in _COMPARED}, sort_keys=True)


def same_issue(issue: dict[str, Any], current: dict[str, Any], claim: str) -> bool:
    """Whether ``issue`` says what ``current`` says. The claim's version in ``implicated`` is
    compared only when both name one: a claim read from the server carries its version, the
    same claim handed in (a full-resource notification, a posted Claim) may not, and a
    notification redelivered in the other form must change nothing (issue 25)."""
    if fingerprint(issue) == fingerprint(current):
        return True
    if _claim_version(issue, claim) is not None and _claim_version(current, claim) is not None:
        return False
    return fingerprint(_unversioned(issue, claim)) == fingerprint(_unversioned(current, claim))


def _claim_version(issue: dict[str, Any], claim: str) -> str | None:
    for item in issue.get("implicated") or []:
        ref = item.get("reference") if isinstance(item, dict) else None
        if isinstance(ref, str) and ref.startswith(f"{claim}/_history/"):
            return ref.removeprefix(f"{claim}/_history/")
    return None


def _unversioned(issue: dict[str, Any], claim: str) -> dict[str, Any]:
    implicated = [{**item, "reference": claim}
                  if isinstance(item, dict) and isinstance(item.get("reference"), str)
                  and item["reference"].startswith(f"{claim}/_history/") else item
                  for item in issue.get("implicated") or []]
    return {**issue, "implicated": implicated}


def _claim_of(key: str) -> str:
    return key.split(":", 1)[0]


@dataclass
class WritePlan:
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    cancels: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0

    def __bool__(self) -> bool:
        return bool(self.creates or self.updates or self.cancels)

    def transactions(self, max_entries: int) -> list[dict[str, Any]]:
        """The writes in transaction Bundles of at most ``max_entries`` entries each.

        Servers cap transactions (Medplum: 8 entries when any is conditional, 50 updates);
        every entry is idempotent, so a later chunk failing after an earlier one landed is
        repaired by simply running again.
        """
        return [bundle for _, bundle in self.chunks(max_entries)]

    def chunks(self, max_entries: int) -> list[tuple[int, dict[str, Any]]]:
        """``transactions``, each with the index of its first write (see ``kinds``)."""
        entries = self.transaction()["entry"]
        size = max(1, max_entries)
        return [(start, {"resourceType": "Bundle", "type": "transaction",
                         "entry": entries[start:start + size]})
                for start in range(0, len(entries), size)]

    def kinds(self) -> list[tuple[str, str]]:
        """(create|update|cancel, finding identifier) of each write, in transaction order."""
        return ([("create", key_of(i) or "?") for i in self.creates]
                + [("update", key_of(i) or "?") for i in self.updates]
                + [("cancel", key_of(i) or "?") for i in self.cancels])

    def transaction(self) -> dict[str, Any]:
        """Conditional creates on the stable identifier; updates and cancels by server id."""
        entries = []
        for issue in self.creates:
            body = {k: v for k, v in issue.items() if k != "id"}
            condition = quote(f"{IDENTIFIER_SYSTEM}|{key_of(issue)}", safe="")
            entries.append({
                "fullUrl": issue_urn(issue["id"]),
                "resource": body,
                "request": {"method": "POST", "url": "DetectedIssue",
                            "ifNoneExist": f"identifier={condition}"},
            })
        for issue in self.updates + self.cancels:
            entries.append({
                "resource": issue,
                "request": {"method": "PUT", "url": f"DetectedIssue/{issue['id']}"},
            })
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    def describe(self) -> list[str]:
        """One line per write, for ``--dry-run``."""
        return ([f"create DetectedIssue {key_of(i)}" for i in self.creates]
                + [f"update DetectedIssue/{i['id']} {key_of(i)}" for i in self.updates]
                + [f"cancel DetectedIssue/{i['id']} {key_of(i)}" for i in self.cancels])


def plan_writes(
    results: Iterable[ClaimResult],
    existing: Iterable[dict[str, Any]],
    identified: datetime,
    cancelled_claims: dict[str, str] | None = None,
) -> WritePlan:
    """Compare this run's findings with the issues already written for the same claims.

    ``cancelled_claims`` maps claims that are no longer checked (cancelled, entered in error)
    to the reason; their open issues are cancelled too.
    """
    on_server: dict[str, dict[str, Any]] = {}
    for issue in existing:
        key = key_of(issue)
        if key and isinstance(issue.get("id"), str) and ID_RE.fullmatch(issue["id"]):
            on_server[key] = issue  # an id that is not a FHIR id never goes into a URL
    plan = WritePlan()
    wanted: set[str] = set()
    checked: set[str] = set()
    for result in results:
        checked.add(result.claim)
        for finding in result.findings:
            key = issue_key(result, finding)
            wanted.add(key)
            issue = build_detected_issue(result, finding, identified)
            current = on_server.get(key)
            if current is None:
                plan.creates.append(issue)
            elif same_issue(issue, current, result.claim):
                plan.unchanged += 1
            else:
                plan.updates.append({**issue, "id": current["id"]})
    reasons = {claim: "the claim no longer has this finding" for claim in checked}
    reasons.update(cancelled_claims or {})
    for key, issue in on_server.items():
        claim = _claim_of(key)
        if key in wanted or claim not in reasons or issue.get("status") == "cancelled":
            continue
        plan.cancels.append(cancel(issue, reasons[claim], identified))
    return plan


@dataclass
class WriteTotals:
    """What the server confirmed (entry by entry), and what it did not."""

    created: int = 0
    updated: int = 0
    cancelled: int = 0
    unchanged: int = 0  # nothing to write, or a conditional create that found another's issue
    failed: int = 0  # entries the server refused, or transactions that failed whole
    planned: list[str] = field(default_factory=list)  # --dry-run: the writes not made


class WriteBack(Sink):
    """Sends each page's plan to the server; ``problems`` lists every write that failed."""

    def __init__(self, client: FhirClient, *, dry_run: bool = False, max_entries: int = 50,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.client = client
        self.dry_run = dry_run
        self.max_entries = max_entries
        self.clock = clock
        self.totals = WriteTotals()
        self.problems: list[Problem] = []

    @property
    def all_landed(self) -> bool:
        return self.totals.failed == 0

    def queries(self, claims: Sequence[str]) -> Mapping[str, Query]:
        if not claims:
            return {}
        values = ",".join(f"{CLAIM_SYSTEM}|{claim}" for claim in claims)
        return {EARLIER_ISSUES: Query("DetectedIssue", (("identifier", values),))}

    def write(self, page: PageOutcome) -> None:
        if not page.complete:
            return  # nothing on the page was judged: leave its issues as they are
        skipped = {o.claim: f"claim skipped: {o.skipped}" for o in page.claims if o.skipped}
        plan = plan_writes(page.results, page.found.get(EARLIER_ISSUES, []), self.clock(),
                           skipped)
        self.totals.unchanged += plan.unchanged
        if not plan:
            return
        if self.dry_run:
            self.totals.planned += plan.describe()
            return
        kinds = plan.kinds()
        for start, bundle in plan.chunks(self.max_entries):
            try:
                results = self.client.transaction(bundle)
            except FhirError as exc:  # refused whole: say whose issues were not written
                keys = [key for _, key in kinds[start:start + len(bundle["entry"])]]
                claims = ", ".join(dict.fromkeys(key.partition(":")[0] for key in keys))
                self.totals.failed += len(keys)
                self.problems.append(Problem("DetectedIssue transaction", (
                    f"{exc}; not written: {len(keys)} DetectedIssue write(s) of {claims}")))
                continue
            for (kind, key), result in zip(kinds[start:start + len(results)], results,
                                           strict=True):
                self._count(kind, key, result)

    def _count(self, kind: str, key: str, result: EntryResult) -> None:
        totals = self.totals
        if not result.ok:
            totals.failed += 1
            self.problems.append(Problem(f"DetectedIssue {key}", str(result.error())))
        elif kind == "create":
            # The page's search found no issue of this identifier before the first attempt
            # (else it would be no create): a 200 to a create sent again after an attempt
            # whose answer never came finds what that attempt created. A 200 to a create
            # sent once finds one another writer made since the search.
            if result.status == 201 or result.resent:
                totals.created += 1
            else:
                totals.unchanged += 1
        elif kind == "update":
            totals.updated += 1
        else:
            totals.cancelled += 1
