"""The Python side of the job's ``mapInArrow`` stages: Arrow batches in, Arrow batches out.

Each function takes the iterator of one partition's record batches and yields batches of
rows in the shape of ``records.ROW_FIELDS`` (map side) or ``OUTPUT_FIELDS`` (checked
claims), so the job needs only the DataFrame API (Spark Connect, shared clusters): no RDD,
no JVM handle. The rows themselves are made by ``records`` and ``patients``, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from adapter.spark import records
from adapter.spark.patients import check_partition
from adapter.spark.records import RunSpec

BATCH = 2048  # rows per output batch

_ARROW = {"string": pa.string(), "int": pa.int32(), "bigint": pa.int64(),
          "array<string>": pa.list_(pa.string())}
ROW_SCHEMA = pa.schema([pa.field(name, _ARROW[sql], nullable)
                        for name, sql, nullable in records.ROW_FIELDS])
OUTPUT_FIELDS = records.OUTPUT_FIELDS  # what the check stage outputs
OUTPUT_SCHEMA = pa.schema([pa.field(name, _ARROW[sql], nullable)
                           for name, sql, nullable in OUTPUT_FIELDS])


def _batches(rows: Iterable[Sequence[Any]], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    names = schema.names
    columns: list[list[Any]] = [[] for _ in names]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        if len(columns[0]) >= BATCH:
            yield pa.RecordBatch.from_arrays(
                [pa.array(c, type=schema.field(i).type) for i, c in enumerate(columns)],
                schema=schema)
            columns = [[] for _ in names]
    if columns[0]:
        yield pa.RecordBatch.from_arrays(
            [pa.array(c, type=schema.field(i).type) for i, c in enumerate(columns)],
            schema=schema)


def _rows(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[Any, ...]]:
    for batch in batches:
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


# A file as the job names it: (index in reading order, resource type from its name, name)
FileInfo = tuple[int, "str | None", str]


def parse_lines(batches: Iterable[pa.RecordBatch], files: Mapping[str, FileInfo],
                spec: RunSpec) -> Iterator[pa.RecordBatch]:
    """NDJSON lines (value, file_name, file_block_start) -> map-side rows. A task reads one
    split after another, in order, so a line's number is counted from its split's start: the
    line number itself when the split starts the file (always, for a gzipped file)."""
    counted: dict[tuple[str, int], int] = {}

    def rows() -> Iterator[records.Row]:
        for line, file_name, start in _rows(batches):
            index, rtype, name = files[file_name]
            number = counted.get((file_name, start), 0)
            counted[(file_name, start)] = number + 1
            where = f"{name}:{number + 1}" if start == 0 else \
                f"{name}:{number + 1} after byte {start}"
            yield from records.line_rows(line, where, spec, index, start + number, rtype, name)

    return _batches(rows(), ROW_SCHEMA)


def parse_files(batches: Iterable[pa.RecordBatch], files: Mapping[str, FileInfo],
                spec: RunSpec) -> Iterator[pa.RecordBatch]:
    """Whole JSON files (value, file_name): Bundles or single resources -> map-side rows."""
    def rows() -> Iterator[records.Row]:
        for text, file_name in _rows(batches):
            index, _, name = files[file_name]
            yield from records.file_rows(text, name, spec, index)

    return _batches(rows(), ROW_SCHEMA)


def resolve_uses(batches: Iterable[pa.RecordBatch], spec: RunSpec) -> Iterator[pa.RecordBatch]:
    """Medication uses (text, file, pos, drug) joined with their Medication -> rows."""
    return _batches(records.resolve_uses(_rows(batches), spec), ROW_SCHEMA)


def check(batches: Iterable[pa.RecordBatch], spec: RunSpec) -> Iterator[pa.RecordBatch]:
    """A partition sorted by (key, order, ...): (key, order, ref, text, drug) -> outputs."""
    return _batches(check_partition(_rows(batches), spec), OUTPUT_SCHEMA)
