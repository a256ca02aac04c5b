"""What a run leaves under --out: Parquet claims and findings with a declared schema,
partitioned by service month; DetectedIssue NDJSON; one whole run published by _LATEST, even
when a re-run is killed midway; partitions sized from the input; a missing object-store
connector named in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.spark import object_store, publish
from tests.spark.compare import (
    assert_same,
    file_output,
    lines,
    parquet_rows,
    run_spark,
    spark_output,
)

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "demo"


# --- output ------------------------------------------------------------------------------


def test_claims_and_findings_are_parquet_rows_of_the_declared_schema_by_service_month(
        spark, tmp_path):
    from adapter.spark import job

    spark_run = run_spark(spark, DEMO, tmp_path)

    run = publish.latest_run(tmp_path)
    for table, declared in (("claims", job.CLAIM_COLUMNS), ("findings", job.FINDING_COLUMNS)):
        months = sorted(p.name for p in (run / table).iterdir() if p.is_dir())
        assert months and all(m.startswith("service_month=20") for m in months), months
        assert all(p.suffix == ".parquet" and ".snappy." in p.name
                   for p in (run / table).rglob("part-*")), "compressed Parquet"
        written = spark.read.parquet(str(run / table))
        assert {(f.name, f.dataType.simpleString()) for f in written.schema} == \
            {(f.name, f.dataType.simpleString()) for f in declared}
    findings = parquet_rows(run / "findings")
    assert len(findings) == sum(len(c["findings"]) for c in spark_run["claims"].values())
    assert {f["code"] for f in findings} >= {"dx-no-indication", "lab-missing"}
    assert all(f["service_month"] == f["service_date"].isoformat()[:7] for f in findings)
    issues = sorted((run / "DetectedIssue").glob("part-*"))
    assert issues and all(p.name.endswith(".ndjson") for p in issues)
    assert len(lines(run / "DetectedIssue")) == len(findings)


def test_the_json_format_writes_claims_as_json_lines_with_file_modes_content(spark, tmp_path):
    spark_run = run_spark(spark, DEMO, tmp_path, fmt="json")

    run = publish.latest_run(tmp_path)
    assert not (run / "findings").exists()
    assert all(p.name.endswith(".ndjson") for p in (run / "claims").glob("part-*"))
    assert_same(spark_run, file_output(DEMO))


def test_summary_json_counts_resources_read_and_findings_by_code(spark, tmp_path):
    spark_run = run_spark(spark, DEMO, tmp_path)

    written = json.loads((publish.latest_run(tmp_path) / "summary.json").read_text())
    counts = written["counts"]
    assert written["run"] == publish.latest(tmp_path)
    assert counts["claims_in_scope"] == spark_run["summary"]["checked"]
    demo_resources = sum(len(p.read_text().splitlines()) for p in DEMO.glob("*.ndjson"))
    assert 0 < counts["resources_read"] <= demo_resources
    by_code: dict[str, int] = {}
    for claim in spark_run["claims"].values():
        for finding in claim["findings"]:
            by_code[finding["code"]] = by_code.get(finding["code"], 0) + 1
    assert counts["findings"] == by_code


# --- runs --------------------------------------------------------------------------------


def test_a_rerun_is_a_new_run_and_latest_names_it_once_whole(spark, tmp_path):
    run_spark(spark, DEMO, tmp_path)
    first = publish.latest(tmp_path)
    run_spark(spark, DEMO, tmp_path)
    second = publish.latest(tmp_path)

    assert first and second and first != second and second > first  # sortable by start
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted([first, second])
    assert (tmp_path / "_LATEST").read_text() == second + "\n"


def test_a_rerun_killed_midway_leaves_the_last_whole_run_published(spark, tmp_path):
    before = run_spark(spark, DEMO, tmp_path)
    published = publish.latest(tmp_path)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    child = subprocess.Popen(
        [sys.executable, "-m", "adapter", "spark", "--source", str(DEMO), "--out",
         str(tmp_path), "--master", "local[1]", "--quiet"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)  # its own group: the JVM it starts dies with it
    try:
        deadline = time.monotonic() + 300
        new_claims = None
        while time.monotonic() < deadline and child.poll() is None:
            found = [p for p in (tmp_path / "runs").glob("*/claims/_SUCCESS")
                     if p.parent.parent.name != published]
            if found:
                new_claims = found[0]
                break
            time.sleep(0.05)
        assert new_claims is not None, child.stderr.read().decode() if child.stderr else ""
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=60)

    assert publish.latest(tmp_path) == published  # the killed run is not named
    assert spark_output(tmp_path) == before  # a reader sees the whole earlier run
    killed = new_claims.parent.parent
    assert not (killed / "summary.json").exists()


# --- sizing ------------------------------------------------------------------------------


def test_partitions_come_from_the_input_and_the_cores_and_the_user_overrides_them(spark):
    from adapter.spark import job

    keep = {k: spark.conf.get(k) for k in ("spark.sql.shuffle.partitions",
                                           "spark.sql.files.maxPartitionBytes")}
    try:
        small = job.size(spark, 10_000_000, job.Sizing())
        assert small["spark.sql.adaptive.enabled"] == "true"
        assert small["spark.sql.shuffle.partitions"] == str(2 * job.cores(spark))
        large = job.size(spark, 1_000_000_000_000, job.Sizing())
        assert large["spark.sql.shuffle.partitions"] == str(-(-10**12 // job.SPLIT_BYTES))
        chosen = job.size(spark, 10**12, job.Sizing(check=5, shuffle=7, read_mb=32))
        assert chosen["spark.sql.shuffle.partitions"] == "7"
        assert spark.conf.get("spark.sql.shuffle.partitions") == "7"
        assert spark.conf.get("spark.sql.files.maxPartitionBytes") == str(32 * 2**20)
    finally:
        for name, value in keep.items():
            spark.conf.set(name, value)


def test_partition_options_reach_the_job(spark, tmp_path, monkeypatch):
    from adapter.spark import job

    seen = {}
    real = job.run

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "run", spy)
    status = main(["spark", "--source", str(DEMO), "--out", str(tmp_path), "--quiet",
                   "--partitions", "3", "--shuffle-partitions", "5",
                   "--read-partition-mb", "16"])
    assert status == 0
    assert seen["sizing"] == job.Sizing(check=3, shuffle=5, read_mb=16)


# --- object stores -----------------------------------------------------------------------


def test_an_object_store_without_its_connector_is_one_line_and_exit_2(spark, tmp_path, capsys):
    status = main(["spark", "--source", "s3a://bucket/export/", "--out", str(tmp_path),
                   "--quiet"])

    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1, err
    assert "org.apache.hadoop:hadoop-aws:" in err and "Traceback" not in err


@pytest.mark.parametrize(("uri", "coordinate"), [
    ("s3a://b/x", "org.apache.hadoop:hadoop-aws:"),
    ("gs://b/x", "com.google.cloud.bigdataoss:gcs-connector"),
    ("abfss://c@a.dfs.core.windows.net/x", "org.apache.hadoop:hadoop-azure:"),
])
def test_each_object_store_names_its_connector(uri, coordinate):
    scheme = object_store.missing_connector(uri)
    error = RuntimeError(f"java.lang.RuntimeException: java.lang.ClassNotFoundException: "
                         f"Class for {scheme} not found")
    assert coordinate in (object_store.advice(error, scheme) or "")


def test_local_paths_and_other_errors_get_no_connector_advice():
    assert object_store.missing_connector("/data/export") is None
    assert object_store.missing_connector("file:/data/export") is None
    assert object_store.missing_connector("hdfs://nn/export") is None
    assert object_store.advice(RuntimeError("out of memory"), "s3a") is None


def test_run_ids_sort_by_start_and_latest_reads_a_pointer_file_or_folder(tmp_path):
    early = publish.run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = publish.run_id(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert early.startswith("20260102T030405Z-") and early < late
    publish.write_local(tmp_path / "a" / publish.LATEST, early + "\n")
    assert publish.latest(tmp_path / "a") == early
    assert [p.name for p in (tmp_path / "a").iterdir()] == [publish.LATEST]  # no temp left
    folder = tmp_path / "b" / publish.LATEST  # as Spark writes it on an object store
    folder.mkdir(parents=True)
    (folder / "part-00000-x.txt").write_text(late + "\n")
    assert publish.latest(tmp_path / "b") == late
    with pytest.raises(FileNotFoundError, match="no finished run"):
        publish.latest_run(tmp_path / "c")
