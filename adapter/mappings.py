"""The data in ``mappings/``: loaded and validated once, then handed to rules as plain values.

The repository keeps the files in ``mappings/`` at its top; the wheel ships them as the
package ``adapter.mappings_data`` (see pyproject.toml), so they are read the same way from a
checkout and from an installed wheel: ``importlib.resources``. This is the one loader of
that folder, thresholds included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Literal

from adapter.shape import ShapeError, flag, positive, string, strings, sub, table
from adapter.terminology.codes import CodeSet
from adapter.terminology.ndc import ndc_products
from adapter.terminology.snomed import SnomedMap
from adapter.terminology.systems import RXNORM
from adapter.thresholds import Thresholds

DATA_PACKAGE = "adapter.mappings_data"


class MappingsError(RuntimeError):
    """A file in mappings/ is missing or malformed: nothing can be checked without it."""


@dataclass(frozen=True, slots=True)
class LabKind:
    """What a group of LOINC codes measures and which direction is abnormal."""

    name: str
    unit: str
    abnormal_when: Literal["low", "high"]
    b12_status: bool


@dataclass(frozen=True, slots=True)
class Wording:
    """Words (lower case) and SNOMED codes that tell what an E53.8 Condition is about."""

    b12_words: tuple[str, ...]
    other_words: tuple[str, ...]
    b12_snomed: frozenset[str]


@dataclass(frozen=True, slots=True)
class CodeSets:
    """The named ICD-10-CM sets of SPEC section 4."""

    b12_diagnoses: frozenset[str]
    b12_anemias: CodeSet
    causes: CodeSet
    lifelong_causes: CodeSet
    ladder: dict[str, int]
    history: dict[str, CodeSet]
    symptoms: dict[str, str]
    e53_8_wording: Wording
    assessment_categories: frozenset[str]
    manifestation_note_words: tuple[str, ...]
    manifestation_excluded: CodeSet


@dataclass(frozen=True, slots=True)
class CodesAndWords:
    """Codes by system, and words (lower case) for when nothing is coded."""

    codes: dict[str, frozenset[str]]
    words: tuple[str, ...]

    def has(self, system: str, code: str) -> bool:
        return code in self.codes.get(system, ())


@dataclass(frozen=True, slots=True)
class DrugCodes:
    """Codes that make a claim item or a medication a B12 injection, and the drugs around it."""

    j3420_code: str
    j3420_systems: frozenset[str]
    mcg_per_unit: float
    rxnorm: dict[str, float]
    ndc_products: dict[str, float]  # 9-digit product code (5-4 of the 11-digit NDC) -> ug/mL
    keywords: tuple[str, ...]
    dose_units: dict[str, float]
    self_administered: CodesAndWords  # routes and dose forms of oral, sublingual, nasal use
    injection_procedures: CodesAndWords  # Procedure codes of an IM/SC injection
    premedicated: dict[str, CodesAndWords]  # drug name -> RxNorm codes and names

    def ndc_strength(self, ndc: str) -> float | None:
        """Micrograms per mL of a package or product NDC in any of its written forms."""
        return next((strength for product in ndc_products(ndc)
                     if (strength := self.ndc_products.get(product)) is not None), None)


@dataclass(frozen=True, slots=True)
class Mappings:
    codes: CodeSets
    labs_by_loinc: dict[str, LabKind]
    lab_units: dict[str, dict[str, float]]
    unit_when_unstated: dict[str, str]  # LOINC -> the unit of a bare number in valueString
    ucum_systems: frozenset[str]
    snomed: SnomedMap
    drugs: DrugCodes
    thresholds: Thresholds  # the defaults; a user's --config overrides them (adapter.config)


def data_root() -> Traversable:
    """The mapping files, wherever the package is installed."""
    return files(DATA_PACKAGE)


def _read(root: Traversable, name: str) -> dict[str, Any]:
    path = root / name
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise MappingsError(f"{path}: mapping file is missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingsError(f"{path}: cannot read mapping file ({exc})") from exc
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MappingsError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise MappingsError(f"{path}: (file): must be a table of settings")
    return data


def _entries(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _lower(words: list[str]) -> tuple[str, ...]:
    return tuple(w.lower() for w in words)


def _codes_and_words(data: Mapping[str, Any], where: str) -> CodesAndWords:
    codes = sub(data, "codes", where)
    return CodesAndWords(
        {system: frozenset(strings(codes, system, f"{where}.codes")) for system in codes},
        _lower(strings(data, "text_keywords", where)) if "text_keywords" in data else ())


def _ndc_products(products: Mapping[str, Any]) -> dict[str, float]:
    """Product NDCs as written in drugs.json (labeler-product) -> their 9-digit form."""
    found: dict[str, float] = {}
    for written, entry in _entries(products).items():
        normal = ndc_products(written)
        if len(normal) != 1:
            raise ShapeError(f"ndc.products.{written}: not a labeler-product NDC")
        found[normal[0]] = positive(table(entry, f"ndc.products.{written}"), "ug_per_ml",
                                    f"ndc.products.{written}")
    return found


def _icd(data: Mapping[str, Any]) -> CodeSets:
    b12 = strings(data, "b12_diagnoses")
    ladder = {code: int(rank)
              for code, rank in _entries(sub(data, "specificity_ladder")).items()}
    if set(ladder) != set(b12):
        raise ShapeError("specificity_ladder: must rank exactly the b12_diagnoses")
    wording = sub(data, "e53_8_wording")
    manifestations = sub(data, "manifestations")
    history = sub(data, "history_codes")
    return CodeSets(
        b12_diagnoses=frozenset(b12),
        b12_anemias=CodeSet.parse(strings(data, "b12_anemias")),
        causes=CodeSet.parse(strings(data, "causes")),
        lifelong_causes=CodeSet.parse(strings(data, "lifelong_causes")),
        ladder=ladder,
        history={code: CodeSet.parse(strings(history, code, "history_codes"))
                 for code in _entries(history)},
        symptoms={code: str(t) for code, t in _entries(sub(data, "symptom_codes")).items()},
        e53_8_wording=Wording(
            _lower(strings(wording, "b12_words", "e53_8_wording")),
            _lower(strings(wording, "other_words", "e53_8_wording")),
            frozenset(strings(wording, "b12_snomed", "e53_8_wording"))),
        assessment_categories=frozenset(strings(sub(data, "assessment_categories"), "codes",
                                                "assessment_categories")),
        manifestation_note_words=_lower(strings(manifestations, "note_words", "manifestations")),
        manifestation_excluded=CodeSet.parse(strings(manifestations, "excluded",
                                                     "manifestations")),
    )


def _labs(data: Mapping[str, Any]) -> dict[str, Any]:
    """The lab fields of ``Mappings``: kinds by LOINC, unit factors, units of bare values,
    UCUM systems."""
    units = {unit: {name: positive(table(factors, f"units.{unit}"), name, f"units.{unit}")
                    for name in factors}
             for unit, factors in sub(data, "units").items()}
    by_loinc: dict[str, LabKind] = {}
    for name, kind in sub(data, "kinds").items():
        where = f"kinds.{name}"
        kind = table(kind, where)
        unit = string(kind, "unit", where)
        if unit not in units:
            raise ShapeError(f"{where}.unit: no unit factors for {unit}")
        direction = string(kind, "abnormal_when", where)
        if direction not in ("low", "high"):
            raise ShapeError(f"{where}.abnormal_when: must be low or high")
        fact = LabKind(name, unit, direction,  # type: ignore[arg-type]
                       flag(kind, "b12_status", where))
        by_loinc.update({loinc: fact for loinc in sub(kind, "codes", where)})
    return {"labs_by_loinc": by_loinc, "lab_units": units,
            "unit_when_unstated": {k: str(v) for k, v in sub(data, "unit_when_unstated").items()},
            "ucum_systems": frozenset(strings(data, "ucum_systems"))}


def _drugs(data: Mapping[str, Any]) -> DrugCodes:
    j3420 = sub(data, "j3420")
    premedicated = _entries(sub(data, "premedicated_drugs"))
    return DrugCodes(
        j3420_code=string(j3420, "code", "j3420"),
        j3420_systems=frozenset(strings(j3420, "systems", "j3420")),
        mcg_per_unit=positive(j3420, "mcg_per_unit", "j3420"),
        rxnorm={code: positive(table(v, f"rxnorm.codes.{code}"), "ug_per_ml",
                               f"rxnorm.codes.{code}")
                for code, v in sub(sub(data, "rxnorm"), "codes", "rxnorm").items()},
        ndc_products=_ndc_products(sub(sub(data, "ndc"), "products", "ndc")),
        keywords=_lower(strings(data, "text_keywords")),
        dose_units={k.lower(): positive(sub(data, "dose_units"), k, "dose_units")
                    for k in _entries(sub(data, "dose_units"))},
        self_administered=_codes_and_words(sub(data, "self_administered"), "self_administered"),
        injection_procedures=_codes_and_words(sub(data, "injection_procedures"),
                                              "injection_procedures"),
        premedicated={
            name: CodesAndWords(
                {RXNORM: frozenset(strings(table(v, f"premedicated_drugs.{name}"), "rxnorm",
                                           f"premedicated_drugs.{name}"))},
                _lower(strings(v, "text_keywords", f"premedicated_drugs.{name}")))
            for name, v in premedicated.items()},
    )


def _snomed(data: Mapping[str, Any]) -> SnomedMap:
    return SnomedMap({concept: string(table(entry, f"map.{concept}"), "icd10cm",
                                      f"map.{concept}")
                      for concept, entry in sub(data, "map").items()})


@cache
def load_mappings(root: Traversable | None = None) -> Mappings:
    """Read every mapping file once; a missing or malformed file stops the program with its
    name and the field (``root`` is for tests: a folder laid out like ``mappings/``)."""
    root = root if root is not None else data_root()
    readers = {"icd10cm.json": _icd, "labs.json": _labs, "snomed_to_icd10cm.json": _snomed,
               "drugs.json": _drugs, "thresholds.json": Thresholds.from_dict}
    read: dict[str, Any] = {}
    for name, reader in readers.items():
        data = _read(root, name)
        try:
            read[name] = reader(data)
        except ShapeError as exc:
            raise MappingsError(f"{root / name}: {exc}") from exc
    return Mappings(
        codes=read["icd10cm.json"],
        **read["labs.json"],
        snomed=read["snomed_to_icd10cm.json"],
        drugs=read["drugs.json"],
        thresholds=read["thresholds.json"],
    )
