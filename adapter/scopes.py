"""The SMART scopes a run asks its token for, derived from what it reads and writes.

One list: the record kinds the checks read (``adapter.evidence.kinds``, which a new kind of
record joins with one row), the claims, the names the audit page shows and the DetectedIssues
the adapter reads and writes. A default written out by hand lacked half of them, and a
token without ``Procedure.read`` answers 403 on the first page (issue 25).
"""

from __future__ import annotations

from adapter.evidence.kinds import CHART_TYPES
from adapter.evidence.names import NAMED_TYPES
from adapter.sources import CLAIM_TYPES

WRITTEN_TYPES = frozenset({"DetectedIssue"})  # the one type a check writes (fhir.guard)


def read_types() -> tuple[str, ...]:
    """Every resource type a run may read, sorted."""
    return tuple(sorted(CHART_TYPES | CLAIM_TYPES | NAMED_TYPES | WRITTEN_TYPES))


def default_scope() -> str:
    """``system/X.read`` for each type read and ``system/X.write`` for each written."""
    return " ".join([*(f"system/{t}.read" for t in read_types()),
                     *(f"system/{t}.write" for t in sorted(WRITTEN_TYPES))])
