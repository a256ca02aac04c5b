"""Payer policies (SPEC 4.4) as the rules read them: plain frozen values. The files they come
from are read by ``adapter.policy_files`` (only when a configuration names policies: a plain
check never imports pydantic)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Phase:
    count: int | None  # injections in this phase; None: repeats for ever
    min_interval_days: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """A course starts with the first injection after more than ``course_gap_days`` without
    one; its injections go through ``phases`` in order."""

    course_gap_days: int
    phases: tuple[Phase, ...]

    def min_interval(self, index: int) -> int | None:
        """The least number of days between injection ``index`` of a course (0: the first)
        and the one before it; None for the first of a course."""
        if index == 0:
            return None
        seen = 0
        for phase in self.phases:
            if phase.count is None or index < seen + phase.count:
                return phase.min_interval_days
            seen += phase.count
        return self.phases[-1].min_interval_days if self.phases else None


@dataclass(frozen=True, slots=True)
class DualDiagnosis:
    code: str  # a code or a prefix (``K90``)
    requires_one_of: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicySource:
    document: str
    url: str | None
    date: str | None
    unverified: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PayerPolicy:
    id: str
    name: str
    source: PolicySource
    effective_from: date | None
    effective_to: date | None
    covered_codes: frozenset[str] | None  # None: every indication of SPEC 4 is covered
    covered_prefixes: tuple[str, ...]
    dual_diagnosis: tuple[DualDiagnosis, ...]
    schedule: Schedule | None
    file: str = ""  # where it was read from, for messages

    @property
    def restricts_codes(self) -> bool:
        return self.covered_codes is not None or bool(self.covered_prefixes)

    def in_effect(self, day: date) -> bool:
        return ((self.effective_from is None or self.effective_from <= day)
                and (self.effective_to is None or day <= self.effective_to))

    def lists(self, code: str) -> bool:
        """The code is in the covered codes or under a covered prefix."""
        return code in (self.covered_codes or ()) or _under(code, self.covered_prefixes)

    def partners(self, code: str) -> tuple[str, ...] | None:
        """The codes one of which must stand beside ``code``, if the policy asks for one."""
        for dual in self.dual_diagnosis:
            if code == dual.code or _under(code, (dual.code,)):
                return dual.requires_one_of
        return None

    @staticmethod
    def partners_present(partners: tuple[str, ...], code: str) -> bool:
        """``code`` is one of ``partners`` (a code, or under a category named there)."""
        return _under(code, partners)

    @property
    def cited(self) -> str:
        """The policy and its source, for a finding's message."""
        return f"{self.id}, source: {self.source.document}"


def _under(code: str, prefixes: Iterable[str]) -> bool:
    return any(code.startswith(p) for p in prefixes)


@dataclass(frozen=True, slots=True)
class PayerPolicies:
    """The policies known to a run and which payer gets which (the ``[policies]`` config)."""

    policies: Mapping[str, PayerPolicy] = field(default_factory=dict)
    payers: Mapping[str, str] = field(default_factory=dict)  # payer key -> policy id
    default: str | None = None
    # the payer keys case-folded, made once: a name is matched whatever its case
    _folded: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_folded",
                           {key.casefold(): pid for key, pid in self.payers.items()})

    @property
    def active(self) -> bool:
        """Whether any claim can get a policy (else nothing needs reading for one)."""
        return self.default is not None or bool(self.payers)

    def lookup(self, keys: Iterable[str], names: Iterable[str] = ()) -> PayerPolicy | None:
        """The policy of the first key the configuration maps (keys in the order they are
        to be tried: ``system|value``, bare value, name); else of the first of ``names`` it
        maps whatever the case ("AETNA" for "Aetna"; identifiers stay exact)."""
        for key in keys:
            if (pid := self.payers.get(key)) is not None:
                return self.policies[pid]
        for name in names:
            if (pid := self._folded.get(name.casefold())) is not None:
                return self.policies[pid]
        return None

    @property
    def fallback(self) -> PayerPolicy | None:
        return self.policies[self.default] if self.default is not None else None


NO_POLICIES = PayerPolicies()
