"""The run's report: the JSON of SPEC section 5 (a contract: engines parse it) and its data.

``Report`` is a sink: it keeps every claim's outcome, in the order the claims were read (the
skipped ones spooled, so a real export's report does not grow in memory with its claims).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TextIO, overload

import orjson

from adapter.driver import Sink
from adapter.findings import Finding, Severity, Verdict
from adapter.outcomes import ClaimResult, PageOutcome, Problem

ZONE_GUESSED = ("an injection, lab or note stamped in UTC was matched to a date of service by "
                "guessing the clinic's day (no facility_timezone): configure facility_timezone "
                "(or --facility-timezone) to judge days exactly")


@dataclass(frozen=True, slots=True)
class Skipped:
    claim: str
    reason: str


class SkippedClaims(Sequence[Skipped]):
    """The skipped claims, in order, kept in a spooled temporary file (in memory up to a few
    MB, then on disk): in a real export nearly every claim is skipped, and the report's memory
    must not grow with them. Written 256 KB at a time, read back in order (a snapshot:
    what is appended meanwhile comes in the next reading), as many times as asked."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=4 << 20)  # noqa: SIM115 (for the run)
        self._pending = bytearray()  # lines not yet written (one write per 256 KB)
        self._count = 0

    def append(self, item: Skipped) -> None:
        self._pending += _dumps([item.claim, item.reason])
        self._pending += b"\n"
        self._count += 1
        if len(self._pending) >= 256 << 10:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._file.seek(0, os.SEEK_END)
            self._file.write(self._pending)
            self._pending = bytearray()

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        """Equal to the same entries in a list (as the list it replaces was)."""
        if isinstance(other, SkippedClaims | list | tuple):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __iter__(self) -> Iterator[Skipped]:
        self._flush()
        offset, left, carry = 0, self._count, b""
        while left:
            self._file.seek(offset)  # again each time: an append may have moved it
            chunk = self._file.read(1 << 20)
            if not chunk:
                return
            offset += len(chunk)
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            for line in lines[:left]:
                claim, reason = _loads(line)
                yield Skipped(claim, reason)
            left -= min(left, len(lines))

    @overload
    def __getitem__(self, index: int) -> Skipped: ...

    @overload
    def __getitem__(self, index: slice) -> list[Skipped]: ...

    def __getitem__(self, index: int | slice) -> Skipped | list[Skipped]:
        if isinstance(index, slice):
            return list(self)[index]
        if not -self._count <= index < self._count:
            raise IndexError(index)
        return next(islice(self, index % self._count, None))


