"""The SMART scopes a run asks its token for, derived from what it reads and writes.

One list: the record kinds the checks read (``adapter.evidence.kinds``, which a new kind of
record joins with one row), the claims, the names the audit page shows and the DetectedIssues
the adapter reads and writes. A default written out by hand lacked half of them, and a
token without ``Procedure.read`` answers 403 on the first page (issue 25). Each command asks
for what it does: a server that grants the audit client read-only access refuses a token
request that asks to write too.
"""

from __future__ import annotations

from collections.abc import Iterable

from adapter.evidence.kinds import CHART_TYPES
from adapter.evidence.names import NAMED_TYPES
from adapter.sources import CLAIM_TYPES

WRITTEN_TYPES = frozenset({"DetectedIssue"})  # the one type a check writes (fhir.guard)


def read_types(*, writes: bool = True) -> tuple[str, ...]:
    """Every resource type a run may read, sorted; a run that writes DetectedIssues reads the
    earlier ones first, a run that only reads (audit) never does."""
    written = WRITTEN_TYPES if writes else frozenset()
    return tuple(sorted(CHART_TYPES | CLAIM_TYPES | NAMED_TYPES | written))


def default_scope(*, writes: bool = True) -> str:
    """``system/X.read`` for each type read and, unless the run only reads,
    ``system/X.write`` for each written."""
    return _scope(read_types(writes=writes), sorted(WRITTEN_TYPES) if writes else ())


def load_scope(types: Iterable[str]) -> str:
    """What ``load`` asks for: read and write of each type it uploads (its conditional
    creates search by identifier; it writes every type the source holds)."""
    uploaded = sorted(types)
    return _scope(uploaded, uploaded)


def _scope(reads: Iterable[str], writes: Iterable[str]) -> str:
    return " ".join([*(f"system/{t}.read" for t in reads),
                     *(f"system/{t}.write" for t in writes)])
