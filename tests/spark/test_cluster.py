"""The README's shipping commands, as written, against a standalone cluster: a master and
two workers on 127.0.0.1 started from pyspark's own classes (bench/standalone.py). The wheel
is built, installed with pyarrow and pandas into a venv, packed with ``venv-pack -p`` (not
activated) and submitted in client mode (standalone runs Python drivers only there) with
``PYSPARK_DRIVER_PYTHON`` the local env and ``PYSPARK_PYTHON`` the unpacked archive. The
result is file mode's, claim for claim. Slow (a venv, a wheel, five JVMs): one test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spark.compare import assert_same, file_output, spark_output

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "demo"


def test_the_documented_spark_submit_on_a_standalone_cluster_gives_file_modes_results(
        tmp_path):
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    from bench.standalone import pack_env, standalone, submit

    env, archive = pack_env(tmp_path)
    with standalone(2, tmp_path / "cluster") as master:
        done = submit(master, env, archive, DEMO, tmp_path / "out", tmp_path, timeout=900)

    assert done.returncode == 0, done.stderr[-4000:]
    assert_same(spark_output(tmp_path / "out"), file_output(DEMO))
    # spark-submit's Python runner sends the driver's stderr to stdout: progress and the
    # printed summary arrive together there (summary.json is the one to read)
    assert "published run" in done.stdout
