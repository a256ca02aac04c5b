"""Object stores Spark reads only with a connector jar, and the one line that says which.

Spark's wheel carries Hadoop's client but no object-store connector: ``s3a://``, ``gs://``
and ``abfss://`` fail deep in the JVM (``ClassNotFoundException``, ``No FileSystem for
scheme``). The command catches that and names the ``--packages`` coordinate or jar to add;
the README ("On Apache Spark") lists them. Plain Python: tested without Spark.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from adapter.spark.publish import scheme

FALLBACK_HADOOP = "3.4.1"  # when the installed pyspark's Hadoop cannot be told


@cache
def hadoop_version() -> str:
    """The Hadoop version of the installed pyspark's jars (connectors must match it)."""
    try:
        import pyspark
    except ImportError:
        return FALLBACK_HADOOP
    for jar in sorted((Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")):
        found = re.match(r"hadoop-client-api-(.+)\.jar$", jar.name)
        if found:
            return found.group(1)
    return FALLBACK_HADOOP


def connector(uri_scheme: str) -> str | None:
    """What to add to read ``uri_scheme``, or None for a scheme Spark reads as installed."""
    hadoop = hadoop_version()
    if uri_scheme == "s3a":
        return f"--packages org.apache.hadoop:hadoop-aws:{hadoop} (S3A; it brings the AWS SDK)"
    if uri_scheme in ("s3", "s3n"):
        return (f"an s3a:// URI and --packages org.apache.hadoop:hadoop-aws:{hadoop} "
                f"(Hadoop reads S3 as s3a://)")
    if uri_scheme == "gs":
        return ("--jars gcs-connector-<version>-shaded.jar (Maven: "
                "com.google.cloud.bigdataoss:gcs-connector, the shaded jar for Hadoop 3)")
    if uri_scheme in ("abfs", "abfss", "wasb", "wasbs"):
        return f"--packages org.apache.hadoop:hadoop-azure:{hadoop} (ADLS Gen2 / Blob)"
    return None


def missing_connector(uri: str) -> str | None:
    """The scheme of ``uri`` when it is one that needs a connector jar."""
    found = scheme(uri)
    return found if found is not None and connector(found) is not None else None


_MISSING = ("ClassNotFoundException", "No FileSystem for scheme",
            "UnsupportedFileSystemException")


def advice(error: BaseException, uri_scheme: str | None) -> str | None:
    """One line for an error that says a file system is missing, else None."""
    text = str(error)
    if not any(word in text for word in _MISSING):
        return None
    named = re.search(r'No FileSystem for scheme "?([A-Za-z0-9+.-]+)"?', text)
    found = named.group(1).lower() if named else uri_scheme
    if found is None:
        return None
    how = connector(found)
    if how is None:
        return f"Spark has no file system for {found}:// (add the connector jar for it)"
    return f"Spark has no file system for {found}:// here: add {how}"
