"""DetectedIssue NDJSON for file runs: one R4 DetectedIssue per finding, streamed as checked."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TextIO

from adapter.driver import Sink
from adapter.outcomes import PageOutcome
from adapter.output.detected_issue import build_detected_issue


class DetectedIssueFile(Sink):
    """Writes ``DetectedIssue.ndjson`` in ``directory``."""

    def __init__(self, directory: Path, identified: datetime) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "DetectedIssue.ndjson"
        self.identified = identified
        self.count = 0
        self._handle: TextIO = self.path.open("w", encoding="utf-8",
                                                  errors="backslashreplace")

    def write(self, page: PageOutcome) -> None:
        for result in page.results:
            for finding in result.findings:
                issue = build_detected_issue(result, finding, self.identified)
                self._handle.write(json.dumps(issue, separators=(",", ":")) + "\n")
                self.count += 1

    def close(self) -> None:
        self._handle.close()
