"""The service benchmark: one claim per request at several concurrencies, and a batch.

    python -m bench.serve [--requests 2000] [--concurrency 1,8,32] [--batch-claims 1000]

Starts ``b12-adapter serve`` (``tests/service_process.py``, uvicorn on 127.0.0.1) and posts
one-claim Bundles (the claim with its patient, Condition, labs and administration, ~3.6 KB,
every one different) to ``POST /Claim/$b12-check``:

- start-up: process spawn to ``/ready`` answering 200 (mappings, ICD-10-CM, a warm-up claim);
- latency and throughput: ``--concurrency`` levels (1, 8, 32 requests in flight: that many
  keep-alive connections in threads), with 1 and 2 uvicorn workers (the machine has 2 cores,
  shared with this client): p50/p99 of the client's wall time per request;
- a batch: ``--batch-claims`` claims with their charts in one Bundle, one request, against
  file mode (``b12-adapter check --source batch.json``) on the same claims;
- the CLI: ``b12-adapter check --source one-claim.json --format json``, spawned per claim,
  as an integration engine without the service would call it.

Bounded: a fixed number of requests per phase, 127.0.0.1 only. Prints Markdown (kept in
bench/RESULTS.md, section "Service").
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fixtures import builders as b
from tests.service_process import running_service

ROOT = Path(__file__).resolve().parent.parent
PATH = "/Claim/$b12-check"
SERVICE_DATE = "2026-03-02"
DIAGNOSES = ("E53.8", "D51.0", "D51.9", "E53.8", "R53.83")


def claim_bundle(n: int) -> bytes:
    """Claim n with its evidence; a different patient and a mix of verdicts."""
    pid, dx = f"p{n}", DIAGNOSES[n % len(DIAGNOSES)]
    resources: list[dict[str, Any]] = [
        b.patient(pid, gender="female" if n % 2 else "male"),
        b.condition(f"c{n}", pid, icd="D51.0" if n % 3 == 0 else "E53.8"),
        b.lab(f"o{n}", pid, "b12", 120 + n % 200, "pg/mL", "2026-02-10"),
        b.lab(f"h{n}", pid, "hemoglobin", 10.5 + (n % 5), "g/dL", "2026-02-10"),
        b.administration(f"a{n}", pid, SERVICE_DATE, dose=1000 if n % 4 else 2000),
        b.claim(f"k{n}", pid, SERVICE_DATE, diagnoses=(dx,),
                supporting=(f"Condition/c{n}", f"Observation/o{n}")),
    ]
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{"resource": r} for r in resources]}).encode()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _post_all(port: int, bodies: list[bytes], latencies: list[float]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/fhir+json"}
    for body in bodies:
        started = time.perf_counter()
        connection.request("POST", PATH, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {data[:300]!r}")
    connection.close()


def load(url: str, bodies: list[bytes], connections: int) -> dict[str, float]:
    """Post every body once over ``connections`` connections; rate and latency."""
    port = int(url.rsplit(":", 1)[1])
    _post_all(port, bodies[:50], [])  # warm the connection path, not counted
    shares = [bodies[i::connections] for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    threads = [threading.Thread(target=_post_all, args=(port, share, lat))
               for share, lat in zip(shares, latencies, strict=True)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    every = [x for lat in latencies for x in lat]
    return {"requests": len(every), "per_second": len(every) / elapsed,
            "p50_ms": _percentile(every, 0.50) * 1000, "p99_ms": _percentile(every, 0.99) * 1000}


def batch_bundle(claims: int) -> bytes:
    """``claims`` different claims with their charts in one Bundle."""
    entries = []
    for n in range(claims):
        entries += json.loads(claim_bundle(n))["entry"]
    return json.dumps({"resourceType": "Bundle", "type": "batch", "entry": entries}).encode()


def post_batch(url: str, body: bytes, repeat: int) -> dict[str, float]:
    """Post the batch ``repeat`` times, one at a time: the median claims/s."""
    port = int(url.rsplit(":", 1)[1])
    times = []
    claims = 0
    for _ in range(repeat):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        started = time.perf_counter()
        connection.request("POST", PATH, body=body,
                           headers={"Content-Type": "application/fhir+json"})
        response = connection.getresponse()
        data = response.read()
        times.append(time.perf_counter() - started)
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {data[:300]!r}")
        summary = json.loads(data)["summary"]
        claims = summary["checked"] + summary["skipped"]
    median = statistics.median(times)
    return {"claims": claims, "seconds": median, "per_second": claims / median}


def file_mode(body: bytes, repeat: int, out: bool) -> dict[str, float]:
    """``b12-adapter check --source batch.json --format json`` on the same claims (with
    ``out``: ``--out DIR`` too, building and validating the DetectedIssues as the service
    does): its wall time, and without the process's fixed start (the same on one claim)."""
    with tempfile.TemporaryDirectory() as tmp:
        path, one = Path(tmp) / "batch.json", Path(tmp) / "one.json"
        path.write_bytes(body)
        one.write_bytes(claim_bundle(1))

        def wall(source: Path) -> float:
            times = []
            for n in range(repeat):
                extra = ["--out", str(Path(tmp) / f"out-{source.stem}-{n}")] if out else []
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "adapter", "check", "--source",
                                str(source), "--format", "json", *extra], capture_output=True,
                               cwd=ROOT, check=False)
                times.append(time.perf_counter() - started)
            return statistics.median(times)

        whole, fixed = wall(path), wall(one)
    claims = len(json.loads(body)["entry"]) // 6
    return {"claims": claims, "seconds": whole, "per_second": claims / whole,
            "fixed_seconds": fixed, "per_second_net": claims / max(whole - fixed, 1e-9)}


