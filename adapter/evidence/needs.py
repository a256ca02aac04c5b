"""Which parts of a patient's record the evidence is built from, as searches a server can run.

Data for the server source: it fills in a page's patients and runs them in one batch. Kept
beside the readers, so a reader that learns a new resource type adds its search here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property

import ahocorasick_rs

from adapter.evidence import kinds
from adapter.evidence.fields import normalize_reference
from adapter.mappings import Mappings
from adapter.terminology.systems import ICD10CM, LOINC, NDC, markers


@dataclass(frozen=True)
class RecordSearch:
    """Search ``resource_type`` with ``params``; ``by`` takes the page's patients (as
    ``Patient/x`` references, or as bare ids for ``_id``)."""

    resource_type: str
    params: tuple[tuple[str, str], ...] = ()
    by: str = "patient"
    dated: bool = False  # narrowed to the page's B12 dates (``date``), as notes are


def record_searches(mappings: Mappings) -> tuple[RecordSearch, ...]:
    """A search per searched record kind (``evidence.kinds``): Conditions; the mapped labs
    only; every administration, request and statement with the Medication resources they
    name (the drug may be there: Epic); the injection procedures only; the patients; their
    Coverages with the Organizations that pay them (SPEC 4.4); the clinical notes of the
    page's B12 dates (SPEC 4.2)."""
    from adapter.notes.terms import note_table

    labs = ",".join(f"{LOINC}|{code}" for code in mappings.labs_by_loinc)
    notes = ",".join(f"{LOINC}|{code}" for code in sorted(note_table().note_loinc))
    injections = ",".join(f"{system}|{code}"
                          for system, codes in mappings.drugs.injection_procedures.codes.items()
                          for code in sorted(codes))
    searches: list[RecordSearch] = []
    for kind in kinds.RECORD_KINDS:
        rtype, how = kind.resource_type, kind.search
        if how == kinds.EVERY:
            searches.append(RecordSearch(rtype))
        elif how == kinds.LABS:
            searches.append(RecordSearch(rtype, (("code", labs),)))
        elif included := kinds.INCLUDES.get(how or ""):
            searches.append(RecordSearch(rtype, (("_include", f"{rtype}:{included}"),)))
        elif how == kinds.INJECTIONS:
            searches.append(RecordSearch(rtype, (("code", injections),)))
        elif how == kinds.BY_ID:
            searches.append(RecordSearch(rtype, by="_id"))
        elif how == kinds.NOTES:  # the Binaries they point at: one more batch (server.py)
            searches.append(RecordSearch(rtype, dated=True))
        elif how == kinds.NOTE_REPORTS:
            searches.append(RecordSearch(rtype, (("code", notes),), dated=True))
        elif how is not None:
            raise ValueError(f"record kind {rtype}: no search named {how!r}")
    return tuple(searches)


# Claims point at these explicitly; what a patient search missed is read by id (a claim's
# insurer Organization and focal Coverage only when payer policies are configured).
LINKED_TYPES = kinds.LINKED_TYPES


# --- Which raw NDJSON lines can matter (a file source's prefilter) ---------------------------


