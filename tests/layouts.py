"""A chart run through the command line as a typed Bulk export and as one Bundle: a reader
change must read both alike (the typed export has fast paths of its own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main

Resource = dict[str, Any]


def check_both(tmp_path: Path, capsys: pytest.CaptureFixture[str], resources: list[Resource]
               ) -> tuple[int, dict[str, Any]]:
    """(exit status, JSON report) of ``resources`` as a typed export, once the same resources
    in one Bundle are seen to give the same."""
    typed = tmp_path / "typed"
    typed.mkdir()
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for rtype, lines in by_type.items():
        (typed / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in resources]}))
    runs = []
    for source in (typed, bundle):
        status = main(["check", "--source", str(source), "--format", "json"])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        runs.append((status, json.loads(out)))
    assert runs[0] == runs[1]
    return runs[0]


def with_changes(resources: list[Resource], rtype: str, **changes: Any) -> list[Resource]:
    """The chart with the first resource of ``rtype`` changed."""
    first = next(r for r in resources if r["resourceType"] == rtype)
    return [{**r, **changes} if r is first else r for r in resources]


def only_claim(report: dict[str, Any]) -> dict[str, Any]:
    [claim] = report["claims"]
    return claim


def finding_codes(report: dict[str, Any]) -> list[str]:
    return sorted(f["code"] for f in only_claim(report)["findings"])


def errors(report: dict[str, Any]) -> dict[str, str]:
    return {e["resource"]: e["message"] for e in report["errors"]}