def cli_calls(calls: int) -> dict[str, float]:
    """Wall time of spawning ``b12-adapter check`` on a one-claim Bundle."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one-claim.json"
        path.write_bytes(claim_bundle(1))
        for _ in range(calls):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "adapter", "check", "--source", str(path),
                            "--format", "json"], check=True, capture_output=True, cwd=ROOT)
            times.append(time.perf_counter() - started)
    return {"calls": calls, "median_s": statistics.median(times), "min_s": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000,
                        help="one-claim requests per concurrency level")
    parser.add_argument("--concurrency", default="1,8,32",
                        help="requests in flight at once (comma-separated levels)")
    parser.add_argument("--batch-claims", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="batch and file-mode runs")
    parser.add_argument("--cli-calls", type=int, default=5)
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x]
    bodies = [claim_bundle(n) for n in range(args.requests)]
    big = batch_bundle(args.batch_claims)
    rows = []
    starts = []
    batches = []
    for workers in (1, 2):
        with running_service("--workers", str(workers), "--log-level", "warning",
                             "--max-concurrent", "256",
                             "--max-body-bytes", str(len(big) + 1024)) as service:
            starts.append((workers, service.started_seconds))
            for level in levels:
                rows.append((level, workers, load(service.url, bodies, level)))
            batches.append((workers, post_batch(service.url, big, args.repeat)))
    files = [(out, file_mode(big, args.repeat, out)) for out in (False, True)]
    cli = cli_calls(args.cli_calls)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; one-claim Bundle ~{len(bodies[0]) / 1024:.1f} KB; "
          "client and service on the same 2 cores.\n")
    print("| requests in flight | uvicorn workers | requests | claims/s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for level, workers, r in rows:
        print(f"| {level} | {workers} | {r['requests']:.0f} | {r['per_second']:.0f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    print()
    print(f"A {args.batch_claims}-claim batch (one Bundle, {len(big) / 1e6:.1f} MB), "
          f"median of {args.repeat}:\n")
    print("| how | seconds | claims/s |")
    print("| --- | --- | --- |")
    for workers, r in batches:
        print(f"| service, one request, {workers} worker(s) | {r['seconds']:.2f} | "
              f"{r['per_second']:.0f} |")
    for out, r in files:
        how = "`check --source batch.json --format json" + (" --out DIR`" if out else "`")
        print(f"| file mode, {how} | {r['seconds']:.2f} | {r['per_second']:.0f} |")
        print(f"| the same without its fixed start ({r['fixed_seconds']:.2f} s on one claim) "
              f"| {r['seconds'] - r['fixed_seconds']:.2f} | {r['per_second_net']:.0f} |")
    print()
    for workers, seconds in starts:
        print(f"- start-up to /ready, {workers} worker(s): {seconds:.2f} s")
    print(f"- CLI, `b12-adapter check` spawned on a one-claim Bundle: median "
          f"{cli['median_s']:.2f} s per call (min {cli['min_s']:.2f} s, {cli['calls']} calls)")


if __name__ == "__main__":
    main()