@dataclass(frozen=True)
class LineTest:
    """A line of this type may matter when one of ``words`` occurs in it (in the lower-cased
    line when ``lower``). A file source runs it over whole blocks of a file in one pass, all
    words at once (Aho-Corasick, in Rust: a few GB/s), and parses only the lines it finds
    something in."""

    words: tuple[bytes, ...]
    lower: bool = False
    # Of the words, the codes: found only whole, not inside a longer code or number (718-7
    # not in 1718-7 nor in 718-70), but with whatever the reader strips around them
    # (``" 718-7"``: fields.codings); a quoted word would miss those
    codes: frozenset[bytes] = frozenset()
    # Of the words, those taken only standing alone, no ASCII letter or digit touching them:
    # a hyphenated term word (b-12) is short and hex-like, and ids hold it ("9bab-12de")
    alone: frozenset[bytes] = frozenset()
    # Not the lines that name another patient than ``patients`` in a reference, unless they
    # hold one of the ids in ``linked`` (what the B12 claims point at); None: any line.
    patients: frozenset[str] | None = None
    linked: frozenset[str] = frozenset()

    @cached_property
    def _automata(self) -> tuple[ahocorasick_rs.BytesAhoCorasick, ...]:
        """An automaton per word when they are few: each then runs as a SIMD substring
        search (tens of GB/s), where one automaton over several words can fall back to a
        scan of every byte, ten times slower on JSON (measured: bench/RESULTS.md)."""
        if len(self.words) <= _WORD_BY_WORD:
            return tuple(ahocorasick_rs.BytesAhoCorasick([word]) for word in self.words)
        return (ahocorasick_rs.BytesAhoCorasick(list(self.words)),)

    def found(self, block: bytes) -> list[int]:
        target = block.lower() if self.lower else block
        automata = self._automata
        if len(automata) == 1:
            if not self.codes and not self.alone:
                return [start for _, start, _ in automata[0].find_matches_as_indexes(target)]
            # overlapping: a hit inside a longer code (taken, then refused) must not hide a
            # whole code that overlaps it
            matches = automata[0].find_matches_as_indexes(target, overlapping=True)
            return sorted({start for index, start, end in matches
                           if self._whole(target, self.words[index], start, end)})
        hits = [start for word, automaton in zip(self.words, automata, strict=True)
                for _, start, end in automaton.find_matches_as_indexes(target)
                if self._whole(target, word, start, end)]
        hits.sort()
        return hits

    def _whole(self, target: bytes, word: bytes, start: int, end: int) -> bool:
        """Whether a hit of ``word`` counts: a code whole, a word that must stand alone so."""
        touching = _IN_A_CODE if word in self.codes else _IN_A_WORD if word in self.alone \
            else None
        return touching is None or (
            (start == 0 or target[start - 1] not in touching)
            and (end == len(target) or target[end] not in touching))

    @property
    def narrowed(self) -> bool:
        return self.patients is not None

    def belongs(self, line: bytes) -> bool:
        """Whether a line the words were found in may be one of the patients' records: it
        is passed over only when it names another patient (``Patient/x``, as an absolute URL
        or a version too) and none of them, and is not one a claim points at. Kept: a line
        with an escape, a reference that only the chart can resolve (urn:uuid, contained),
        or no patient named at all (the chart names what is wrong with it)."""
        if self.patients is None or b"\\" in line:
            return True
        other = False
        for found in _REFERENCE.finditer(line):
            target = found.group(1).decode(errors="replace")
            if target in self.patients:  # the common case: the subject, as Type/id
                return True
            target = normalize_reference(target)
            if target in self.patients or not target[:1].isupper():
                return True
            other = other or target.startswith("Patient/")
        return not other or any(found.group(1).decode(errors="replace") in self.linked
                                for found in _ID.finditer(line))

    def keeps(self, line: bytes) -> bool:
        return bool(self.found(line)) and self.belongs(line)


_WORD_BY_WORD = 16  # up to this many words, a search per word (``LineTest._automata``)
# Bytes that continue a word: ASCII letters and digits
_IN_A_WORD = frozenset(b"0123456789" + bytes(range(ord("A"), ord("Z") + 1))
                       + bytes(range(ord("a"), ord("z") + 1)))
# Bytes that continue a code or an id: a hit beside one is inside a longer code, a number or
# an id (a UUID's hex digits), never a code the reader takes (a stripped JSON string)
_IN_A_CODE = _IN_A_WORD | frozenset(b"-._")

# A JSON escape could spell any character of a word ("\u0062" is b, "\/" a slash): a line
# holding one is always read.
_ESCAPES = (b"\\u", b"\\/")


def chart_types() -> frozenset[str]:
    """The resource types the chart reads: a file of any other type is never opened."""
    return kinds.CHART_TYPES


