"""The benchmark: claims per second, requests per claim and peak memory as the work grows.

    python -m bench.run [--sizes 1000,10000,100000] [--server-sizes 200,1000] [--naive-limit 200]

File mode runs ``b12-adapter check --source DIR`` as a whole process per size (wall time, peak
RSS of that child). Server mode loads the data into the local test FHIR server (Medplum's
engine, 127.0.0.1) and runs ``check --server --dry-run --stats`` beside the hand-written naive
client of ``bench/naive_client.py``. Prints Markdown tables; RESULTS.md keeps a run of them.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.generate import generate
from bench.naive_client import run as naive_run

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
CLI = [sys.executable, "-m", "adapter"]
TIMEOUT = 1800


def dataset(size: int) -> Path:
    path = DATA / str(size)
    if not (path / "Claim.ndjson").exists():
        generate(size, path)
    return path


def _child_run(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds and peak RSS (MB) of one child process."""
    script = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        f"p = subprocess.run({argv!r}, capture_output=True, text=True, timeout={TIMEOUT})\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'wall': wall, 'rss': rss, 'rc': p.returncode,\n"
        "                  'err': p.stderr[-2000:]}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=TIMEOUT + 60, cwd=ROOT)
    result = json.loads(done.stdout)
    return result["wall"], result["rss"], subprocess.CompletedProcess(
        argv, result["rc"], "", result["err"])


def file_mode(sizes: list[int]) -> list[str]:
    rows = ["| claims | wall s | claims/s | peak RSS MB |", "| ---: | ---: | ---: | ---: |"]
    for size in sizes:
        source = dataset(size)
        wall, rss, done = _child_run([*CLI, "check", "--source", str(source), "--format",
                                      "json"])
        assert done.returncode in (0, 1), done.stderr
        rows.append(f"| {size:,} | {wall:.2f} | {size / wall:,.0f} | {rss:,.0f} |")
        print("\n".join(rows) if size == sizes[0] else rows[-1], flush=True)
    return rows


def profile(size: int) -> str:
    from adapter.cli import main

    profiler = cProfile.Profile()
    with contextlib.redirect_stdout(io.StringIO()):
        profiler.enable()
        main(["check", "--source", str(dataset(size)), "--format", "json"])
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(15)
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()


def _stats(stderr: str) -> dict:
    return json.loads(stderr.split("requests: ", 1)[1].splitlines()[0])


def server_mode(sizes: list[int], naive_limit: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.fhir_server_process import running_fhir_server

    rows = ["| claims | client | claims checked | requests | requests/claim | wall s | "
            "claims/s |", "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for size in sizes:
        with running_fhir_server() as url:
            started = time.perf_counter()
            subprocess.run([*CLI, "load", str(dataset(size)), "--server", url], check=True,
                           capture_output=True, timeout=TIMEOUT, cwd=ROOT)
            print(f"loaded {size} claims in {time.perf_counter() - started:.0f} s", flush=True)
            started = time.perf_counter()
            done = subprocess.run([*CLI, "check", "--server", url, "--since", "2000-01-01",
                                   "--dry-run", "--stats", "--format", "json"],
                                  capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
            wall = time.perf_counter() - started
            stats = _stats(done.stderr)
            checked = json.loads(done.stdout)["summary"]
            claims = checked["checked"] + checked["skipped"]
            rows.append(f"| {size:,} | adapter | {claims:,} | {stats['total']:,} | "
                        f"{stats['total'] / claims:.3f} | {wall:.1f} | {claims / wall:,.1f} |")
            print(rows[-1], flush=True)
            naive = naive_run(url, limit=naive_limit)
            rows.append(f"| {size:,} | naive | {naive['claims']:,} | {naive['requests']:,} | "
                        f"{naive['requests'] / naive['claims']:.3f} | {naive['seconds']:.1f} | "
                        f"{naive['claims'] / naive['seconds']:,.1f} |")
            print(rows[-1], flush=True)
    return rows


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {cpu}, {memory:.0f} GiB, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--server-sizes", default="200,1000")
    parser.add_argument("--naive-limit", type=int, default=200,
                        help="claims the naive client checks per size (it is slow)")
    parser.add_argument("--profile-size", type=int, default=10000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    server_sizes = [int(s) for s in args.server_sizes.split(",") if s]
    print(f"machine: {machine()}\ndate: {time.strftime('%Y-%m-%d')}\n")
    print("## File mode\n")
    file_mode(sizes)
    if server_sizes:
        print("\n## Server mode\n")
        server_mode(server_sizes, args.naive_limit)
    if args.profile_size:
        print(f"\n## Profile of the {args.profile_size:,}-claim file run\n")
        print(profile(args.profile_size))
    print(f"max RSS of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
