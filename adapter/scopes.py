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


def read_types(*, issues: bool = True) -> tuple[str, ...]:
    """Every resource type a run may read, sorted; a check reads the earlier DetectedIssues
    (to write only what changed, or to show it with --dry-run), audit never does."""
    written = WRITTEN_TYPES if issues else frozenset()
    return tuple(sorted(CHART_TYPES | CLAIM_TYPES | NAMED_TYPES | written))


def default_scope(*, writes: bool = True, issues: bool | None = None) -> str:
    """``system/X.read`` for each type read and, unless the run only reads,
    ``system/X.write`` for each written. ``issues``: whether it reads the earlier
    DetectedIssues (by default, when it writes)."""
    return _scope(read_types(issues=writes if issues is None else issues),
                  sorted(WRITTEN_TYPES) if writes else ())


def check_scope(*, dry_run: bool) -> str:
    """What ``check``, ``sync`` and ``serve`` ask for: they read the earlier issues, and write
    only without ``--dry-run`` (a dry run writes nothing: it needs no write scope)."""
    return default_scope(writes=not dry_run, issues=True)


def load_scope(types: Iterable[str]) -> str:
    """What ``load`` asks for: read and write of each type it uploads (its conditional
    creates search by identifier; it writes every type the source holds)."""
    uploaded = sorted(types)
    return _scope(uploaded, uploaded)


def _scope(reads: Iterable[str], writes: Iterable[str]) -> str:
    return " ".join([*(f"system/{t}.read" for t in reads),
                     *(f"system/{t}.write" for t in writes)])
