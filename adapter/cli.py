"""Command line: arguments -> one call into the pipeline, and the exit status (SPEC section 5).

Exit status: 0 every claim checked; 1 some resources or claims could not be processed (the
rest were); 2 unusable input or arguments; 3 ``--fail-on`` asked and a finding reached it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from adapter import __version__
from adapter.config import ConfigError, load_thresholds
from adapter.evidence.chart import Chart
from adapter.findings import Severity
from adapter.mappings import MappingsError, load_mappings
from adapter.output.files import DetectedIssueWriter
from adapter.output.report import Report
from adapter.output.table import render_table
from adapter.pipeline import Checker, check_files
from adapter.rules import Policy
from adapter.sources.files import FileSource, SourceError

EXIT_OK, EXIT_PARTIAL, EXIT_UNUSABLE, EXIT_FINDINGS = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b12-adapter",
        description="Check that B12 injection claims (J3420) are backed by the FHIR chart.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests and progress")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="check claims from files or a FHIR server")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("--source", type=Path, metavar="PATH",
                       help="Bundle JSON, NDJSON file, Bulk Data directory or directory of Bundles")
    check.add_argument("--format", choices=("table", "json"), default="table")
    check.add_argument("--out", type=Path, metavar="DIR",
                       help="write DetectedIssue.ndjson and report.json here")
    check.add_argument("--config", type=Path, metavar="FILE",
                       help="TOML or JSON file overriding thresholds and windows")
    check.add_argument("--fail-on", choices=[s.value for s in Severity], metavar="SEVERITY",
                       help="exit 3 when a finding of this severity or higher is found")
    return parser


def _exit_status(report: Report, fail_on: str | None) -> int:
    if report.errors:
        return EXIT_PARTIAL
    worst = report.worst_severity()
    if fail_on and worst and worst.rank >= Severity(fail_on).rank:
        return EXIT_FINDINGS
    return EXIT_OK


def _check_files(args: argparse.Namespace, policy: Policy) -> Report:
    mappings = load_mappings()
    source = FileSource.open(args.source)
    report = Report()
    writer = DetectedIssueWriter(args.out, datetime.now(UTC)) if args.out else None
    checker = Checker(policy, report, on_result=writer.write if writer else None)
    try:
        check_files(source, Chart(mappings, source.aliases), checker)
    finally:
        if writer:
            writer.close(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        mappings = load_mappings()
        policy = Policy.from_mappings(mappings, load_thresholds(args.config))
        report = _check_files(args, policy)
    except (SourceError, ConfigError, MappingsError) as exc:
        print(f"b12-adapter: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(report.to_json() if args.format == "json" else render_table(report))
    return _exit_status(report, args.fail_on)
