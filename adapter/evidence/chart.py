"""The patients' records a run checks claims against, indexed by patient and by reference.

Holds facts, not resources: a 100k-claim export keeps only the few B12-relevant facts of each
patient in memory, and a server source fills one chart per page of claims.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from adapter.evidence.facts import AdministrationFact, ConditionFact, LabFact, PatientFact
from adapter.evidence.fields import BadResource, normalize_reference, ref_of
from adapter.evidence.read import (
    read_administration,
    read_condition,
    read_observation,
    read_patient,
)
from adapter.mappings import Mappings

CHART_TYPES = frozenset({"Condition", "Observation", "MedicationAdministration", "Patient"})


class Chart:
    """Facts by patient and by reference, plus the problems met while reading them."""

    def __init__(self, mappings: Mappings, aliases: Mapping[str, str] | None = None) -> None:
        self.mappings = mappings
        self.aliases = aliases if aliases is not None else {}  # shared: a source may add more
        self.conditions: dict[str, list[ConditionFact]] = defaultdict(list)
        self.labs: dict[str, list[LabFact]] = defaultdict(list)
        self.administrations: dict[str, list[AdministrationFact]] = defaultdict(list)
        self.patients: dict[str, PatientFact] = {}
        self.by_ref: dict[str, ConditionFact | LabFact | AdministrationFact] = {}
        self.known: set[str] = set()  # every chart resource seen, relevant or not
        self.problems: list[BadResource] = []

    def canonical(self, ref: str) -> str:
        """``Type/id`` for a reference, resolving ``urn:uuid:`` fullUrls of Bundle entries."""
        if not self.aliases:  # no Bundle fullUrls (an NDJSON export): nothing to resolve
            return ref
        return self.aliases.get(ref) or self.aliases.get(normalize_reference(ref)) or ref

    def add(self, resource: Mapping[str, Any]) -> None:
        """Read one resource into the chart; a malformed one becomes a problem, not a crash."""
        rtype = resource.get("resourceType")
        if rtype not in CHART_TYPES:
            return
        ref = ref_of(resource)
        self.known.add(ref)
        try:
            if rtype == "Condition":
                condition = read_condition(resource, self.mappings)
                self._index(condition, self.conditions)
            elif rtype == "Observation":
                lab = read_observation(resource, self.mappings)
                if lab is not None:
                    self._index(lab, self.labs)
            elif rtype == "MedicationAdministration":
                admin = read_administration(resource, self.mappings, self.problems)
                if admin is not None:
                    self._index(admin, self.administrations)
            else:
                patient = read_patient(resource)
                self.patients[patient.ref] = patient
        except BadResource as exc:
            self.problems.append(exc)

    def _index(self, fact: Any, by_patient: dict[str, list[Any]]) -> None:
        if fact.patient is not None:
            by_patient[self.canonical(fact.patient)].append(fact)
        self.by_ref[fact.ref] = fact

    def lookup(self, ref: str) -> ConditionFact | LabFact | AdministrationFact | None:
        return self.by_ref.get(self.canonical(ref))

    def has(self, ref: str) -> bool:
        return self.canonical(ref) in self.known
