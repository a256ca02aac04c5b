"""SNOMED CT -> ICD-10-CM for the B12 concepts problem lists use (the map itself is data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from adapter.terminology.systems import SNOMED

SYSTEM = SNOMED


@dataclass(frozen=True, slots=True)
class SnomedMap:
    """Concepts outside the map are not guessed at: they simply document no ICD-10-CM code."""

    to_icd10cm: Mapping[str, str]

    def lookup(self, concept: str) -> str | None:
        return self.to_icd10cm.get(concept.strip())
