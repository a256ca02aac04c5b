"""Errors the service answers with: an HTTP status and a FHIR OperationOutcome naming the
resource and the problem (the same words the CLI would print)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapter.outcomes import Problem

FHIR_JSON = "application/fhir+json"


class ServiceError(Exception):
    """A request the service refuses or could not complete; ``status`` is the HTTP status,
    ``code`` the OperationOutcome issue code (invalid, not-supported, too-costly, ...)."""

    def __init__(self, status: int, message: str, code: str = "invalid",
                 problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.problems = tuple(problems)

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.message, self.code, self.problems)


def operation_outcome(message: str, code: str = "invalid",
                      problems: Sequence[Problem] = (), severity: str = "error"
                      ) -> dict[str, Any]:
    """One issue for the message, then one per problem, each naming its resource."""
    issues: list[dict[str, Any]] = [
        {"severity": severity, "code": code, "diagnostics": message}]
    issues += [{"severity": severity, "code": "processing",
                "diagnostics": f"{p.resource}: {p.message}"} for p in problems]
    return {"resourceType": "OperationOutcome", "issue": issues}
