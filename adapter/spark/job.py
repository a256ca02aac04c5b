"""The Spark plan: read a Bulk Data export, key by patient, group, check, write. Imports pyspark.

    files --map: parse, read, filter (records.route)--> rows keyed by patient
      medication uses naming a Medication --join the Medication, judge--> facts, errors
      claims sharing an id: the first stands, later ones --> errors (once_each)
      claims in scope ----------------------------.
      facts of patients with a claim in scope ----+--> repartition by patient, sort
      what those claims and facts link to --------'    --> patients.check_partition
      skipped claims, errors (map side) --------------------------> output
    output --> claims/, DetectedIssue/, skipped/, errors/ (part files, one JSON per line)
           --> summary.json (the JSON report's summary)

Only claims in scope and the facts of their patients cross the big shuffle, as the raw JSON
of each resource; irrelevant resources never leave the map side, and files of types no check
reads are never opened (``layout``). The link join carries only the few resources a claim
or a fact points at outside its patient (another patient's), so the results and the errors
are the file mode's, claim for claim.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from adapter.driver import SECOND_CLAIM
from adapter.sources.files import SourceError
from adapter.spark import layout as bulk
from adapter.spark import records
from adapter.spark.patients import CLAIM, KNOWN_REF, LINKED, OWN, check_partition
from adapter.spark.records import CLAIMS, ERRORS, ISSUES, SKIPPED, RunSpec

_TYPES = {"string": StringType(), "int": IntegerType(), "bigint": LongType(),
          "array<string>": ArrayType(StringType())}
ROWS = StructType([StructField(name, _TYPES[sql], nullable)
                   for name, sql, nullable in records.ROW_FIELDS])
OUTPUTS = StructType([
    StructField("section", StringType(), False),
    StructField("text", StringType(), False),
    StructField("verdict", StringType(), True),
])
SECTIONS = (CLAIMS, ISSUES, SKIPPED, ERRORS)
TEXT_INPUT = "org.apache.hadoop.mapreduce.lib.input.TextInputFormat"
BROADCAST_ROWS = 100_000  # second claims of an id sent to every task (more: joined)


@dataclass
class SparkRun:
    summary: dict[str, int]
    files: list[str] = field(default_factory=list)  # the files read
    ignored: list[str] = field(default_factory=list)  # the files not read, and why


def _fs(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """A Hadoop Path and its FileSystem (py4j objects)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def discover(spark: SparkSession, source: str) -> bulk.Layout:
    """The files to read, listed with Hadoop's file system (any scheme Spark reads)."""
    path, fs = _fs(spark, source)
    if not fs.exists(path):
        raise SourceError(f"{source}: no such file or directory")
    if not fs.getFileStatus(path).isDirectory():
        return bulk.Layout(files=[bulk.single_file(source)])
    names = [s.getPath().getName() for s in fs.listStatus(path) if s.isFile()]
    manifest = None
    if bulk.MANIFEST in names:
        manifest = spark.sparkContext.wholeTextFiles(bulk.join(source, bulk.MANIFEST)) \
            .values().first()
    found = bulk.plan(source, names, manifest, records.wanted_type)
    if not found.files and not found.problems:
        raise SourceError(f"{source}: directory holds no NDJSON or JSON FHIR files")
    return found


def parse(spark: SparkSession, found: bulk.Layout, spec: RunSpec) -> DataFrame:
    """Every file's rows (records.py), one RDD per file so errors can name it."""
    sc = spark.sparkContext
    parts = [sc.parallelize([records.error_row(p) for p in found.problems], 1)]
    for index, data in enumerate(found.files):
        name, rtype = data.name, data.resource_type
        if data.bundle:
            part = sc.wholeTextFiles(data.path).flatMap(
                lambda kv, name=name, index=index: records.file_rows(kv[1], name, spec, index))
        else:
            part = sc.newAPIHadoopFile(
                data.path, TEXT_INPUT, "org.apache.hadoop.io.LongWritable",
                "org.apache.hadoop.io.Text",
            ).flatMap(lambda kv, name=name, index=index, rtype=rtype: records.line_rows(
                kv[1], f"{name} at byte {kv[0]}", spec, index, kv[0], rtype, name))
        parts.append(part)
    return spark.createDataFrame(sc.union(parts), ROWS, verifySchema=False)


def resolve_uses(parsed: DataFrame, spec: RunSpec) -> DataFrame:
    """The medication uses whose drug is a Medication resource, joined with it (the last of
    an id, as file mode keeps it) and judged: facts, references and errors (rows)."""
    kind = F.col("kind")
    waiting = parsed.where(kind == records.WAITING).select(
        F.col("links")[0].alias("drug_ref"), "text", "file", "pos")
    drugs = (parsed.where(kind == records.DRUG)
             .groupBy(F.col("ref").alias("drug_ref"))
             .agg(F.max_by("text", F.struct("file", "pos")).alias("drug")))
    judged = (waiting.join(drugs, "drug_ref", "left").select("text", "file", "pos", "drug").rdd
              .mapPartitions(lambda rows: records.resolve_uses(rows, spec)))
    return parsed.sparkSession.createDataFrame(judged, ROWS, verifySchema=False)


