"""Writers for file runs: DetectedIssue NDJSON and the JSON report in an output directory."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TextIO

from adapter.output.detected_issue import build_detected_issue
from adapter.output.report import ClaimResult, Report


class DetectedIssueWriter:
    """Streams one DetectedIssue per finding to ``DetectedIssue.ndjson`` as results arrive."""

    def __init__(self, directory: Path, identified: datetime) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.identified = identified
        self.count = 0
        self._handle: TextIO = (directory / "DetectedIssue.ndjson").open("w", encoding="utf-8")

    def write(self, result: ClaimResult) -> None:
        for finding in result.findings:
            issue = build_detected_issue(result, finding, self.identified)
            self._handle.write(json.dumps(issue, separators=(",", ":")) + "\n")
            self.count += 1

    def close(self, report: Report) -> None:
        self._handle.close()
        (self.directory / "report.json").write_text(report.to_json() + "\n", encoding="utf-8")
