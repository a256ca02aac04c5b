"""The job over Spark Connect: a server started here on 127.0.0.1 from pyspark's own wheel
(``sbin/start-connect-server.sh`` and its ``spark-connect`` jar), and ``b12-adapter spark
--remote sc://127.0.0.1:PORT`` as a client would run it: file mode's results, claim for
claim. The job uses the DataFrame API only, which is all a Connect client has."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.spark.compare import assert_same, file_output, spark_output

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "demo"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory) -> Iterator[str]:
    pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed")
    pytest.importorskip("grpc", reason="Spark Connect's client needs pyspark[connect]")
    home = Path(pyspark.__file__).parent
    script = home / "sbin" / "start-connect-server.sh"
    if not script.is_file() or not list((home / "jars").glob("spark-connect_*.jar")):
        pytest.skip(f"pyspark {pyspark.__version__} ships no Spark Connect server "
                    "(sbin/start-connect-server.sh and jars/spark-connect_*.jar)")
    port = _free_port()
    logs = tmp_path_factory.mktemp("connect")
    env = dict(os.environ, SPARK_HOME=str(home), PYSPARK_PYTHON=sys.executable,
               SPARK_LOG_DIR=str(logs), SPARK_PID_DIR=str(logs), SPARK_LOCAL_IP="127.0.0.1")
    server = subprocess.Popen(
        ["bash", str(script), "--wait", "--master", "local[2]",
         "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.sql.shuffle.partitions=4"],
        env=env, stdout=(logs / "server.out").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)  # its own group: killed whole, the JVM with it
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Spark Connect server did not start:\n"
                            + (logs / "server.out").read_text()[-3000:])
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


def test_over_spark_connect_the_demo_gives_file_modes_results(connect_server, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "adapter", "spark", "--remote", connect_server,
         "--source", str(DEMO), "--out", str(tmp_path / "out"), "--partitions", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout)
    assert_same(spark_output(tmp_path / "out"), file_output(DEMO))
    assert printed["summary"] == file_output(DEMO)["summary"]
    assert "checked" in done.stderr  # progress, as in local mode
    # the client does not share the server's disk: the pointer is written by Spark
    assert (tmp_path / "out" / "_LATEST").is_dir()