def once_each(claims: DataFrame, outcomes: DataFrame, cached: list[DataFrame]
              ) -> tuple[DataFrame, DataFrame]:
    """File mode judges one claim per id (``Driver._once_each``): of the claims sharing an
    id, the first in file order stands and each later one is an error instead. ``claims``:
    the claims in scope; ``outcomes``: output rows, of which those with a ``ref`` are claims'
    (skipped or unreadable). Returns both without the later ones, the errors added to the
    outputs."""
    ref = F.col("ref")
    seen = (claims.select("ref", "file", "pos")
            .unionByName(outcomes.where(ref.isNotNull()).select("ref", "file", "pos"))
            .where(~ref.endswith("/(no id)")).distinct())
    firsts = (seen.groupBy("ref").agg(F.min(F.struct("file", "pos")).alias("first"),
                                      F.count(F.lit(1)).alias("n"))
              .where(F.col("n") > 1))
    later = (seen.join(firsts, "ref")
             .where((F.col("file") != F.col("first.file")) | (F.col("pos") != F.col("first.pos")))
             .select("ref", "file", "pos").persist())  # few rows, read three times
    cached.append(later)
    drop = F.broadcast(later) if later.count() <= BROADCAST_ROWS else later
    errors = later.select(
        F.lit(ERRORS).alias("section"),
        F.to_json(F.struct(ref.alias("resource"), F.lit(SECOND_CLAIM).alias("message")))
        .alias("text"),
        F.lit(None).cast("string").alias("verdict"))
    kept = outcomes.join(drop, ["ref", "file", "pos"], "left_anti").select(
        "section", "text", F.lit(None).cast("string").alias("verdict"))
    return claims.join(drop, ["ref", "file", "pos"], "left_anti"), kept.unionByName(errors)


def plan(parsed: DataFrame, spec: RunSpec, partitions: int | None,
         cached: list[DataFrame]) -> DataFrame:
    """Output rows (section, text, verdict): the patients' checks plus the map side's.
    DataFrames it caches are added to ``cached``, for the caller to release."""
    kind, key = F.col("kind"), F.col("key")
    resolved = resolve_uses(parsed, spec).persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(resolved)
    claims, early = once_each(
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
    hits = (wanted.join(targets, "ref")
            .where(F.col("owner").isNull() | (F.col("owner") != key))
            .select("key", "ref", "order").persist())  # few rows, read three times
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
    grouped = grouped.repartition(partitions, "key") if partitions else grouped.repartition("key")
    checked = (grouped.sortWithinPartitions("key", "order", "file", "pos")
               .select("key", "order", "ref", "text", "drug").rdd
               .mapPartitions(lambda rows: check_partition(rows, spec)))
    return parsed.sparkSession.createDataFrame(checked, OUTPUTS, verifySchema=False) \
        .unionByName(early)


def summarize(outputs: DataFrame) -> dict[str, int]:
    counts: Counter[tuple[str, str | None]] = Counter({
        (row["section"], row["verdict"]): row["count"]
        for row in outputs.groupBy("section", "verdict").count().collect()})
    return {
        "checked": sum(n for (section, _), n in counts.items() if section == CLAIMS),
        "supported": counts[(CLAIMS, "supported")],
        "review": counts[(CLAIMS, "review")],
        "unsupported": counts[(CLAIMS, "unsupported")],
        "skipped": counts[(SKIPPED, None)],
        "errors": counts[(ERRORS, None)],
    }


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """One small file (summary.json) through Hadoop's file system, whatever the scheme."""
    path, fs = _fs(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def run(spark: SparkSession, source: str, out: str, spec: RunSpec,
        partitions: int | None = None) -> SparkRun:
    """Check the export at ``source``; write the output under ``out`` (replacing an earlier
    run's); return the summary."""
    found = discover(spark, source)
    parsed = parse(spark, found, spec).persist(StorageLevel.MEMORY_AND_DISK)
    cached = [parsed]
    outputs = plan(parsed, spec, partitions, cached).persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(outputs)
    try:
        summary = summarize(outputs)
        for section in SECTIONS:
            (outputs.where(F.col("section") == section).select("text")
             .write.mode("overwrite").text(bulk.join(out, section)))
        write_text(spark, bulk.join(out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    finally:
        for frame in reversed(cached):
            frame.unpersist()
    return SparkRun(summary, [f.name for f in found.files], found.ignored)

