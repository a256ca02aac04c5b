"""The data in ``mappings/``: loaded and validated once, then handed to rules as plain values.

The repository keeps the files in ``mappings/`` at its top; the wheel ships them as the
package ``adapter.mappings_data`` (see pyproject.toml), so they are read the same way from a
checkout and from an installed wheel: ``importlib.resources``. This is the one loader of
that folder, thresholds included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapter.terminology.codes import CodeSet
from adapter.terminology.ndc import ndc_products
from adapter.terminology.snomed import SnomedMap
from adapter.terminology.systems import RXNORM
from adapter.thresholds import Thresholds

DATA_PACKAGE = "adapter.mappings_data"


class MappingsError(RuntimeError):
    """A file in mappings/ is missing or malformed: nothing can be checked without it."""


class _Strictish(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Wording(_Strictish):
    b12_words: list[str]
    other_words: list[str]
    b12_snomed: list[str]


class _Categories(_Strictish):
    codes: list[str]


class _Manifestations(_Strictish):
    note_words: list[str]
    excluded: list[str]


class _IcdFile(_Strictish):
    b12_diagnoses: list[str]
    b12_anemias: list[str]
    causes: list[str]
    lifelong_causes: list[str]
    specificity_ladder: dict[str, Any]
    history_codes: dict[str, Any]
    symptom_codes: dict[str, Any]
    e53_8_wording: _Wording
    assessment_categories: _Categories
    manifestations: _Manifestations


class _LabKind(_Strictish):
    unit: str
    abnormal_when: Literal["low", "high"]
    b12_status: bool
    codes: dict[str, str]


class _LabsFile(_Strictish):
    kinds: dict[str, _LabKind]
    units: dict[str, dict[str, float]]
    unit_when_unstated: dict[str, str]
    ucum_systems: list[str]


class _SnomedEntry(_Strictish):
    icd10cm: str
    display: str
    source: str


class _SnomedFile(_Strictish):
    map: dict[str, _SnomedEntry]


class _J3420(_Strictish):
    code: str
    mcg_per_unit: float = Field(gt=0)
    systems: list[str]


class _RxNorm(_Strictish):
    codes: dict[str, dict[str, Any]]


class _Ndc(_Strictish):
    products: dict[str, dict[str, Any]]


class _CodesAndWords(_Strictish):
    codes: dict[str, list[str]]
    text_keywords: list[str] = []


class _Premedicated(_Strictish):
    rxnorm: list[str]
    text_keywords: list[str]


class _DrugsFile(_Strictish):
    j3420: _J3420
    rxnorm: _RxNorm
    ndc: _Ndc
    text_keywords: list[str]
    dose_units: dict[str, Any]
    self_administered: _CodesAndWords
    injection_procedures: _CodesAndWords
    premedicated_drugs: dict[str, Any]


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


def _read(root: Traversable, name: str, model: type[BaseModel]) -> Any:
    path = root / name
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise MappingsError(f"{path}: mapping file is missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingsError(f"{path}: cannot read mapping file ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingsError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(data, dict):  # "_about", "_sources": documentation, not settings
        data = {k: v for k, v in data.items() if not k.startswith("_")}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}"
                             for err in exc.errors())
        raise MappingsError(f"{path}: {problems}") from exc


def _entries(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _lower(words: list[str]) -> tuple[str, ...]:
    return tuple(w.lower() for w in words)


def _codes_and_words(data: _CodesAndWords) -> CodesAndWords:
    return CodesAndWords({system: frozenset(codes) for system, codes in data.codes.items()},
                         _lower(data.text_keywords))


def _premedicated(data: dict[str, Any]) -> dict[str, _Premedicated]:
    try:
        return {name: _Premedicated.model_validate(v) for name, v in _entries(data).items()}
    except ValidationError as exc:
        raise MappingsError(f"drugs.json: premedicated_drugs: {exc}".splitlines()[0]) from exc


def _ndc_products(products: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Product NDCs as written in drugs.json (labeler-product) -> their 9-digit form."""
    found: dict[str, float] = {}
    for written, entry in products.items():
        normal = ndc_products(written)
        if len(normal) != 1:
            raise MappingsError(f"drugs.json: {written!r} is not a labeler-product NDC")
        found[normal[0]] = float(entry["ug_per_ml"])
    return found


