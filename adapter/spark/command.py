"""``b12-adapter spark`` and the ``spark-submit`` entry point (``adapter/spark/submit.py``).

Arguments -> a Spark session -> ``job.run`` -> the summary on stdout -> the exit status
(0 every claim checked, 1 some resources or claims could not be processed, 2 unusable input
or arguments, or pyspark missing). pyspark is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from adapter.build import install_hint
from adapter.config import ConfigError
from adapter.judge import Judge, add_judging_options
from adapter.mappings import MappingsError
from adapter.numeric_options import positive_int
from adapter.output.terminal import log_to_stderr, shown
from adapter.sources.files import SourceError
from adapter.spark import object_store
from adapter.spark.records import RunSpec

EXIT_OK, EXIT_PARTIAL, EXIT_UNUSABLE = 0, 1, 2
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, metavar="PATH|URI",
                        help="Bulk Data directory, NDJSON or Bundle file: a local path or a "
                        "URI Spark reads (s3a://, abfss://, gs://, hdfs://)")
    parser.add_argument("--out", required=True, metavar="DIR|URI",
                        help="writes a run under OUT/runs/<run id>/ (claims/, findings/, "
                        "DetectedIssue/, skipped/, errors/, summary.json) and then OUT/_LATEST, "
                        "naming it: a reader following _LATEST sees one whole run")
    parser.add_argument("--format", choices=("parquet", "json"), default="parquet",
                        help="claims and findings as Parquet rows partitioned by service month "
                        "(default), or claims as JSON lines; DetectedIssue is NDJSON either way")
    add_judging_options(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--master", metavar="URL",
                       help="Spark master, e.g. local[2] or spark://host:7077 (default: "
                       "spark-submit's, else local[*])")
    where.add_argument("--remote", metavar="sc://HOST:PORT",
                       help="a Spark Connect server to run the job on (pyspark[connect])")
    parser.add_argument("--partitions", type=positive_int, metavar="N",
                        help="patient partitions of the check stage (default: the shuffle "
                        "partitions)")
    parser.add_argument("--shuffle-partitions", type=positive_int, metavar="N",
                        help="partitions of every other shuffle (default: from the input's "
                        "bytes and the cores, at least twice the cores; adaptive query "
                        "execution coalesces small ones)")
    parser.add_argument("--read-partition-mb", type=positive_int, metavar="MB",
                        help="input split size (spark.sql.files.maxPartitionBytes; default "
                        "Spark's 128, spread over the cores)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress on stderr")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="b12-adapter spark", description=__doc__.splitlines()[0])
    add_arguments(p)
    return p


def session(master: str | None, remote: str | None = None) -> Any:
    """The Spark session: a Spark Connect server's, spark-submit's, or a local one this
    process starts."""
    from pyspark.sql import SparkSession

    if remote:
        return SparkSession.builder.remote(remote).getOrCreate()
    builder = SparkSession.builder.appName("b12-adapter")
    launched_here = "PYSPARK_GATEWAY_PORT" not in os.environ  # not under spark-submit
    if master:
        builder = builder.master(master)
    if launched_here:
        # executors run this Python (with the adapter installed), and a local run binds
        # to the loopback interface only
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if master is None or master.startswith("local"):
            builder = (builder.config("spark.driver.host", "127.0.0.1")
                       .config("spark.driver.bindAddress", "127.0.0.1")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false"))
    return builder.getOrCreate()


def run(args: argparse.Namespace) -> int:
    try:
        from adapter.spark import job
    except ImportError as exc:
        print(shown(f"b12-adapter: spark needs pyspark ({exc}); {install_hint('spark')}"),
              file=sys.stderr)
        return EXIT_UNUSABLE
    source, out = str(args.source), str(args.out)
    missing = object_store.missing_connector(source) or object_store.missing_connector(out)
    try:
        policy = Judge.load(args.config, args.facility_timezone).policy
        spec = RunSpec.of_policy(policy, datetime.now(UTC))  # [policies], [notes], all of it
        spark = session(args.master, args.remote)
        sizing = job.Sizing(args.partitions, args.shuffle_partitions, args.read_partition_mb)
        done = job.run(spark, source, out, spec, fmt=args.format, sizing=sizing,
                       progress=_quiet if args.quiet else _progress)
    except (SourceError, ConfigError, MappingsError) as exc:
        print(shown(f"b12-adapter: {exc}"), file=sys.stderr)
        return EXIT_UNUSABLE
    except Exception as exc:  # a file system Spark has no connector for: say which to add
        advice = object_store.advice(exc, missing)
        if advice is None:
            raise
        print(shown(f"b12-adapter: {advice}"), file=sys.stderr)
        return EXIT_UNUSABLE
    for name in done.ignored:
        log.info("not read: %s", name)
    print(json.dumps({"summary": done.summary, "out": out, "run": done.run}, indent=2))
    return EXIT_PARTIAL if done.summary["errors"] else EXIT_OK


def _progress(message: str) -> None:
    print(shown(f"b12-adapter spark: {message}"), file=sys.stderr, flush=True)


def _quiet(message: str) -> None:
    pass


def main(argv: Sequence[str] | None = None) -> int:
    """``spark-submit adapter/spark/submit.py --source URI --out URI``."""
    args = parser().parse_args(argv)
    log_to_stderr(logging.WARNING)
    return run(args)
