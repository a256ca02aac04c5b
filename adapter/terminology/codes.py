"""Code patterns such as ``K50.-`` or ``K50.0-``: how ICD-10-CM names a code and its children."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CodePattern:
    """One code, or (with a trailing ``-``) that code and every code below it."""

    stem: str
    subtree: bool

    @classmethod
    def parse(cls, text: str) -> CodePattern:
        """``K50.-`` and ``K50.0-`` name a subtree; ``K91.2`` names one code."""
        text = text.strip().upper()
        if text.endswith("-"):
            return cls(text.rstrip("-").rstrip("."), True)
        return cls(text, False)

    def matches(self, code: str) -> bool:
        if not self.subtree:
            return code == self.stem
        return code.replace(".", "").startswith(self.stem.replace(".", ""))


@dataclass(frozen=True, slots=True)
class CodeSet:
    """A named set of ICD-10-CM codes given as patterns; membership is what rules ask."""

    patterns: tuple[CodePattern, ...]
    # code -> member? Rules ask about the same few codes for every claim.
    _known: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...]) -> CodeSet:
        return cls(tuple(CodePattern.parse(item) for item in items))

    def family(self, code: str) -> CodePattern | None:
        """The pattern of the set that ``code`` falls under (``K50.-`` for K50.10), if any."""
        return next((p for p in self.patterns if p.matches(code)), None)

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        known = self._known.get(code)
        if known is None:
            known = any(p.matches(code) for p in self.patterns)
            if len(self._known) < 50_000:  # bounded, whatever codes a source holds
                self._known[code] = known
        return known