_REFERENCE = re.compile(rb'"reference"\s*:\s*"([^"\\]*)"')
_ID = re.compile(rb'"id"\s*:\s*"([^"\\]*)"')
_EVERY_LINE = LineTest((b'"resourceType"',))
_PATIENT = re.compile(rb'"patient"\s*:\s*\{[^{}]*?"reference"\s*:\s*"([^"\\]+)"')
_TERM_STOPWORDS = frozenset({"deficiency", "deficient", "anemia", "anaemia", "due", "with",
                             "without", "syndrome", "disease", "vitamin", "surgery", "the",
                             "and", "low", "vit"})


def line_patients(line: bytes) -> frozenset[str] | None:
    """Every ``Patient/x`` a raw claim line names as a ``patient`` (a line may hold several
    claims: an array, a Bundle; or a contained resource's patient: a few more kept, no
    matter), read as the claim reader reads them (trimmed, an absolute URL or a version to
    ``Type/id``). None when one cannot be read so (none found, a ``urn:uuid:``, an escape,
    a ``patient`` written otherwise): then no patient filter can be trusted."""
    found = [normalize_reference(m.group(1).decode(errors="replace"))
             for m in _PATIENT.finditer(line)]
    if not found or len(found) != line.count(b'"patient"'):
        return None
    if any(not (p.startswith("Patient/") and p.count("/") == 1) for p in found):
        return None
    return frozenset(found)


def _term_words() -> tuple[set[bytes], set[bytes]]:
    """Words of the notes table's diagnosis terms, as a free-text Condition may write them
    (lower case, capitalised, upper case): such a Condition documents a code (SPEC 4.1).
    Second, the hyphenated ones (b-12), to be found only standing alone (``LineTest.alone``)."""
    from adapter.notes.terms import SPECIAL_CODES, note_table

    words: set[bytes] = set()
    alone: set[bytes] = set()
    for term, code in note_table().terms.items():
        if code in SPECIAL_CODES:
            continue
        for whole in term.replace("'", " ").split():  # "b-12" whole: its parts are too short
            for word in (whole, *whole.split("-")):
                if len(word) >= 3 and word not in _TERM_STOPWORDS:
                    spelt = {w.encode() for w in (word, word.capitalize(), word.upper())}
                    words |= spelt
                    if "-" in word:
                        alone |= spelt
    return words, alone


def _note_test(patients: frozenset[str] | None) -> LineTest:
    """A note line that names one of ``patients`` (None: any note): ``Patient/x`` as a prefix,
    since the note reader takes ``Patient/x/_history/2`` and ``"Patient/x "`` for the patient
    too (``normalize_reference``); a note of a patient whose id only starts so is read in
    vain, and the chart keeps none but the claims' patients' notes."""
    if patients is None:
        return _EVERY_LINE
    return LineTest((*(p.encode() for p in sorted(patients)), *_ESCAPES))


