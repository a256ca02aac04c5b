"""What the ICD-10-CM releases cost (SPEC 4.3): building a release's index on first use, and
the start of a run whose indexes are built.

    python -m bench.releases [--repeat 3]

- build: a fresh cache per run and a child that opens one shipped release's index (parsing
  its tabular with simple-icd-10-cm's reader and writing the SQLite file); wall, CPU, peak RSS;
- start-up: ``b12-adapter check`` of a one-claim Bundle dated in a shipped release's range,
  its index already built (the cost of every later run), median of ``--repeat`` runs, then
  the same with a claim whose release is missing (two neighbours' indexes opened).

Printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench.run import measure_child

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BUILD = """\
import sys
from adapter.terminology import releases, tabular
release = next(r for r in releases.shipped() if r.id == sys.argv[1])
print(tabular.index_of(release).item("D51.0"))
"""


def _with_cache(cache: Path, argv: list[str]) -> list[str]:
    return ["env", f"B12_CACHE_DIR={cache}", *argv]


def build(release_id: str, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        cache = Path(tempfile.mkdtemp(prefix="b12-bench-cache-"))
        try:
            run = measure_child(_with_cache(cache, [sys.executable, "-c", BUILD, release_id]),
                                OUT / "release-build.out", 600)
            if run["rc"] != 0:
                raise SystemExit(f"{release_id}: exited {run['rc']}: {run['stderr']}")
            runs.append(run)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return {"wall": statistics.median(r["wall"] for r in runs),
            "cpu": statistics.median(r["cpu"] for r in runs),
            "rss": max(r["rss_mb"] for r in runs)}


def start_up(day: str, repeat: int, cache: Path) -> dict[str, float]:
    from fixtures import builders as b
    from tests.scenario import clean_chart

    bundle = OUT / f"one-claim-{day}.json"
    chart = [r if r["resourceType"] != "Claim" else b.claim("k1", "p1", day,
                                                             supporting=("Condition/c1",))
             for r in clean_chart()]
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in chart]}))
    argv = _with_cache(cache, [sys.executable, "-m", "adapter", "check", "--source",
                               str(bundle), "--format", "json"])
    measure_child(argv, OUT / "start.out", 600)  # builds what the date needs, once
    runs = [measure_child(argv, OUT / "start.out", 600) for _ in range(repeat)]
    report = json.loads((OUT / "start.out").read_text())
    return {"wall": statistics.median(r["wall"] for r in runs),
            "cpu": statistics.median(r["cpu"] for r in runs),
            "rss": max(r["rss_mb"] for r in runs),
            "code_set": report["claims"][0]["code_set"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    from adapter.terminology import releases

    print("| release | build wall s | build CPU s | peak RSS MB |")
    print("| --- | ---: | ---: | ---: |")
    for release in releases.shipped():
        got = build(release.id, args.repeat)
        print(f"| {release.id} | {got['wall']:.2f} | {got['cpu']:.2f} | {got['rss']:.0f} |")
    print()
    print("| claim dated | judged with | start-up wall s | CPU s | peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: |")
    cache = Path(tempfile.mkdtemp(prefix="b12-bench-cache-"))
    try:
        for day in ("2026-06-01", "2025-11-03"):
            got = start_up(day, max(args.repeat, 5), cache)
            print(f"| {day} | {got['code_set']} | {got['wall']:.3f} | {got['cpu']:.3f} | "
                  f"{got['rss']:.0f} |")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
