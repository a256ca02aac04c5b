"""Da Vinci CRD coverage information already on a draft order.

When a payer's CRD service has answered before this one, the order carries its
``ext-coverage-information`` extension(s): whether the service is covered, whether prior
authorization or documentation is needed (``doc-needed``: clinical, admin, patient,
conditional) and name-value details, among them ``allowed-quantity`` (a Quantity: how many,
possibly per period, e.g. UCUM ``/mo``). The service reads them so that its cards say what the
payer asks for, and, when the payer limits how often, counts the injections the chart already
has in that period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from adapter.evidence.fields import is_object, text

EXTENSION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
# UCUM "per period" units a payer writes an allowed quantity in, as days
PER_PERIOD_DAYS = {"/d": 1, "/wk": 7, "/mo": 30, "/a": 365, "/yr": 365,
                   "/day": 1, "/week": 7, "/month": 30, "/year": 365}
PERIOD_WORDS = {1: "day", 7: "week", 30: "30 days", 365: "year"}


@dataclass(frozen=True)
class Limit:
    """At most ``count`` in ``days`` days."""

    count: float
    days: int

    def describe(self) -> str:
        count = int(self.count) if float(self.count).is_integer() else self.count
        return f"{count} per {PERIOD_WORDS.get(self.days, f'{self.days} days')}"


@dataclass(frozen=True)
class CoverageInfo:
    covered: str | None = None
    pa_needed: str | None = None
    doc_needed: tuple[str, ...] = ()
    limit: Limit | None = None

    def describe(self) -> str:
        """One sentence for a card's detail."""
        parts = []
        if self.covered:
            parts.append(f"coverage: {self.covered}")
        if self.pa_needed:
            parts.append(f"prior authorization: {self.pa_needed}")
        if self.doc_needed:
            parts.append(f"documentation needed: {', '.join(self.doc_needed)}")
        if self.limit:
            parts.append(f"allowed: {self.limit.describe()}")
        return "The payer's coverage information on this order says " + "; ".join(parts) + "."


def read(order: Mapping[str, Any]) -> CoverageInfo | None:
    """The order's CRD coverage information (several extensions merged), or None. Read
    leniently: a part that is not what the extension defines is passed over."""
    found = [e for e in _objects(order.get("extension")) if e.get("url") == EXTENSION]
    if not found:
        return None
    covered = pa_needed = None
    docs: list[str] = []
    limit = None
    for extension in found:
        for part in _objects(extension.get("extension")):
            url, code = part.get("url"), part.get("valueCode")
            code = text(code) if isinstance(code, str) else None  # said on the cards
            if url == "covered" and code:
                covered = code
            elif url == "pa-needed" and code:
                pa_needed = code
            elif url == "doc-needed" and code and code not in docs:
                docs.append(code)
            elif url == "detail":
                limit = _limit(part) or limit
    info = CoverageInfo(covered, pa_needed, tuple(docs), limit)
    return info if (covered or pa_needed or docs or limit) else None


def _limit(detail: Mapping[str, Any]) -> Limit | None:
    codes: set[str] = set()
    value = None
    for part in _objects(detail.get("extension")):
        concept = part.get("valueCodeableConcept")
        if part.get("url") == "code" and is_object(concept):
            codes = {c["code"] for c in _objects(concept.get("coding"))
                     if isinstance(c.get("code"), str)}
        elif part.get("url") == "value" and is_object(part.get("valueQuantity")):
            value = part["valueQuantity"]
    if "allowed-quantity" not in codes or value is None:
        return None
    count, unit = value.get("value"), value.get("code") or value.get("unit")
    if isinstance(count, bool) or not isinstance(count, int | float) or count <= 0:
        return None
    days = PER_PERIOD_DAYS.get(unit) if isinstance(unit, str) else None
    return Limit(float(count), days) if days else None


def _objects(value: object) -> list[Mapping[str, Any]]:
    """The objects of a repeating element; nothing when it is not a list."""
    return [v for v in value if is_object(v)] if isinstance(value, list) else []


def injections_in_period(days: Sequence[date], on: date, limit: Limit) -> int:
    """How many of the given injection days fall in the ``limit.days`` before ``on``
    (the order's day counts as one more)."""
    start = on - timedelta(days=limit.days - 1)
    return sum(1 for day in days if start <= day <= on)
