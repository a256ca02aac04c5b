"""The benchmark: claims per second, requests per claim and peak memory as the work grows.

    python -m bench.run [--sizes 1000,10000,100000] [--server-sizes 1000,10000]
                        [--repeat 1] [--naive-seconds 600] [--profile-size 10000]

File mode runs ``b12-adapter check --source DIR --format json`` as a whole process per size
and repeat (wall time, CPU time, and the peak RSS of that one child). Server mode starts the
local test FHIR server (``tests/fhir_server_process.py``: Medplum's engine on 127.0.0.1),
loads the same data with ``b12-adapter load``, and runs ``check --server --dry-run --stats``
beside the hand-written naive client of ``bench/naive_client.py``, which is given a time
budget (it needs ~4 requests per claim). Then a cProfile of one file-mode run. Data is
generated once per size into ``bench/data/<size>`` (git-ignored); the Markdown printed is
also written to ``bench/out/results.md``, from which ``bench/RESULTS.md`` is kept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"
CLI = [sys.executable, "-m", "adapter"]
FILE_TIMEOUT = 1800  # one file-mode run
SERVER_TIMEOUT = 7200  # loading, or one server-mode check
ADAPTER_READ_TIMEOUT = 600  # check --timeout: per request


def _say(text: str = "") -> None:
    print(text, flush=True)


# --- data --------------------------------------------------------------------------------


def _generator_hash() -> str:
    return hashlib.sha256((ROOT / "bench" / "generate.py").read_bytes()).hexdigest()[:16]


def dataset(size: int, seed: int = 12) -> Path:
    """``bench/data/<size>``, generated unless a complete run of this generator made it."""
    from bench.generate import generate

    path = DATA / str(size)
    marker = path / "generated.marker"  # not *.json: a source dir holds only FHIR files
    wanted = {"claims": size, "seed": seed, "generator": _generator_hash()}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return path
    shutil.rmtree(path, ignore_errors=True)
    started = time.perf_counter()
    generate(size, path, seed)
    marker.write_text(json.dumps(wanted))  # last: an interrupted run is generated again
    _say(f"(generated {size:,} claims in {time.perf_counter() - started:.1f} s)")
    return path


# --- file mode ---------------------------------------------------------------------------

# Runs one command as its own child and reports that child's wall time, CPU time and peak
# RSS (RUSAGE_CHILDREN of this fresh wrapper process covers exactly that one child).
_MEASURE = """\
import json, resource, subprocess, sys, time
argv, out, timeout = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
with open(out, "w") as stdout:
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mb": usage.ru_maxrss / 1024, "rc": done.returncode,
                  "stderr": done.stderr[-2000:]}))
"""


@dataclass
class FileRun:
    size: int
    wall: float
    cpu: float
    rss_mb: float


def measure_child(argv: list[str], stdout_path: Path, timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(argv), str(stdout_path), str(timeout)],
        capture_output=True, text=True, timeout=timeout + 60, cwd=ROOT, check=True)
    return json.loads(done.stdout)


def file_mode(sizes: list[int], repeat: int) -> list[str]:
    rows = ["| claims | wall s | claims/s | CPU s | peak RSS MB | runs |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    _say("\n".join(rows))
    for size in sizes:
        source = dataset(size)
        runs = []
        for _ in range(repeat):
            out = OUT / f"file-{size}.json"
            result = measure_child([*CLI, "check", "--source", str(source), "--format", "json"],
                                   out, FILE_TIMEOUT)
            if result["rc"] not in (0, 1):
                raise SystemExit(f"check --source {source} exited {result['rc']}:\n"
                                 f"{result['stderr']}")
            summary = json.loads(out.read_text())["summary"]
            if summary["checked"] + summary["skipped"] + summary["errors"] < size:
                raise SystemExit(f"{source}: only {summary} of {size} claims reported")
            runs.append(FileRun(size, result["wall"], result["cpu"], result["rss_mb"]))
        wall = statistics.median(r.wall for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        spread = (f"{len(runs)} (wall {min(r.wall for r in runs):.2f}-"
                  f"{max(r.wall for r in runs):.2f})" if len(runs) > 1 else "1")
        rows.append(f"| {size:,} | {wall:.2f} | {size / wall:,.0f} | {cpu:.2f} | "
                    f"{max(r.rss_mb for r in runs):,.0f} | {spread} |")
        _say(rows[-1])
    return rows


# --- profile -----------------------------------------------------------------------------

_PROFILE = """\
import contextlib, cProfile, io, pstats, sys
from adapter.cli import main
profiler = cProfile.Profile()
with contextlib.redirect_stdout(io.StringIO()):
    profiler.enable()
    main(["check", "--source", sys.argv[1], "--format", "json"])
    profiler.disable()
for order in ("cumulative", "tottime"):
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(15)
    text = out.getvalue()
    print(f"### top 15 by {order}\\n\\n```\\n" + text[text.index("   ncalls"):].rstrip()
          + "\\n```\\n")