@dataclass
class Report(Sink):
    """Claims checked are kept (tables, exit status and the service read them); skipped claims
    are spooled (``SkippedClaims``); ``write_json`` writes the report an entry at a time."""

    claims: list[ClaimResult] = field(default_factory=list)
    skipped: SkippedClaims = field(default_factory=SkippedClaims)
    errors: list[Problem] = field(default_factory=list)
    # What the run says once about itself (the JSON report's "notes", only when there are)
    notes: list[str] = field(default_factory=list)

    def write(self, page: PageOutcome) -> None:
        for outcome in page.claims:
            if outcome.result is not None:
                self.claims.append(outcome.result)
                if outcome.result.zone_guessed and ZONE_GUESSED not in self.notes:
                    self.notes.append(ZONE_GUESSED)
            elif outcome.skipped is not None:
                self.skipped.append(Skipped(outcome.claim, outcome.skipped))
            self.errors.extend(outcome.problems)
        self.errors.extend(page.problems)
        self.notes += [note for note in page.notes if note not in self.notes]

    def summary(self) -> dict[str, int]:
        verdicts = Counter(result.verdict for result in self.claims)
        return {
            "checked": len(self.claims),
            "supported": verdicts[Verdict.SUPPORTED],
            "review": verdicts[Verdict.REVIEW],
            "unsupported": verdicts[Verdict.UNSUPPORTED],
            "skipped": len(self.skipped),
            "errors": len(self.errors),
        }

    def worst_severity(self) -> Severity | None:
        severities = [f.severity for r in self.claims for f in r.findings]
        return max(severities, key=lambda s: s.rank) if severities else None

    def run_notes(self) -> list[str]:
        """Every note the run says once: those kept as claims came (``notes``), then one per
        ICD-10-CM release in force on some claim's date and not installed (SPEC 4.3)."""
        return [*self.notes, *code_set_notes(self.claims)]

    def _sections(self) -> dict[str, Iterable[dict[str, Any]]]:
        return {
            "claims": (claim_dict(result) for result in self.claims),
            "skipped": ({"claim": s.claim, "reason": s.reason} for s in self.skipped),
            "errors": ({"resource": p.resource, "message": p.message} for p in self.errors),
            **({"notes": iter(notes)} if (notes := self.run_notes()) else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**{name: list(entries) for name, entries in self._sections().items()},
                "summary": self.summary()}

    def to_json(self, indent: int | None = 2) -> str:
        out = io.StringIO()
        self.write_json(out, indent)
        return out.getvalue()

    def write_json(self, out: TextIO, indent: int | None = 2) -> None:
        """The report, indented (two spaces) for people or compact (no spaces) with
        ``indent=None``, written an entry at a time: the bytes ``json.dumps`` would write for
        the whole report (orjson writes each entry, ten times faster; json writes what orjson
        refuses, an integer past 64 bits), without the whole report in memory at once."""
        pretty = indent == 2
        newline = "\n" if pretty else ""
        out.write("{" + newline)
        for name, entries in [*self._sections().items(), ("summary", None)]:
            out.write(f'  "{name}": ' if pretty else f'"{name}":')
            if entries is None:
                out.write(_entry(self.summary(), pretty, 1) + newline + "}")
                break
            first = True
            for entry in entries:
                out.write(("[" + newline if first else "," + newline)
                          + ("    " if pretty else "") + _entry(entry, pretty, 2))
                first = False
            out.write("[]" if first else newline + ("  ]" if pretty else "]"))
            out.write("," + newline)


def _entry(value: Any, pretty: bool, level: int) -> str:
    """One value of the report as ``json.dumps`` writes it at nesting ``level``."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 if pretty else 0).decode()
    except TypeError:  # orjson.JSONEncodeError
        text = json.dumps(value, indent=2 if pretty else None, ensure_ascii=False,
                          separators=None if pretty else (",", ":"))
    return text.replace("\n", "\n" + "  " * level) if pretty else text


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # a lone surrogate: escaped by json, read back by json
        return json.dumps(value).encode()


def _loads(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def code_set_notes(claims: Iterable[ClaimResult]) -> list[str]:
    """One note per ICD-10-CM release needed and not installed: how many claims, judged with
    which installed releases, and the cure."""
    needed: dict[str, tuple[int, set[str]]] = {}
    for result in claims:
        if result.code_set_needed is not None:
            count, used = needed.get(result.code_set_needed, (0, set()))
            needed[result.code_set_needed] = (count + 1, used | {result.code_set})
    return [f"{release}: {count} claim(s) judged with {' / '.join(sorted(used)) or 'no release'} "
            "instead (code-set-missing); install it with `b12-adapter codes add` (see "
            "`b12-adapter codes list`)"
            for release, (count, used) in sorted(needed.items())]


def claim_dict(result: ClaimResult) -> dict[str, Any]:
    """One claim's entry of the JSON report."""
    return {
        "claim": result.claim,
        "patient": result.patient,
        "service_date": result.service_date.isoformat(),
        "code_set": result.code_set,
        "verdict": result.verdict.value,
        "policy": result.policy,
        "findings": [finding_dict(f) for f in result.findings],
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    """One finding of the report; a note finding adds the sentence it read (``quote``)."""
    entry = {
        "code": f.code,
        "severity": f.severity.value,
        "diagnosis": f.diagnosis,
        "message": f.message,
        "suggested_code": f.suggested_code,
        "evidence": list(f.evidence),
    }
    if f.quote is not None:
        entry["quote"] = f.quote
    return entry