def line_tests(mappings: Mappings, note_patients: frozenset[str] | None = None,
               wanted: frozenset[str] | None = None) -> dict[str, LineTest]:
    """Per resource type, a test on the raw line that fails only when the resource cannot
    matter to any check: a lab with none of the mapped LOINC codes, a procedure with none of
    the injection codes, a medication use naming no B12, pemetrexed or pralatrexate product
    by code or by word and no Medication resource, a Condition with no ICD-10-CM coding and
    none of the mapped SNOMED CT codes (it documents nothing the rules read). Patients and
    Medications are always read (their test finds every line). Conservative: it may keep a
    line that does not matter, never drop one that does (tests/test_prefilter.py runs
    sources with and without it). With the B12 claims' ``note_patients`` and what they point
    at (``wanted``), both from the claims pre-scan, a line of a patient's own record
    (``kinds.CHART_OF_ONE``) that names another patient is passed over unparsed: in a real
    export, where few patients have a B12 claim, the others' labs. Not named then: a B12
    patient's Condition whose evidence points at such a lab of another patient."""
    drugs = mappings.drugs
    words = _shortest({*drugs.keywords, "medicationreference", *markers(NDC),
                       *(w for g in drugs.premedicated.values() for w in g.words)})
    drug_codes = {*drugs.rxnorm, *(c for g in drugs.premedicated.values()
                                   for cs in g.codes.values() for c in cs)}
    medication = LineTest((*_codes(drug_codes), *(w.lower().encode() for w in words),
                           *_ESCAPES), lower=True, codes=frozenset(_codes(drug_codes)))
    injections = {c for cs in drugs.injection_procedures.codes.values() for c in cs}
    terms, alone = _term_words()
    tests = {
        "Condition": LineTest((*_codes(mappings.snomed.to_icd10cm),
                               *(s.encode() for s in markers(ICD10CM)),
                               *sorted(terms), *_ESCAPES),
                              codes=frozenset(_codes(mappings.snomed.to_icd10cm)),
                              alone=frozenset(alone)),
        "Observation": LineTest((*_codes(mappings.labs_by_loinc), *_ESCAPES),
                                codes=frozenset(_codes(mappings.labs_by_loinc))),
        "Procedure": LineTest((*_codes(injections), *_ESCAPES),
                              codes=frozenset(_codes(injections))),
        "MedicationAdministration": medication,
        "MedicationRequest": medication,
        "MedicationStatement": medication,
        # every line: scanned all the same, so worker processes can share the file
        "Patient": _EVERY_LINE,
        "Medication": _EVERY_LINE,
        "Coverage": _EVERY_LINE,
        "Organization": _EVERY_LINE,
        # notes (SPEC 4.2): only those of the B12 claims' patients, when the claims said
        # which; a DiagnosticReport only when it carries a presentedForm (most are labs)
        "DocumentReference": _note_test(note_patients),
        "Composition": _note_test(note_patients),
        "DiagnosticReport": LineTest((b'"presentedForm"', *_ESCAPES)),
        "Binary": _EVERY_LINE,
    }
    if note_patients is None or wanted is None:
        return tests
    for rtype in kinds.CHART_OF_ONE:
        linked = frozenset(ref.split("/", 1)[1] for ref in wanted if ref.startswith(rtype + "/"))
        tests[rtype] = replace(tests[rtype], patients=note_patients, linked=linked)
    return tests


def claim_test(mappings: Mappings, also: Iterable[str] = ()) -> LineTest:
    """A claim line that may bill B12: J3420 in any case, a B12 RxNorm code, or any NDC
    coding (by its system: the product's many written forms are not listed). Conservative
    like ``line_tests``, and fast on the claim files, the biggest of an export: the codes
    are looked for bare (a word that starts with a quote, the commonest byte of JSON, slows
    the scan several times) and J3420 in each of its spellings instead of in a lower-cased
    copy of the line. ``also``: more words to find (statuses), as written, capitalised and in
    capitals, the spellings the claim reader reads as the word (it lower-cases a status)."""
    drugs = mappings.drugs
    return LineTest((*_spellings(drugs.j3420_code), *(c.encode() for c in sorted(drugs.rxnorm)),
                     *(marker.encode() for marker in markers(NDC)),
                     *(spelt.encode() for word in sorted(also)
                       for spelt in dict.fromkeys((word, word.capitalize(), word.upper()))),
                     *_ESCAPES))


def _spellings(code: str) -> tuple[bytes, ...]:
    """``code`` with each of its letters in either case: J3420, j3420."""
    spellings = [""]
    for char in code:
        spellings = [s + c for s in spellings for c in dict.fromkeys((char.upper(), char.lower()))]
    return tuple(s.encode() for s in spellings)


def _shortest(words: set[str]) -> list[str]:
    """The words, less those that contain another ("cyanocobalamin": "cobalamin" will do)."""
    return sorted(w for w in words if not any(o != w and o in w for o in words))


def _codes(codes: Iterable[str]) -> tuple[bytes, ...]:
    """The codes, bare: a test's ``codes`` finds them only whole (718-7 not inside 1718-7),
    with or without the spaces the reader strips (``" 2132-9"``)."""
    return tuple(c.encode() for c in sorted(codes))
