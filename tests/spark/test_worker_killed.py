"""A worker's executor killed (SIGKILL) mid-job on a standalone cluster (a master and two
workers on 127.0.0.1, started from pyspark's own classes, as tests/spark/test_cluster.py
starts them): Spark recomputes what the executor held (its cached rows, its shuffle files)
from the input, the worker starts a new executor, and the run still publishes file mode's
results, claim for claim. Slow: one test, three JVMs and a driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spark.compare import assert_same, file_output, spark_output

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = 4000  # enough that the job is still running when the executor is killed


def executors(worker_dir: Path) -> list[int]:
    """The executor JVMs the worker with ``worker_dir`` started (their working directory is
    under it): only processes this test's cluster started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"CoarseGrainedExecutorBackend" in command and cwd.startswith(str(worker_dir)):
            found.append(int(entry.name))
    return found


def test_an_executor_killed_mid_job_still_publishes_file_modes_results(tmp_path):
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    from bench.generate import generate
    from bench.standalone import standalone

    source = tmp_path / "export"
    generate(CLAIMS, source, 7)
    out = tmp_path / "out"
    work = tmp_path / "cluster"
    with standalone(2, work) as master:
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
        run = subprocess.Popen(
            [sys.executable, "-m", "adapter", "spark", "--source", str(source), "--out",
             str(out), "--master", master, "--format", "parquet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        killed: list[int] = []
        assert run.stderr is not None
        stderr = []
        for line in run.stderr:  # progress: the map side is done, the checks begin
            stderr.append(line)
            if "claims in scope" in line:
                victims = executors(work / "worker-0")
                assert victims, "worker-0 runs no executor"
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
                killed += victims
                break
        _, rest = run.communicate(timeout=900)
        stderr.append(rest)

    assert killed
    log = "".join(stderr)
    assert run.returncode == 0, log[-4000:]
    # the kill landed mid-job: Spark saw the executor go, the checks were still to come
    after = log[log.index("claims in scope"):]
    assert "Lost executor" in after or "ExecutorLost" in after, after[-4000:]
    assert "checked" in after and "published run" in after
    assert_same(spark_output(out), file_output(source))
