"""Policy files (SPEC 4.4): one JSON file per payer policy, in ``mappings/policies/`` (shipped)
or a user's ``policies.dir``, validated when loaded; an error names the file and the field
(``my-policies/acme.json: covered.codes[1]: 'D51.99' is not an ICD-10-CM code``).

Read only when a configuration has a ``[policies]`` table, so pydantic is imported only then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, ValidationError

from adapter.mappings import data_root
from adapter.payer_policies import (
    NO_POLICIES,
    DualDiagnosis,
    PayerPolicies,
    PayerPolicy,
    Phase,
    PolicySource,
    Schedule,
)
from adapter.terminology import icd10cm, tabular

POLICIES_FOLDER = "policies"


class PolicyError(ValueError):
    """A policy file (or the ``[policies]`` configuration) cannot be used; the message names
    the file and the field."""



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _icd(code: str) -> str:
    normalized = icd10cm.normalize(code)
    if tabular.item(normalized) is None:
        raise ValueError(f"{code!r} is not an ICD-10-CM code or category")
    return normalized


IcdCode = Annotated[str, AfterValidator(_icd)]


class _Source(_Strict):
    document: str = Field(min_length=1)
    url: str | None = None
    date: str | None = None
    unverified: list[str] = []
    notes: str | None = None


class _Effective(_Strict):
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None


class _Covered(_Strict):
    codes: list[IcdCode] = []
    prefixes: list[IcdCode] = []


class _Dual(_Strict):
    code: IcdCode
    requires_one_of: list[IcdCode] = Field(min_length=1)


class _Phase(_Strict):  # numbers strict: true, "5" or 28.0 is no number of days
    count: StrictInt | None = Field(ge=1)
    min_interval_days: StrictInt = Field(ge=0)
    notes: str | None = None


class _Schedule(_Strict):
    course_gap_days: StrictInt = Field(ge=1)
    phases: list[_Phase] = Field(min_length=1)
    notes: str | None = None


class _Policy(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1)
    source: _Source
    effective: _Effective = _Effective()
    covered: _Covered | None = None
    dual_diagnosis: list[_Dual] = []
    schedule: _Schedule | None = None


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = "from" if part == "from_" else part
            out += f".{name}" if out else name
    return out or "(file)"


def parse_policy(data: Any, where: str) -> PayerPolicy:
    """One policy file's JSON as a ``PayerPolicy``; raises ``PolicyError`` naming ``where``
    and the field."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not str(k).startswith("_")}  # _about, ...
    try:
        model = _Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise PolicyError(f"{where}: {_field(first['loc'])}: {msg}") from None
    eff = model.effective
    if eff.from_ and eff.to and eff.to < eff.from_:
        raise PolicyError(f"{where}: effective.to: {eff.to} is before effective.from "
                          f"{eff.from_}")
    if model.schedule is not None:
        for n, phase in enumerate(model.schedule.phases[:-1]):
            if phase.count is None:
                raise PolicyError(f"{where}: schedule.phases[{n}].count: only the last phase "
                                  "may repeat for ever (null)")
    covered = model.covered
    return PayerPolicy(
        id=model.id,
        name=model.name,
        source=PolicySource(model.source.document, model.source.url, model.source.date,
                            tuple(model.source.unverified)),
        effective_from=eff.from_,
        effective_to=eff.to,
        covered_codes=frozenset(covered.codes) if covered is not None else None,
        covered_prefixes=tuple(covered.prefixes) if covered is not None else (),
        dual_diagnosis=tuple(DualDiagnosis(d.code, tuple(d.requires_one_of))
                             for d in model.dual_diagnosis),
        schedule=Schedule(model.schedule.course_gap_days,
                          tuple(Phase(p.count, p.min_interval_days)
                                for p in model.schedule.phases))
        if model.schedule is not None else None,
        file=where,
    )


def _read_folder(folder: Traversable | Path, label: str) -> dict[str, PayerPolicy]:
    found: dict[str, PayerPolicy] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        where = f"{label}/{entry.name}"
        try:
            data = json.loads(entry.read_text(encoding="utf-8-sig"))  # a BOM: passed over
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise PolicyError(f"{where}: not readable JSON: {exc}") from None
        except RecursionError:
            raise PolicyError(f"{where}: not readable JSON: nested too deeply") from None
        policy = parse_policy(data, where)
        if policy.id in found:
            raise PolicyError(f"{where}: id: {policy.id!r} is also the id of "
                              f"{found[policy.id].file}")
        found[policy.id] = policy
    return found


def shipped_policies() -> dict[str, PayerPolicy]:
    """The policies in ``mappings/policies/``."""
    return _read_folder(data_root() / POLICIES_FOLDER, "mappings/policies")


def load_policies(config: Mapping[str, Any] | None, config_file: Path | None = None
                  ) -> PayerPolicies:
    """The ``[policies]`` table of a configuration (None: no policy applies to any claim):

    ``default`` (a policy id), ``dir`` (a folder of the user's own policy files, relative to
    the config file; a policy there replaces a shipped one of the same id) and ``payers``
    (payer key -> policy id; a key is ``system|value`` of an identifier, a bare value, or a
    name).
    """
    if not config:
        return NO_POLICIES
    where = f"{config_file}: policies" if config_file else "policies"
    unknown = sorted(set(config) - {"default", "dir", "payers"})
    if unknown:
        raise PolicyError(f"{where}.{unknown[0]}: unknown setting (default, dir, payers)")
    policies = shipped_policies()
    if (folder := config.get("dir")) is not None:
        if not isinstance(folder, str) or not folder.strip():
            raise PolicyError(f"{where}.dir: expected a folder name")
        path = Path(folder)
        if not path.is_absolute() and config_file is not None:
            path = config_file.parent / path
        if not path.is_dir():
            raise PolicyError(f"{where}.dir: {path} is not a folder")
        policies.update(_read_folder(path, str(path)))
    default = config.get("default")
    if default is not None and (not isinstance(default, str) or default not in policies):
        raise PolicyError(f"{where}.default: {default!r} is not a known policy "
                          f"({', '.join(sorted(policies))})")
    payers = config.get("payers", {})
    if not isinstance(payers, Mapping):
        raise PolicyError(f"{where}.payers: expected a table of payer = policy id")
    for key, pid in payers.items():
        if not isinstance(pid, str) or pid not in policies:
            raise PolicyError(f"{where}.payers.{key}: {pid!r} is not a known policy "
                              f"({', '.join(sorted(policies))})")
    return PayerPolicies(policies, {str(k).strip(): v for k, v in payers.items()}, default)
