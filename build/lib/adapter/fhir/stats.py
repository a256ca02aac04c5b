"""Counting requests, so a run can report what it cost (``--stats``, the benchmark)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestStats:
    """Requests sent over the wire (retries included), by method and by what they were for."""

    total: int = 0
    retries: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)

    def record(self, method: str, kind: str) -> None:
        self.total += 1
        self.by_method[method] += 1
        self.by_type[kind] += 1

    def snapshot(self) -> RequestStats:
        """A copy, to subtract later: ``client.stats - before`` is the cost of one step."""
        return RequestStats(
            self.total, self.retries, Counter(self.by_method), Counter(self.by_type)
        )

    def __sub__(self, other: RequestStats) -> RequestStats:
        return RequestStats(
            self.total - other.total,
            self.retries - other.retries,
            self.by_method - other.by_method,
            self.by_type - other.by_type,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "retries": self.retries,
            "by_method": dict(sorted(self.by_method.items())),
            "by_type": dict(sorted(self.by_type.items())),
        }
