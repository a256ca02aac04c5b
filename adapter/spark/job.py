"""The Spark plan: read a Bulk Data export, key by patient, group, check, write. Imports pyspark.

    files --mapInArrow: parse, read, filter (records.route)--> rows keyed by patient
      medication uses naming a Medication --join the Medication, judge--> facts, errors
      claims sharing an id: the first stands, later ones --> errors (once_each)
      claims in scope ----------------------------.
      facts of patients with a claim in scope ----+--> repartition by patient, sort
      what those claims and facts link to --------'    --> mapInArrow: patients.check_partition
      skipped claims, errors (map side) --------------------------> output
    output --> OUT/runs/<run id>/ claims/, findings/ (Parquet, by service month),
               DetectedIssue/ (NDJSON), skipped/, errors/, summary.json --> OUT/_LATEST

Only the DataFrame API: no RDD, no JVM handle, so the same job runs in local mode, on a
cluster and over Spark Connect (shared-access clusters, serverless). Only claims in scope
and the facts of their patients cross the big shuffle, as the raw JSON of each resource;
irrelevant resources never leave the map side, and files of types no check reads are never
opened (``layout``). The link join carries only the few resources a claim or a fact points
at outside its patient (another patient's), so the results and the errors are the file
mode's, claim for claim.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from adapter.driver import SECOND_CLAIM
from adapter.sources.files import SourceError
from adapter.spark import arrow, publish, records
from adapter.spark import layout as bulk
from adapter.spark.patients import CLAIM, HISTORY, KNOWN_REF, LINKED, OWN
from adapter.spark.records import CLAIMS, ERRORS, ISSUES, SKIPPED, RunSpec

_TYPES = {"string": StringType(), "int": IntegerType(), "bigint": LongType(),
          "array<string>": ArrayType(StringType())}
ROWS = StructType([StructField(name, _TYPES[sql], nullable)
                   for name, sql, nullable in records.ROW_FIELDS])
OUTPUTS = StructType([StructField(name, _TYPES[sql], nullable)
                      for name, sql, nullable in arrow.OUTPUT_FIELDS])
FINDINGS = "findings"
FORMATS = ("parquet", "json")
SPLIT_BYTES = 128 * 1024 * 1024  # input bytes per shuffle partition when sizing from input

# the declared Parquet schemas (tests read them back; the README lists them)
CLAIM_COLUMNS = StructType([
    StructField("claim", StringType(), False), StructField("patient", StringType(), False),
    StructField("service_date", DateType(), False), StructField("verdict", StringType(), False),
    StructField("findings", IntegerType(), False),
    StructField("policy", StringType(), True), StructField("code_set", StringType(), True),
    StructField("service_month", StringType(), False)])
FINDING_COLUMNS = StructType([
    StructField("claim", StringType(), False), StructField("patient", StringType(), False),
    StructField("service_date", DateType(), False), StructField("verdict", StringType(), False),
    StructField("finding", IntegerType(), False), StructField("code", StringType(), False),
    StructField("severity", StringType(), False), StructField("diagnosis", StringType(), True),
    StructField("message", StringType(), False),
    StructField("suggested_code", StringType(), True),
    StructField("evidence", ArrayType(StringType()), False),
    StructField("quote", StringType(), True),
    StructField("policy", StringType(), True), StructField("code_set", StringType(), True),
    StructField("service_month", StringType(), False)])

Progress = Callable[[str], None]


@dataclass
class SparkRun:
    summary: dict[str, int]
    run: str = ""  # the run id: OUT/runs/<run>/
    counts: dict[str, Any] = field(default_factory=dict)  # resources read, findings by code
    files: list[str] = field(default_factory=list)  # the files read
    ignored: list[str] = field(default_factory=list)  # the files not read, and why


@dataclass(frozen=True)
class Sizing:
    """How many partitions each stage gets; None: sized from the input (and AQE)."""

    check: int | None = None  # the patient stage (--partitions)
    shuffle: int | None = None  # every other shuffle (--shuffle-partitions)
    read_mb: int | None = None  # input split size in MB (--read-partition-mb)


def _quiet(_: str) -> None:
    pass


# --- reading ---------------------------------------------------------------------------


def _listing(spark: SparkSession, source: str) -> list[tuple[str, int]]:
    """(path, bytes) of the files at ``source`` (a file, or a directory's top level), listed
    by Spark's own file index: any scheme Spark reads. Contents are not read."""
    from pyspark.errors import AnalysisException

    try:
        rows = (spark.read.format("binaryFile").option("recursiveFileLookup", "false")
                .load(source).select("path", "length").collect())
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
            raise SourceError(f"{source}: no such file or directory") from None
        raise
    return [(row["path"], int(row["length"])) for row in rows]


def _name_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def discover(spark: SparkSession, source: str) -> tuple[bulk.Layout, int]:
    """The files to read, and their bytes."""
    listed = _listing(spark, source)
    own = _name_of(source)
    if len(listed) == 1 and _name_of(listed[0][0]) == own and "." in own \
            and own.lower().endswith((*bulk.NDJSON_SUFFIXES, *bulk.BUNDLE_SUFFIXES)):
        return bulk.Layout(files=[bulk.single_file(source)]), listed[0][1]
    parent = _name_of(source)
    sizes = {_name_of(path): size for path, size in listed  # the top level only
             if _name_of(path.rstrip("/").rsplit("/", 1)[0]) == parent}
    manifest = None
    if bulk.MANIFEST in sizes:
        manifest = spark.read.text(publish.join(source, bulk.MANIFEST), wholetext=True) \
            .first()[0]
    found = bulk.plan(source, list(sizes), manifest, records.wanted_type)
    if not found.files and not found.problems:
        raise SourceError(f"{source}: directory holds no NDJSON or JSON FHIR files")
    return found, sum(sizes.get(f.name, 0) for f in found.files)


def parse(spark: SparkSession, found: bulk.Layout, spec: RunSpec) -> DataFrame:
    """Every file's rows (records.py): NDJSON read by line, split across tasks; Bundles read
    whole. Each line knows its file's name and split, so errors can name where it is."""
    parts = [spark.createDataFrame([records.error_row(p) for p in found.problems], ROWS)]
    files = {f.name: (index, f.resource_type, f.name) for index, f in enumerate(found.files)}
    lines = [f.path for f in found.files if not f.bundle]
    bundles = [f.path for f in found.files if f.bundle]
    if lines:
        parts.append(spark.read.text(lines)
                     .select("value", "_metadata.file_name", "_metadata.file_block_start")
                     .mapInArrow(partial(arrow.parse_lines, files=files, spec=spec), ROWS))
    if bundles:
        parts.append(spark.read.text(bundles, wholetext=True)
                     .select("value", "_metadata.file_name")
                     .mapInArrow(partial(arrow.parse_files, files=files, spec=spec), ROWS))
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.unionByName(part)
    return frame


# --- the plan ----------------------------------------------------------------------------


def resolve_uses(parsed: DataFrame, spec: RunSpec) -> DataFrame:
    """The medication uses whose drug is a Medication resource, joined with it (the last of
    an id, as file mode keeps it) and judged: facts, references and errors (rows)."""
    kind = F.col("kind")
    waiting = parsed.where(kind == records.WAITING).select(
        F.col("links")[0].alias("drug_ref"), "text", "file", "pos")
    drugs = (parsed.where(kind == records.DRUG)
             .groupBy(F.col("ref").alias("drug_ref"))
             .agg(F.max_by("text", F.struct("file", "pos")).alias("drug")))
    return (waiting.join(drugs, "drug_ref", "left").select("text", "file", "pos", "drug")
            .mapInArrow(partial(arrow.resolve_uses, spec=spec), ROWS))


def once_each(claims: DataFrame, outcomes: DataFrame, cached: list[DataFrame]
              ) -> tuple[DataFrame, DataFrame, DataFrame]:
    """File mode judges one claim per id (``Driver._once_each``): of the claims sharing an
    id, the first in file order stands and each later one is an error instead. ``claims``:
    the claims in scope; ``outcomes``: output rows, of which those with a ``ref`` are claims'
    (skipped or unreadable). Returns both without the later ones, the errors added to the
    outputs, and the later claims in scope (their B12 dates still count in the patient's
    injection history, as file mode bills every claim it reads)."""
    ref = F.col("ref")
    seen = (claims.select("ref", "file", "pos")
            .unionByName(outcomes.where(ref.isNotNull()).select("ref", "file", "pos"))
            .where(~ref.endswith("/(no id)")).distinct())
    firsts = (seen.groupBy("ref").agg(F.min(F.struct("file", "pos")).alias("first"),
                                      F.count(F.lit(1)).alias("n"))
              .where(F.col("n") > 1))
    later = (seen.join(firsts, "ref")
             .where((F.col("file") != F.col("first.file")) | (F.col("pos") != F.col("first.pos")))
             .select("ref", "file", "pos").persist())  # few rows, read three or four times
    cached.append(later)
    # no count() to choose a broadcast: adaptive execution broadcasts it when it is small
    drop = later
    errors = as_outputs(later.select(
        F.lit(ERRORS).alias("section"),
        F.to_json(F.struct(ref.alias("resource"), F.lit(SECOND_CLAIM).alias("message")))
        .alias("text")))
    kept = as_outputs(outcomes.join(drop, ["ref", "file", "pos"], "left_anti")
                      .select("section", "text"))
    return (claims.join(drop, ["ref", "file", "pos"], "left_anti"), kept.unionByName(errors),
            claims.join(drop, ["ref", "file", "pos"], "left_semi"))


def as_outputs(frame: DataFrame) -> DataFrame:
    """Rows of (section, text) as output rows: the tables' columns empty."""
    return frame.select("section", "text", *(
        F.lit(None).cast(f.dataType).alias(f.name) for f in OUTPUTS.fields[2:]))


def plan(parsed: DataFrame, spec: RunSpec, partitions: int | None,
         cached: list[DataFrame]) -> DataFrame:
    """Output rows (``records.OUTPUT_FIELDS``): the patients' checks plus the map side's.
    DataFrames it caches are added to ``cached``, for the caller to release."""
    kind, key = F.col("kind"), F.col("key")
    resolved = resolve_uses(parsed, spec).persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(resolved)
    claims, early, later = once_each(
        parsed.where(kind == records.CLAIM),
        parsed.where(kind == records.OUT).unionByName(resolved.where(kind == records.OUT)),
        cached)
    facts = parsed.where(kind == records.FACT).unionByName(
        resolved.where(kind == records.FACT))
    known = parsed.where(kind.isin(records.KNOWN, records.DRUG)).unionByName(
        resolved.where(kind == records.KNOWN)).select("ref")
    patients = claims.select("key").distinct()
    own = facts.where(key.isNotNull()).join(patients, "key", "left_semi")

    # what the claims and the patients' facts point at, wherever it lives
    wanted = (own.select("key", "links").unionByName(claims.select("key", "links"))
              .select("key", F.explode("links").alias("ref")).distinct())
    # matched on references alone (narrow rows); the few hits outside their patient then
    # fetch their text by a broadcast join, so no resource's text is shuffled twice
    targets = facts.select("ref", key.alias("owner"), F.lit(LINKED).alias("order")).unionByName(
        known.select("ref", F.lit(None).cast("string").alias("owner"),
                     F.lit(KNOWN_REF).alias("order")))
    outside = F.col("owner").isNull() | (F.col("owner") != key)
    hits = wanted.join(targets, "ref").where(outside).select("key", "ref", "order")
    if spec.payer_policies:
        # a claim's Coverage of no patient or another one (not its own: that one's payors
        # are wanted already): its payor Organizations too, as file mode finds them
        foreign = hits.where((F.col("order") == LINKED) & F.col("ref").startswith("Coverage/"))
        payors = (facts.where(F.col("ref").startswith("Coverage/")).select("ref", "links")
                  .join(F.broadcast(foreign.select("key", "ref")), "ref")
                  .select("key", F.explode("links").alias("ref")))
        hits = hits.unionByName(payors.join(targets, "ref").where(outside)
                                .select("key", "ref", "order")).distinct()
    hits = hits.persist()  # few rows, read three times
    cached.append(hits)
    texts = facts.select("ref", "text", "file", "pos", "drug").join(
        F.broadcast(hits.where(F.col("order") == LINKED).select("ref").distinct()), "ref")
    linked = (hits.where(F.col("order") == LINKED).join(texts, "ref")
              .unionByName(hits.where(F.col("order") == KNOWN_REF).select(
                  "key", "ref", "order", F.lit(None).cast("string").alias("text"),
                  F.lit(0).alias("file"), F.lit(0).cast("long").alias("pos"),
                  F.lit(None).cast("string").alias("drug")))
              .select("key", "order", "ref", "text", "file", "pos", "drug"))

    columns = ("ref", "text", "file", "pos", "drug")
    grouped = (own.select("key", F.lit(OWN).alias("order"), *columns)
               .unionByName(linked)
               .unionByName(claims.select("key", F.lit(CLAIM).alias("order"), *columns)))
    if spec.payer_policies:  # a frequency limit counts every B12 claim of the patient
        grouped = grouped.unionByName(
            later.select("key", F.lit(HISTORY).alias("order"), *columns))
    grouped = grouped.repartition(partitions, "key") if partitions else grouped.repartition("key")
    checked = (grouped.sortWithinPartitions("key", "order", "file", "pos")
               .select("key", "order", "ref", "text", "drug")
               .mapInArrow(partial(arrow.check, spec=spec), OUTPUTS))
    return checked.unionByName(early)


def summarize(outputs: DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """The summary (the JSON report's) and the findings by code, in one aggregation."""
    counts: Counter[tuple[str, str | None]] = Counter()
    findings: Counter[str] = Counter()
    for row in outputs.groupBy("section", "verdict", "code").count().collect():
        if row["section"] == ISSUES:
            findings[row["code"]] += row["count"]
        else:
            counts[(row["section"], row["verdict"])] += row["count"]
    return {
        "checked": sum(n for (section, _), n in counts.items() if section == CLAIMS),
        "supported": counts[(CLAIMS, "supported")],
        "review": counts[(CLAIMS, "review")],
        "unsupported": counts[(CLAIMS, "unsupported")],
        "skipped": counts[(SKIPPED, None)],
        "errors": counts[(ERRORS, None)],
    }, dict(sorted(findings.items()))


def count_resources(parsed: DataFrame) -> dict[str, int]:
    """What the map side read, by what became of it (summary.json's ``counts``)."""
    by_kind = {row["kind"]: row["count"] for row in parsed.groupBy("kind").count().collect()}
    read = sum(by_kind.get(k, 0) for k in (records.FACT, records.KNOWN, records.DRUG,
                                              records.WAITING, records.CLAIM))
    return {"resources_read": read, "claims_in_scope": by_kind.get(records.CLAIM, 0),
            "chart_facts": by_kind.get(records.FACT, 0) + by_kind.get(records.WAITING, 0),
            "references_only": by_kind.get(records.KNOWN, 0)}


# --- output ------------------------------------------------------------------------------


def claim_tables(outputs: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The checked claims and their findings as rows of the declared schemas: the check
    stage's own columns (the report's values), no JSON parsed back."""
    section = F.col("section")
    day = F.to_date("service_date").alias("service_date")
    month = F.date_format(F.to_date("service_date"), "yyyy-MM").alias("service_month")
    claims = outputs.where(section == CLAIMS).select(
        "claim", "patient", day, "verdict", "findings", "policy", "code_set", month)
    findings = outputs.where(section == ISSUES).select(
        "claim", "patient", day, "verdict", "finding", "code", "severity", "diagnosis",
        "message", "suggested_code", "evidence", "quote", "policy", "code_set", month)
    return claims, findings


def connected(spark: SparkSession) -> bool:
    """A Spark Connect session: the client does not share the server's file system."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def _local(spark: SparkSession, uri: str) -> Path | None:
    """Where ``uri`` is on this process's file system, if this process writes it."""
    return None if connected(spark) else publish.local_path(uri)


def _text(frame: DataFrame, where: str) -> None:
    frame.select("text").write.text(where)
    local = _local(frame.sparkSession, where)
    if local is not None:
        publish.rename_parts(local, ".ndjson")


def write(outputs: DataFrame, where: str, fmt: str, progress: Progress) -> None:
    """Every section into the run's folder ``where`` (new, so nothing is overwritten)."""
    section = F.col("section")
    if fmt == "parquet":
        claims, findings = claim_tables(outputs)
        claims.write.partitionBy("service_month").parquet(publish.join(where, CLAIMS))
        progress("wrote claims (Parquet)")
        findings.write.partitionBy("service_month").parquet(publish.join(where, FINDINGS))
        progress("wrote findings (Parquet)")
    else:
        _text(outputs.where(section == CLAIMS), publish.join(where, CLAIMS))
        progress("wrote claims (JSON lines)")
    for name in (ISSUES, SKIPPED, ERRORS):
        _text(outputs.where(section == name), publish.join(where, name))
        progress(f"wrote {name}")


def write_small(spark: SparkSession, uri: str, text: str) -> None:
    """A small file (summary.json, _LATEST): replaced in one rename on a local file system;
    elsewhere (an object store, a Spark Connect server's disk) a folder of one text part
    file, written by Spark."""
    local = _local(spark, uri)
    if local is not None:
        publish.write_local(local, text)
    else:
        spark.createDataFrame([(text,)], "value string").coalesce(1) \
            .write.mode("overwrite").text(uri)


# --- sizing ------------------------------------------------------------------------------


def cores(spark: SparkSession) -> int:
    """The cores the job's tasks run on: the default parallelism (a classic session), else
    the setting, else this machine's (a Spark Connect client cannot ask the cluster)."""
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect: no SparkContext
        configured = spark.conf.get("spark.default.parallelism", None)
        return int(configured) if configured else (os.cpu_count() or 2)


def size(spark: SparkSession, input_bytes: int, sizing: Sizing) -> dict[str, str]:
    """Adaptive query execution on; shuffle partitions from the input bytes and the cores
    (AQE coalesces those that come out small); the user's counts win. Returns the settings."""
    shuffle = sizing.shuffle or max(2 * cores(spark), math.ceil(input_bytes / SPLIT_BYTES))
    settings = {"spark.sql.adaptive.enabled": "true",
                "spark.sql.adaptive.coalescePartitions.enabled": "true",
                "spark.sql.shuffle.partitions": str(shuffle)}
    if sizing.read_mb:
        settings["spark.sql.files.maxPartitionBytes"] = str(sizing.read_mb * 1024 * 1024)
    for name, value in settings.items():
        spark.conf.set(name, value)
    return settings


# --- the run -----------------------------------------------------------------------------


def run(spark: SparkSession, source: str, out: str, spec: RunSpec,
        partitions: int | None = None, *, fmt: str = "parquet", sizing: Sizing | None = None,
        progress: Progress = _quiet) -> SparkRun:
    """Check the export at ``source``; write the output as a new run under ``out`` and point
    ``out/_LATEST`` at it once it is whole; return the summary."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    sizing = sizing or Sizing()
    started = time.monotonic()

    def say(message: str) -> None:
        progress(f"[{time.monotonic() - started:6.1f} s] {message}")

    found, input_bytes = discover(spark, source)
    size(spark, input_bytes, sizing)
    say(f"{len(found.files)} files to read ({input_bytes / 1e6:.1f} MB), "
        f"{len(found.ignored)} passed over")
    run_id = publish.run_id(datetime.now(UTC))
    where = publish.run_dir(out, run_id)
    parsed = parse(spark, found, spec).persist(StorageLevel.MEMORY_AND_DISK)
    cached = [parsed]
    try:
        counts: dict[str, Any] = count_resources(parsed)
        say(f"read {counts['resources_read']} resources, "
            f"{counts['claims_in_scope']} claims in scope")
        outputs = plan(parsed, spec, partitions or sizing.check, cached) \
            .persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(outputs)
        summary, counts["findings"] = summarize(outputs)
        say(f"checked {summary['checked']} claims ({summary['skipped']} skipped, "
            f"{summary['errors']} errors)")
        write(outputs, where, fmt, say)
        write_small(spark, publish.join(where, "summary.json"), json.dumps(
            {"run": run_id, "source": source, "format": fmt, "summary": summary,
             "counts": counts}, indent=2) + "\n")
        write_small(spark, publish.join(out, publish.LATEST), run_id + "\n")
        say(f"published run {run_id}")
    finally:
        for frame in reversed(cached):
            frame.unpersist()
    return SparkRun(summary, run_id, counts, [f.name for f in found.files], found.ignored)
