"""The display name of a Patient, Practitioner, Organization or Location, for reports.

Only the audit page shows names (providers always, patients only when asked), so reading one
never fails a run: a name missing or written in an unexpected shape gives None, and the page
shows the reference instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapter.evidence.fields import text

PERSON_TYPES = frozenset({"Patient", "Practitioner"})  # HumanName lists
PLACE_TYPES = frozenset({"Organization", "Location"})  # a plain ``name`` string
NAMED_TYPES = PERSON_TYPES | PLACE_TYPES
# Not a resource type: a sink that asks for it gets the words of each patient's name (given
# and family), to mask them in the text it quotes, never to show.
NAME_PARTS = "Patient.name-parts"
_USE_ORDER: dict[str | None, int] = {"official": 0, "usual": 1}


def name_of(resource: Mapping[str, Any]) -> str | None:
    """The resource's name as a person would write it, or None."""
    rtype = resource.get("resourceType")
    value = resource.get("name")
    if rtype in PLACE_TYPES:
        return _clean(value)
    if rtype not in PERSON_TYPES or not isinstance(value, list):
        return None
    names = [n for n in value if isinstance(n, Mapping) and _use(n) not in ("old", "anonymous")]
    for human in sorted(names, key=lambda n: _USE_ORDER.get(_use(n), 2)):
        written = _clean(human.get("text")) or _clean(" ".join(
            part for key in ("prefix", "given", "family", "suffix")
            for part in _parts(human.get(key))))
        if written:
            return written
    return None


def name_parts(resource: Mapping[str, Any]) -> str | None:
    """The given and family names of every name of a Patient or Practitioner (old and
    maiden ones too; a name's ``text`` when it has neither, but for words ending in a dot,
    "Mrs."), space-separated, each once; None when it has none."""
    value = resource.get("name")
    if resource.get("resourceType") not in PERSON_TYPES or not isinstance(value, list):
        return None
    words: dict[str, None] = {}
    for human in value:
        if not isinstance(human, Mapping):
            continue
        parts = " ".join(_parts(human.get("given")) + _parts(human.get("family"))).split()
        if not parts:
            parts = [w for w in " ".join(_parts(human.get("text"))).split()
                     if not w.endswith(".")]
        for word in parts:
            words[word] = None
    return " ".join(words) or None


def parts_key(ref: str) -> str:
    """Where an outcome's names hold the name parts of the patient ``ref``."""
    return ref + "#" + NAME_PARTS


def _use(name: Mapping[str, Any]) -> str | None:
    use = name.get("use")
    return use if isinstance(use, str) else None


def _parts(value: object) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return text(" ".join(value.split())) or None
