"""ICD-10-CM facts from the CDC tabular bundled in simple-icd-10-cm (April 2026 release).

Validity, billability (leaf codes), titles and "code first" notes are read from that data,
never from a hand-made list, so a new release only needs a new package version.
"""

from __future__ import annotations

import re
from functools import lru_cache

import simple_icd_10_cm as icd

SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
SYSTEMS = frozenset({SYSTEM, "urn:oid:2.16.840.1.113883.6.90"})

_RANGE = re.compile(r"\(([^()]*)\)")
_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def normalize(raw: str) -> str:
    """Upper-case, trim and dot a code (``d510`` -> ``D51.0``); the result may still be invalid."""
    code = raw.strip().upper().replace(" ", "")
    if "." not in code and len(code) > 3 and code[:3].isalnum():
        code = f"{code[:3]}.{code[3:]}"
    return code


@lru_cache(maxsize=4096)
def is_billable(code: str) -> bool:
    """A code is billable when it is a valid leaf of the tabular (not a category or block)."""
    if not _CODE.match(code):
        return False
    return icd.is_valid_item(code) and icd.is_leaf(code)


@lru_cache(maxsize=4096)
def title(code: str) -> str:
    """The tabular title, or '' for a code the tabular does not know."""
    try:
        return icd.get_description(code) if _CODE.match(code) and icd.is_valid_item(code) else ""
    except ValueError:
        return ""


@lru_cache(maxsize=4096)
def code_first_ranges(code: str) -> tuple[tuple[str, str], ...]:
    """The code ranges named in the code's "code first" note (its own or inherited).

    ``(E40-E64)`` gives ``("E40", "E64")``, ``(D51.3)`` gives ``("D51.3", "D51.3")`` and
    ``(D51.-)`` gives ``("D51", "D51")``, to be compared on each bound's own length.
    """
    if not (_CODE.match(code) and icd.is_valid_item(code)):
        return ()
    note = icd.get_code_first(code, search_in_ancestors=True)
    ranges: list[tuple[str, str]] = []
    for group in _RANGE.findall(note):
        for part in group.split(","):
            part = part.strip().rstrip("-").rstrip(".")
            if not part:
                continue
            low, _, high = part.partition("-")
            ranges.append((low.strip(), (high or low).strip()))
    return tuple(ranges)


def in_range(code: str, low: str, high: str) -> bool:
    """Whether ``code`` falls in ``low``-``high``, each bound compared at its own precision."""
    return low <= code[: len(low)] and code[: len(high)] <= high


def is_manifestation_of(code: str, underlying: frozenset[str]) -> bool:
    """True when the code's "code first" note names one of the ``underlying`` codes.

    This is how G63 (via "nutritional deficiency (E40-E64)") and G32.0 (via D51.0, E53.8, ...)
    are found to be manifestations of B12 deficiency, while D63.8 (fish tapeworm, hookworm, ...)
    is not.
    """
    ranges = code_first_ranges(code)
    return any(in_range(u, low, high) for u in underlying for low, high in ranges)
