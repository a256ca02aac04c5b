"""A Spark standalone cluster on 127.0.0.1 (a master and N workers, from pyspark's own
classes), the README's shipping commands run against it, and the job measured on it.

    python -m bench.standalone [--size 20000] [--workers 1,2]

Per worker count: start the cluster, pack the adapter's wheel into a venv (``venv-pack -p``,
once), run the README's client-mode ``spark-submit`` (the packed env unpacked as the
executors' Python, ``PYSPARK_DRIVER_PYTHON`` the local env), stop the cluster; then report
the wall time, the CPU-seconds of the whole job (every process: driver, master, workers,
executors, Python workers; ``RUSAGE_CHILDREN`` once all have exited) and the shuffle bytes
written (Spark's event log). tests/spark/test_cluster.py runs the same commands on the demo.

Spark puts its own ``python/lib/pyspark.zip`` and py4j on its Python processes' path (the
pip-installed Spark too), so the packed env brings everything else: the adapter, its
dependencies, pyarrow and pandas (``mapInArrow`` asks for both).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _daemon(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own group: stopped whole


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@contextlib.contextmanager
def standalone(workers: int, work: Path, cores: int = 1, memory: str = "1g"
               ) -> Iterator[str]:
    """A master and ``workers`` workers on 127.0.0.1; yields the master URL."""
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP="127.0.0.1",
               SPARK_LOG_DIR=str(work), SPARK_WORKER_DIR=str(work / "worker"))
    port, ui = free_port(), free_port()
    daemons = [_daemon(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                        "--port", str(port), "--webui-port", str(ui)], work / "master.log", env)]
    url = f"spark://127.0.0.1:{port}"
    try:
        for n in range(workers):
            daemons.append(_daemon(
                ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                 "--cores", str(cores), "--memory", memory, "--webui-port", "0",
                 "--work-dir", str(work / f"worker-{n}"), url], work / f"worker-{n}.log", env))
        deadline = time.monotonic() + 180
        while _alive_workers(ui) < workers:
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                logs = "\n".join(p.read_text()[-1500:] for p in work.glob("*.log"))
                raise RuntimeError(f"the standalone cluster did not start:\n{logs}")
            time.sleep(0.5)
        yield url
    finally:
        for daemon in reversed(daemons):
            _stop(daemon)


def _alive_workers(ui: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as answer:
            return int(json.load(answer).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0


def build_wheel(dest: Path) -> Path:
    """The adapter's wheel (pure Python build), as a release would ship it."""
    dest.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "B12_ADAPTER_COMPILE"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest),
                    str(ROOT)], check=True, env=env)
    return max(dest.glob("b12_fhir_adapter-*.whl"), key=lambda p: p.stat().st_mtime)


def pack_env(work: Path) -> tuple[Path, Path]:
    """The README's three lines: a venv with the wheel, pyarrow, pandas and venv-pack, packed with
    ``-p`` (not activated). Returns (the env, the archive)."""
    wheel = build_wheel(work / "dist")
    env, archive = work / "b12env", work / "b12env.tar.gz"
    if archive.exists():
        return env, archive
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    # the spark extra's pins (pyproject.toml): pandas<3 and numpy<2 keep spaCy importable
    subprocess.run([str(env / "bin" / "pip"), "install", "-q", str(wheel), "pyarrow<21",
                    "pandas<3", "numpy<2", "venv-pack"], check=True)
    subprocess.run([str(env / "bin" / "venv-pack"), "-p", str(env), "-o", str(archive), "-q"],
                   check=True)
    return env, archive


def submit(master: str, env: Path, archive: Path, source: Path, out: Path, work: Path,
           extra: list[str] | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    """The README's standalone client-mode command, as written, plus ``extra`` confs."""
    script = subprocess.run([str(env / "bin" / "python"), "-m", "adapter.spark.submit",
                             "--path"], check=True, capture_output=True, text=True,
                            cwd=work).stdout.strip()
    run_env = dict(os.environ, PYSPARK_DRIVER_PYTHON=str(env / "bin" / "python"),
                   PYSPARK_PYTHON="./env/bin/python", SPARK_HOME=str(spark_home()),
                   SPARK_LOCAL_IP="127.0.0.1")
    run_env.pop("PYTHONPATH", None)
    command = [str(spark_home() / "bin" / "spark-submit"), "--master", master,
               "--deploy-mode", "client", "--archives", f"{archive}#env",
               "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false",
               *(extra or []), script, "--source", str(source), "--out", str(out)]
    return subprocess.run(command, env=run_env, capture_output=True, text=True, cwd=work,
                          timeout=timeout)


def shuffle_bytes(event_logs: Path) -> int:
    """Shuffle bytes written by every task, from Spark's event log(s) in the folder (Spark 4
    rolls them: a folder of ``events_*`` files per application)."""
    total = 0
    for log in sorted(p for p in event_logs.rglob("*") if p.is_file()
                      and not p.name.startswith("appstatus")):
        with log.open(encoding="utf-8") as handle:
            for line in handle:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                metrics = json.loads(line).get("Task Metrics") or {}
                total += int((metrics.get("Shuffle Write Metrics") or {})
                             .get("Shuffle Bytes Written", 0))
    return total


def measure(workers: int, source: Path, work: Path, env: Path, archive: Path) -> dict[str, Any]:
    events = work / f"events-{workers}"
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir(parents=True)
    out = work / f"out-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with standalone(workers, work / f"cluster-{workers}") as master:
        up = time.perf_counter()
        done = submit(master, env, archive, source, out, work,
                      ["--conf", "spark.eventLog.enabled=true",
                       "--conf", f"spark.eventLog.dir=file://{events}",
                       "--conf", "spark.eventLog.compress=false"])
        job_wall = time.perf_counter() - up
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # every process has exited
    (work / f"submit-{workers}.out").write_text(done.stdout)
    (work / f"submit-{workers}.err").write_text(done.stderr)
    if done.returncode not in (0, 1):
        raise SystemExit(f"spark-submit exited {done.returncode}:\n{done.stderr[-4000:]}")
    from adapter.spark.publish import latest_run, read_small

    written = json.loads(read_small(latest_run(out) / "summary.json") or "{}")
    return {"workers": workers, "job_wall_s": job_wall,
            "with_cluster_start_s": time.perf_counter() - started,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "shuffle_bytes": shuffle_bytes(events),
            "exit": done.returncode, "summary": written.get("summary"),
            "counts": written.get("counts")}


def main() -> None:
    from bench.run import dataset
    from bench.spark import _resources

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    work = OUT / "standalone"
    source = dataset(args.size)
    resources = _resources(source)
    env, archive = pack_env(work)
    rows = [measure(int(n), source, work, env, archive) for n in args.workers.split(",")]
    lines = [f"{args.size:,} claims, {resources:,} resources; workers of 1 core and 1 GB on "
             f"one {os.cpu_count()}-core machine; load average at the end "
             f"{os.getloadavg()[0]:.1f}", "",
             "| workers | job wall s | CPU-s (every process) | CPU-s per M resources | "
             "shuffle bytes per claim | summary |", "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['workers']} | {r['job_wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['cpu_s'] / resources * 1e6:,.0f} | "
                     f"{r['shuffle_bytes'] / args.size:,.0f} | `{json.dumps(r['summary'])}` |")
    text = "\n".join(lines)
    print(text)
    (OUT / "standalone.md").write_text(text + "\n")
    (OUT / "standalone.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
