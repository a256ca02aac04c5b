"""The FHIR R4 status codes of the elements the checks read (required bindings), and how a
status written otherwise is read.

Servers store codes unvalidated (SERVERS.md: ``status: "bogus"`` is stored), and a status is
compared with fixed sets (``adapter.rules.status``): "Refuted" was not "refuted", so a refuted
Condition counted as confirmed, and "final " left a lab unusable with nothing said. A status is
read trimmed and lower-cased; one that is then no code of its value set is an error naming the
resource and the element (SPEC 7: an unknown code is reported), never a status read as another.
"""

from __future__ import annotations

CLINICAL = frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"})
VERIFICATION = frozenset({"unconfirmed", "provisional", "differential", "confirmed", "refuted",
                          "entered-in-error"})
OBSERVATION = frozenset({"registered", "preliminary", "final", "amended", "corrected",
                         "cancelled", "entered-in-error", "unknown"})
# by resource type: the medication uses and the injection procedures
EVENT = {
    "MedicationAdministration": frozenset({"in-progress", "not-done", "on-hold", "completed",
                                           "entered-in-error", "stopped", "unknown"}),
    "MedicationRequest": frozenset({"active", "on-hold", "cancelled", "completed",
                                    "entered-in-error", "stopped", "draft", "unknown"}),
    "MedicationStatement": frozenset({"active", "completed", "entered-in-error", "intended",
                                      "stopped", "on-hold", "unknown", "not-taken"}),
    "Procedure": frozenset({"preparation", "in-progress", "not-done", "on-hold", "stopped",
                            "completed", "entered-in-error", "unknown"}),
}
CLAIM = frozenset({"active", "cancelled", "draft", "entered-in-error"})  # and the EOB's
GENDER = frozenset({"male", "female", "other", "unknown"})  # Patient.gender (administrative)
CLAIM_USE = frozenset({"claim", "preauthorization", "predetermination"})


def normalized(code: str) -> str:
    """A status as the rules compare it: trimmed and lower-cased ("Final " is final)."""
    return code.strip().lower()


def unknown(element: str, code: str, allowed: frozenset[str]) -> str:
    """The problem of a status that is no code of ``allowed``, for a ``BadResource``."""
    return (f"{element} {code!r} is not one of its FHIR codes ({', '.join(sorted(allowed))}): "
            "what it says cannot be told")
