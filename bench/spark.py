"""Spark (``local[N]``) against single-process file mode on the same generated exports.

    python -m bench.spark [--sizes 100000,1000000] [--master local[2]] [--driver-memory 4g]
                          [--skip-file-mode] [--as-shipped]

Per size (data from ``bench.run.dataset``, i.e. ``bench/generate.py``, cached in
``bench/data/<size>``): file mode as a whole child process, ``b12-adapter check --source DIR
--out OUT`` (it writes the same DetectedIssues and report as Spark writes; peak RSS is that
child's); then the Spark job in this process (``adapter.spark.job.run``), with wall time,
the peak RSS of the whole process tree (this driver, the JVM, the Python workers: sampled
from /proc every second) and, from Spark's own REST API on 127.0.0.1, each stage's summed
task time: the per-core throughput the cluster estimate in bench/RESULTS.md starts from.
The Markdown printed is also written to ``bench/out/spark.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.run import CLI, FILE_TIMEOUT, OUT, dataset, measure_child


def _say(text: str = "") -> None:
    print(text, flush=True)


# --- memory of a process tree --------------------------------------------------------------


def _tree_rss_mb(root: int) -> float:
    """Summed resident memory of ``root`` and every descendant (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    total, stack, page = 0, [root], os.sysconf("SC_PAGE_SIZE")
    while stack:
        pid = stack.pop()
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        stack += children.get(pid, [])
    return total / 2**20


class PeakSampler:
    def __init__(self, root: int, every: float = 1.0) -> None:
        self.root, self.every, self.peak = root, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_mb(self.root))
            self._stop.wait(self.every)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- Spark ---------------------------------------------------------------------------------


def spark_session(master: str, driver_memory: str, partitions: int) -> Any:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (SparkSession.builder.master(master).appName("b12-bench")
            .config("spark.driver.memory", driver_memory)
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "true")  # its REST API gives the stages' task time
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(partitions))
            .getOrCreate())


def _stages(spark: Any) -> list[dict[str, Any]]:
    sc = spark.sparkContext
    base = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}"
    with urllib.request.urlopen(f"{base}/stages?status=complete", timeout=30) as answer:
        return json.load(answer)


MAP, CHECK, REST = ("read + map side (parse, read, filter, key)", "patient checks (reduce side)",
                   "joins, shuffles, cache reads, writes, summary")