@cache
def load_mappings(root: Traversable | None = None) -> Mappings:
    """Read every mapping file once; a missing or malformed file stops the program with its
    name (``root`` is for tests: a folder laid out like ``mappings/``)."""
    root = root if root is not None else data_root()
    icd: _IcdFile = _read(root, "icd10cm.json", _IcdFile)
    labs: _LabsFile = _read(root, "labs.json", _LabsFile)
    snomed: _SnomedFile = _read(root, "snomed_to_icd10cm.json", _SnomedFile)
    drugs: _DrugsFile = _read(root, "drugs.json", _DrugsFile)
    thresholds: Thresholds = _read(root, "thresholds.json", Thresholds)

    ladder = {code: int(rank) for code, rank in _entries(icd.specificity_ladder).items()}
    if set(ladder) != set(icd.b12_diagnoses):
        raise MappingsError("icd10cm.json: specificity_ladder must rank exactly the b12_diagnoses")
    wording = icd.e53_8_wording
    codes = CodeSets(
        b12_diagnoses=frozenset(icd.b12_diagnoses),
        b12_anemias=CodeSet.parse(icd.b12_anemias),
        causes=CodeSet.parse(icd.causes),
        lifelong_causes=CodeSet.parse(icd.lifelong_causes),
        ladder=ladder,
        history={code: CodeSet.parse(v) for code, v in _entries(icd.history_codes).items()},
        symptoms={code: str(t) for code, t in _entries(icd.symptom_codes).items()},
        e53_8_wording=Wording(_lower(wording.b12_words), _lower(wording.other_words),
                              frozenset(wording.b12_snomed)),
        assessment_categories=frozenset(icd.assessment_categories.codes),
        manifestation_note_words=_lower(icd.manifestations.note_words),
        manifestation_excluded=CodeSet.parse(icd.manifestations.excluded),
    )
    labs_by_loinc: dict[str, LabKind] = {}
    for name, kind in labs.kinds.items():
        if kind.unit not in labs.units:
            raise MappingsError(f"labs.json: no unit factors for {kind.unit} ({name})")
        for loinc in kind.codes:
            labs_by_loinc[loinc] = LabKind(name, kind.unit, kind.abnormal_when, kind.b12_status)
    drug_codes = DrugCodes(
        j3420_code=drugs.j3420.code,
        j3420_systems=frozenset(drugs.j3420.systems),
        mcg_per_unit=drugs.j3420.mcg_per_unit,
        rxnorm={code: float(v["ug_per_ml"]) for code, v in drugs.rxnorm.codes.items()},
        ndc_products=_ndc_products(drugs.ndc.products),
        keywords=_lower(drugs.text_keywords),
        dose_units={k.lower(): float(v) for k, v in _entries(drugs.dose_units).items()},
        self_administered=_codes_and_words(drugs.self_administered),
        injection_procedures=_codes_and_words(drugs.injection_procedures),
        premedicated={name: CodesAndWords({RXNORM: frozenset(p.rxnorm)}, _lower(p.text_keywords))
                      for name, p in _premedicated(drugs.premedicated_drugs).items()},
    )
    return Mappings(
        codes=codes,
        labs_by_loinc=labs_by_loinc,
        lab_units=labs.units,
        unit_when_unstated=labs.unit_when_unstated,
        ucum_systems=frozenset(labs.ucum_systems),
        snomed=SnomedMap({c: e.icd10cm for c, e in snomed.map.items()}),
        drugs=drug_codes,
        thresholds=thresholds,
    )
