"""The ICD-10-CM release in force on the date of service (SPEC 4.3).

Codes: dx-excludes1, code-set-missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import lru_cache

from adapter.evidence.facts import ClaimEvidence
from adapter.findings import Finding
from adapter.rules.policy import Policy, code_set
from adapter.terminology.in_force import InForce


def _claimed(ev: ClaimEvidence) -> list[str]:
    """The claim's codes, each once, in claim order."""
    return list(dict.fromkeys(dx.code for dx in ev.claim.diagnoses if dx.code))


def _note_place(item: str) -> str:
    """Where an Excludes1 note sits, as a coder reads it: a code, a block or a chapter (the
    tabular index names chapters by number: "4" is "chapter 4")."""
    if item.isdigit():
        return f"chapter {item}"
    return f"block {item}" if "-" in item else item


def dx_excludes1(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """Two claim diagnoses that an Excludes1 note of the release in force bars together (the
    note on either code or an ancestor names the other, its category or a range holding it).
    One finding per later-listed code, naming every earlier code it is barred beside."""
    if len(ev.claim.diagnoses) < 2:
        return
    claimed = _claimed(ev)
    codes = code_set(ev)
    for position, later in enumerate(claimed):
        barred = [(earlier, note) for earlier in claimed[:position]
                  if (note := codes.excludes1(earlier, later)) is not None]
        if not barred:
            continue
        pairs = "; ".join(f"{earlier} with {later}: {_note_place(on)} Excludes1 \"{words}\""
                          for earlier, (on, words) in barred)
        yield Finding("dx-excludes1",
                      f"{pairs} in ICD-10-CM {codes.label}: an Excludes1 pair is never coded "
                      "together (one of the two codes is wrong)", diagnosis=later)


def code_set_missing(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """The release in force on the earliest B12 date is not installed: the claim was judged
    with its installed neighbours; say which release it needs, and where they disagree."""
    codes = code_set(ev)
    if codes.missing:
        yield Finding("code-set-missing",
                      _missing(codes, tuple(_claimed(ev)), ev.claim.service_date))


@lru_cache(maxsize=4096)
def _missing(codes: InForce, claimed: tuple[str, ...], day: date) -> str:
    used = ", ".join(codes.ids) or "none"
    message = (f"{codes.needed.describe()}: diagnoses dated {day.isoformat()} judged with "
               f"{used} (install it with `b12-adapter codes add`)")
    disputes = []
    if len(codes.ids) > 1:
        for code in claimed:
            valid = codes.billable_in(code)
            if valid and len(valid) < len(codes.ids):
                disputes.append(f"{code} is billable in {', '.join(valid)} only")
        for position, later in enumerate(claimed):
            for earlier in claimed[:position]:
                barred = codes.excludes1_in(earlier, later)
                if barred and len(barred) < len(codes.ids):
                    disputes.append(f"{earlier} with {later} is an Excludes1 pair in "
                                    f"{', '.join(barred)} only")
    if disputes:
        message += "; the releases disagree: " + "; ".join(disputes)
    return message