def _phases(stages: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The stage that reads the source is the map side; the longest of the others is the
    patients' checks (with the DetectedIssues built); the rest is Spark's own work."""
    reader = max(stages, key=lambda s: s["inputBytes"])
    checks = max((s for s in stages if s is not reader), key=lambda s: s["executorRunTime"])
    phases: dict[str, dict[str, float]] = {}
    for stage in stages:
        name = MAP if stage is reader else CHECK if stage is checks else REST
        phase = phases.setdefault(name, {"task_s": 0.0, "tasks": 0, "stages": 0,
                                         "shuffle_mb": 0.0, "spill_mb": 0.0})
        phase["task_s"] += stage["executorRunTime"] / 1000
        phase["shuffle_mb"] += stage["shuffleWriteBytes"] / 2**20
        phase["spill_mb"] += stage["diskBytesSpilled"] / 2**20
        phase["tasks"] += stage["numCompleteTasks"]
        phase["stages"] += 1
    return phases


def spark_run(spark: Any, source: Path, out: Path) -> dict[str, Any]:
    from adapter.mappings import load_mappings
    from adapter.spark import job
    from adapter.spark.records import RunSpec

    spec = RunSpec.of(load_mappings().thresholds, datetime.now(UTC))
    before = {s["stageId"] for s in _stages(spark)}
    with PeakSampler(os.getpid()) as sampler:
        started = time.perf_counter()
        done = job.run(spark, str(source), str(out), spec)
        wall = time.perf_counter() - started
    phases = _phases([s for s in _stages(spark) if s["stageId"] not in before])
    return {"wall": wall, "rss_mb": sampler.peak, "summary": done.summary, "phases": phases}


# --- the comparison ------------------------------------------------------------------------


def file_run(source: Path, out: Path) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    result = measure_child([*CLI, "check", "--source", str(source), "--format", "json",
                            "--out", str(out)], OUT / "spark-bench-file.json", FILE_TIMEOUT)
    if result["rc"] not in (0, 1):
        raise SystemExit(f"check --source {source} exited {result['rc']}:\n{result['stderr']}")
    result["summary"] = json.loads((OUT / "spark-bench-file.json").read_text())["summary"]
    return result


def _resources(source: Path) -> int:
    count = 0
    for path in source.glob("*.ndjson"):
        with path.open("rb") as handle:
            count += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return count


def shipped(sizes: list[int], master: str) -> None:
    """The commands as users run them, each a child process timed whole (start-up, the JVM,
    every Python worker): ``check --source`` and ``spark`` with its own defaults."""
    lines = [f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"{datetime.now(UTC):%Y-%m-%d %H:%M}, load average {os.getloadavg()[0]:.1f}", "",
             "| claims | command | wall s | CPU s | peak RSS MB (largest process) | summary |",
             "| ---: | --- | ---: | ---: | ---: | --- |"]
    _say("\n".join(lines))
    for size in sizes:
        source = dataset(size)
        runs = {"b12-adapter check --format json --out": [
                    *CLI, "check", "--source", str(source), "--format", "json", "--out",
                    str(OUT / f"shipped-file-{size}")],
                f"b12-adapter spark --master {master}": [
                    *CLI, "spark", "--source", str(source), "--out",
                    str(OUT / f"shipped-spark-{size}"), "--master", master, "--quiet"]}
        for name, argv in runs.items():
            for path in OUT.glob(f"shipped-*-{size}"):
                shutil.rmtree(path, ignore_errors=True)
            result = measure_child(argv, OUT / "shipped.json", FILE_TIMEOUT)
            printed = json.loads((OUT / "shipped.json").read_text() or "{}")
            lines.append(f"| {size:,} | `{name}` | {result['wall']:.1f} | {result['cpu']:.1f} | "
                         f"{result['rss_mb']:,.0f} | `{json.dumps(printed.get('summary'))}` |")
            _say(lines[-1])
    (OUT / "spark-shipped.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--keep-output", action="store_true",
                        help="keep bench/out/spark-bench-*; by default each run's output is "
                        "deleted once measured")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--skip-file-mode", action="store_true")
    parser.add_argument("--as-shipped", action="store_true",
                        help="time the two commands as users run them (child processes, "
                        "Spark's own defaults) instead of the tuned in-process job")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.as_shipped:
        shipped(sizes, args.master)
        return
    spark = spark_session(args.master, args.driver_memory, args.partitions)
    spark.sparkContext.setLogLevel("ERROR")
    cores = spark.sparkContext.defaultParallelism
    lines = [f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"Spark {spark.version} `{args.master}` (driver memory {args.driver_memory}, "
             f"{args.partitions} shuffle partitions), {datetime.now(UTC):%Y-%m-%d}.", "",
             "| claims | resources | mode | wall s | claims/s | peak RSS MB | summary agrees |",
             "| ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    _say("\n".join(lines))
    details = []
    for size in sizes:
        source = dataset(size)
        resources = _resources(source)
        file_summary = None
        if not args.skip_file_mode:
            f = file_run(source, OUT / f"spark-bench-file-{size}")
            file_summary = f["summary"]
            lines.append(f"| {size:,} | {resources:,} | file, 1 process | {f['wall']:.1f} | "
                         f"{size / f['wall']:,.0f} | {f['rss_mb']:,.0f} | - |")
            _say(lines[-1])
        s = spark_run(spark, source, OUT / f"spark-bench-spark-{size}")
        agrees = "-" if file_summary is None else ("yes" if s["summary"] == file_summary
                                                   else f"NO: {s['summary']}")
        lines.append(f"| {size:,} | {resources:,} | Spark `{args.master}` | {s['wall']:.1f} | "
                     f"{size / s['wall']:,.0f} | {s['rss_mb']:,.0f} | {agrees} |")
        _say(lines[-1])
        total_task = sum(p["task_s"] for p in s["phases"].values())
        details += ["", f"Spark at {size:,} claims ({resources:,} resources): task time by phase "
                    f"(summed over tasks; {cores} cores)", "",
                    "| phase | stages | tasks | task s | resources/s per core | "
                    "claims/s per core | shuffle write MB | spilled MB |",
                    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, p in sorted(s["phases"].items()):
            details.append(f"| {name} | {p['stages']} | {p['tasks']} | {p['task_s']:.1f} | "
                           f"{resources / p['task_s']:,.0f} | {size / p['task_s']:,.0f} | "
                           f"{p['shuffle_mb']:,.0f} | {p['spill_mb']:,.0f} |")
        details.append(f"| all | | | {total_task:.1f} | {resources / total_task:,.0f} | "
                       f"{size / total_task:,.0f} | "
                       f"{sum(p['shuffle_mb'] for p in s['phases'].values()):,.0f} | "
                       f"{sum(p['spill_mb'] for p in s['phases'].values()):,.0f} |")
        written = OUT / f"spark-bench-spark-{size}"
        out_mb = sum(p.stat().st_size for p in written.rglob("*") if p.is_file()) / 2**20
        details.append(f"\nsummary: `{json.dumps(s['summary'])}`; output {out_mb:,.0f} MB")
        if not args.keep_output:
            shutil.rmtree(written, ignore_errors=True)
            shutil.rmtree(OUT / f"spark-bench-file-{size}", ignore_errors=True)
    spark.stop()
    _say("\n".join(details))
    (OUT / "spark.md").write_text("\n".join(lines + details) + "\n")


if __name__ == "__main__":
    main()
