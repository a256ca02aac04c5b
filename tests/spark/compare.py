"""Reading a Spark run's output back, and file mode's, in one comparable shape."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapter import modes
from adapter.mappings import load_mappings
from adapter.output.detected_issue import build_detected_issue
from adapter.rules import Policy

VOLATILE = ("identifiedDateTime",)  # the run's instant: differs between any two runs


def lines(directory: Path) -> list[dict[str, Any]]:
    """Every JSON line of the part files in ``directory``."""
    return [json.loads(line) for part in sorted(directory.glob("part-*"))
            for line in part.read_text(encoding="utf-8").splitlines() if line.strip()]


def parquet_rows(directory: Path) -> list[dict[str, Any]]:
    """The rows of a Parquet folder partitioned by service month (its column read back)."""
    import pyarrow.dataset as ds

    return ds.dataset(directory, format="parquet", partitioning="hive").to_table().to_pylist()


def claims_from_parquet(run: Path) -> list[dict[str, Any]]:
    """The JSON report's claim entries, rebuilt from the claims and findings tables."""
    findings: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(parquet_rows(run / "findings"), key=lambda r: (r["claim"], r["finding"])):
        finding = {"code": row["code"], "severity": row["severity"],
                   "diagnosis": row["diagnosis"], "message": row["message"],
                   "suggested_code": row["suggested_code"], "evidence": row["evidence"]}
        if row["quote"] is not None:  # the report names a note's sentence only when it has one
            finding["quote"] = row["quote"]
        findings.setdefault(row["claim"], []).append(finding)
    return [{"claim": row["claim"], "patient": row["patient"],
             "service_date": row["service_date"].isoformat(), "code_set": row["code_set"],
             "verdict": row["verdict"], "policy": row["policy"],
             "findings": findings.get(row["claim"], [])}
            for row in parquet_rows(run / "claims")]


def _issue(issue: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in issue.items() if k not in VOLATILE}, sort_keys=True)


def _bag(items: list[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(item, sort_keys=True) for item in items)


def spark_output(out: Path) -> dict[str, Any]:
    """The run ``out/_LATEST`` names, read back (claims from Parquet or JSON lines)."""
    from adapter.spark.publish import latest_run, read_small

    run = latest_run(out)
    written = json.loads(read_small(run / "summary.json") or "{}")
    claims = claims_from_parquet(run) if written["format"] == "parquet" else lines(run / "claims")
    return {
        "claims": {c["claim"]: c for c in claims},
        "issues": Counter(_issue(i) for i in lines(run / "DetectedIssue")),
        "skipped": _bag(lines(run / "skipped")),
        "errors": _bag(lines(run / "errors")),
        "summary": written["summary"],
        "claim_lines": len(claims),
    }


def run_spark(spark: Any, source: Path | str, out: Path, zone: ZoneInfo | None = None,
              fmt: str = "parquet") -> dict[str, Any]:
    """``adapter.spark.job.run`` on ``source`` (3 patient partitions), its output read back."""
    from adapter.spark import job
    from adapter.spark.records import RunSpec

    spec = RunSpec.of(load_mappings().thresholds, datetime.now(UTC), zone)
    job.run(spark, str(source), str(out), spec, partitions=3, fmt=fmt)
    return spark_output(out)


def assert_same(spark_run: dict[str, Any], file_run: dict[str, Any]) -> None:
    assert spark_run["claims"] == file_run["claims"]  # verdict and findings, claim for claim
    assert spark_run["claim_lines"] == file_run["claim_lines"]  # no claim twice
    assert spark_run["issues"] == file_run["issues"]
    assert spark_run["skipped"] == file_run["skipped"]
    assert spark_run["errors"] == file_run["errors"]
    assert spark_run["summary"] == file_run["summary"]


def file_output(source: Path, zone: ZoneInfo | None = None,
                config: Path | None = None) -> dict[str, Any]:
    """``check --source [--config FILE]`` through adapter.modes.check_files, the same shape."""
    if config is not None:  # as the check command loads it
        judge = modes.Judge.load(config, zone.key if zone is not None else None)
    else:
        mappings = load_mappings()
        judge = modes.Judge(mappings, Policy.from_mappings(mappings, mappings.thresholds, zone))
    report = modes.check_files(judge, source)
    data = report.to_dict()
    now = datetime.now(UTC)
    issues = [build_detected_issue(r, f, now) for r in report.claims for f in r.findings]
    return {
        "claims": {c["claim"]: c for c in data["claims"]},
        "issues": Counter(_issue(i) for i in issues),
        "skipped": _bag(data["skipped"]),
        "errors": _bag(data["errors"]),
        "summary": data["summary"],
        "claim_lines": len(data["claims"]),
    }
