"""What to write to the server for a page of results: a plan, then one transaction Bundle.

The plan is pure (results + the issues already on the server -> creates, updates, cancels),
so idempotency is tested without a server: an unchanged finding writes nothing, a changed
one updates its issue in place, and a finding that no longer holds is cancelled.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from adapter.output.detected_issue import (
    IDENTIFIER_SYSTEM,
    build_detected_issue,
    cancel,
    issue_key,
    key_of,
)
from adapter.output.report import ClaimResult

# What makes two versions of an issue "the same": not the time it was identified, not meta.
_COMPARED = ("status", "code", "severity", "patient", "implicated", "evidence", "detail",
             "identifier")


def fingerprint(issue: dict[str, Any]) -> str:
    return json.dumps({k: issue.get(k) for k in _COMPARED}, sort_keys=True)


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
        entries = self.transaction()["entry"]
        return [{"resourceType": "Bundle", "type": "transaction",
                 "entry": entries[start:start + max_entries]}
                for start in range(0, len(entries), max(1, max_entries))]

    def transaction(self) -> dict[str, Any]:
        """Conditional creates on the stable identifier; updates and cancels by server id."""
        entries = []
        for issue in self.creates:
            body = {k: v for k, v in issue.items() if k != "id"}
            condition = quote(f"{IDENTIFIER_SYSTEM}|{key_of(issue)}", safe="")
            entries.append({
                "fullUrl": f"urn:uuid:{issue['id'].removeprefix('b12-')}",
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
        if key and issue.get("id"):
            on_server[key] = issue
    plan = WritePlan()
    wanted: set[str] = set()
    checked: set[str] = set()
    for result in results:
        checked.add(result.claim)
        for finding in result.findings:
            key = issue_key(result.claim, finding)
            wanted.add(key)
            issue = build_detected_issue(result, finding, identified)
            current = on_server.get(key)
            if current is None:
                plan.creates.append(issue)
            elif fingerprint(issue) == fingerprint(current):
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