"""


def profile(size: int) -> str:
    """cProfile of one file-mode run (imports excluded), in a child of its own."""
    done = subprocess.run([sys.executable, "-c", _PROFILE, str(dataset(size))],
                          capture_output=True, text=True, timeout=FILE_TIMEOUT, cwd=ROOT,
                          check=True)
    return done.stdout


# --- server mode -------------------------------------------------------------------------


def _request_stats(stderr: str) -> dict[str, Any]:
    line = next((ln for ln in stderr.splitlines() if ln.startswith("requests: ")), None)
    if line is None:
        raise SystemExit(f"no --stats line from the adapter:\n{stderr[-2000:]}")
    return json.loads(line.removeprefix("requests: "))


def server_mode(sizes: list[int], naive_seconds: float, naive_limit: int | None) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.fhir_server_process import running_fhir_server

    rows = ["| claims on server | load s | client | claims checked | requests | requests/claim "
            "| wall s | claims/s | naive / adapter: requests per claim | wall per claim |",
            "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    _say("\n".join(rows))
    for size in sizes:
        source = dataset(size)
        with running_fhir_server() as url:
            started = time.perf_counter()
            # --keep-ids: this server creates by PUT; conditional creates (the default) run a
            # search per resource, which this in-memory server answers by scanning
            subprocess.run([*CLI, "load", str(source), "--server", url, "--keep-ids"], check=True,
                           capture_output=True, timeout=SERVER_TIMEOUT, cwd=ROOT)
            load_s = time.perf_counter() - started

            started = time.perf_counter()
            # --timeout: this server scans every resource of a type per search, so one
            # evidence batch at 10k claims can take longer than the default 60 s
            done = subprocess.run([*CLI, "check", "--server", url, "--since", "2000-01-01",
                                   "--dry-run", "--stats", "--format", "json",
                                   "--timeout", str(ADAPTER_READ_TIMEOUT)],
                                  capture_output=True, text=True, timeout=SERVER_TIMEOUT,
                                  cwd=ROOT)
            wall = time.perf_counter() - started
            (OUT / f"server-{size}-adapter.json").write_text(done.stdout)
            (OUT / f"server-{size}-adapter.err").write_text(done.stderr)
            if done.returncode not in (0, 1):
                raise SystemExit(f"check --server exited {done.returncode}:\n"
                                 f"{done.stderr[-2000:]}")
            summary = json.loads(done.stdout)["summary"]
            claims = summary["checked"] + summary["skipped"]
            requests = _request_stats(done.stderr)["total"]
            failed = f" ({summary['errors']:,} errors)" if summary["errors"] else ""
            rows.append(f"| {size:,} | {load_s:.0f} | adapter | {claims:,}{failed} | "
                        f"{requests:,} | {requests / claims:.3f} | {wall:.1f} | "
                        f"{claims / wall:,.1f} | | |")
            _say(rows[-1])

            budget = ["--max-seconds", str(naive_seconds)]
            budget += ["--limit", str(naive_limit)] if naive_limit else []
            naive_done = subprocess.run(
                [sys.executable, "-m", "bench.naive_client", "--server", url, "--dry-run",
                 *budget], capture_output=True, text=True, timeout=naive_seconds + 900,
                cwd=ROOT)
            if naive_done.returncode != 0:
                raise SystemExit(f"naive client failed:\n{naive_done.stderr[-2000:]}")
            naive = json.loads(naive_done.stdout)
            n = max(naive["claims"], 1)
            shown = f"{naive['claims']:,}" + ("" if naive["claims"] >= claims else
                                              f" (first, {naive['stopped_at']})")
            rows.append(
                f"| {size:,} | | naive | {shown} | {naive['requests']:,} | "
                f"{naive['requests'] / n:.3f} | {naive['seconds']:.1f} | "
                f"{n / naive['seconds']:,.2f} | "
                f"{(naive['requests'] / n) / (requests / claims):,.0f}x | "
                f"{(naive['seconds'] / n) / (wall / claims):,.1f}x |")
            _say(rows[-1])
    return rows


# --- the whole run -----------------------------------------------------------------------


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cores} cores (nproc), {cpu}, {memory:.1f} GiB memory, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="file-mode claim counts")
    parser.add_argument("--server-sizes", default="1000,10000",
                        help="server-mode claim counts ('' to skip server mode)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="file-mode runs per size; the table shows the median")
    parser.add_argument("--naive-seconds", type=float, default=600,
                        help="time budget of the naive client per size (default 600)")
    parser.add_argument("--naive-limit", type=int, help="at most N claims for the naive client")
    parser.add_argument("--profile-size", type=int, default=10000, help="0 to skip")
    parser.add_argument("--results", type=Path, default=OUT / "results.md")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.run " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [f"- command: `{command.strip()}`",
             f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
             f"- machine: {machine()}", ""]
    _say("\n".join(lines))
    if sizes := _sizes(args.sizes):
        _say("## File mode: `b12-adapter check --source DIR --format json`, whole process\n")
        lines += ["## File mode", "", *file_mode(sizes, args.repeat), ""]
    if server_sizes := _sizes(args.server_sizes):
        _say("\n## Server mode: `check --server URL --since 2000-01-01 --dry-run --stats` "
             "vs naive\n")
        lines += ["## Server mode", "",
                  *server_mode(server_sizes, args.naive_seconds, args.naive_limit), ""]
    if args.profile_size:
        _say(f"\n## Profile of the {args.profile_size:,}-claim file run\n")
        text = profile(args.profile_size)
        _say(text)
        lines += [f"## Profile of the {args.profile_size:,}-claim file run", "", text]
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _say(f"(written to {args.results})")


if __name__ == "__main__":
    main()
