"""Which parts of a patient's record the evidence is built from, as searches a server can run.

Data for the server source: it fills in a page's patients and runs them in one batch. Kept
beside the readers, so a reader that learns a new resource type adds its search here.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.mappings import Mappings
from adapter.terminology.systems import LOINC


@dataclass(frozen=True)
class RecordSearch:
    """Search ``resource_type`` with ``params``; ``by`` takes the page's patients (as
    ``Patient/x`` references, or as bare ids for ``_id``)."""

    resource_type: str
    params: tuple[tuple[str, str], ...] = ()
    by: str = "patient"


def record_searches(mappings: Mappings) -> tuple[RecordSearch, ...]:
    """Conditions; the mapped labs only; every administration, request and statement with
    the Medication resources they name (the drug may be there: Epic); the injection
    procedures only; the patients."""
    labs = ",".join(f"{LOINC}|{code}" for code in mappings.labs_by_loinc)
    injections = ",".join(f"{system}|{code}"
                          for system, codes in mappings.drugs.injection_procedures.codes.items()
                          for code in sorted(codes))
    return (
        RecordSearch("Condition"),
        RecordSearch("Observation", (("code", labs),)),
        *(RecordSearch(rtype, (("_include", f"{rtype}:medication"),))
          for rtype in ("MedicationAdministration", "MedicationRequest", "MedicationStatement")),
        RecordSearch("Procedure", (("code", injections),)),
        RecordSearch("Patient", by="_id"),
    )


# Claims point at these explicitly; what a patient search missed is read by id.
LINKED_TYPES = frozenset({"Condition", "Observation"})
