"""Where a file run's CPU goes, stage by stage, beside the parse floor: the budget table.

    python -m bench.stages [--source DIR] [--repeat 3] [--budget 3]

A whole run (``bench.mixes``) says how far a mix is from its goal; this says which stages the
gap is made of. Each stage of ``check --source DIR --workers 1`` runs on its own, in this one
process, with the product's own pieces in the driver's order (``adapter.file_plan``,
``adapter.driver``, ``adapter.check``): the claims pre-scan, the records pass (scan, parse,
read into the chart), the claim pages, reading the claims, gathering, the rules, the rest of
judging (results, outcomes) and the JSON report. Start-up is a child importing the command
line. The floor is ``json.loads`` of every line (``bench.mixes``), timed here in-process too,
so the two sides are measured alike. Each figure is the least CPU time of ``--repeat`` runs,
the cyclic collector off (the product freezes the chart and collects rarely: a little low).

The budget column is the floor times ``--budget`` (issue 24: 3x pure, 2.5x compiled) shared
out in proportion to each stage's part of the run, so it says how much each stage must shrink
if all shrink alike. Default source: the all-B12 mix of ``bench.mixes`` (20k claims).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import adapter.build
from adapter.check import InScope, check_claims, read_scoped, unbilled, with_paths
from adapter.driver import finished
from adapter.evidence.chart import Chart
from adapter.evidence.gather import gather
from adapter.evidence.needs import chart_types, line_tests
from adapter.file_plan import FilePlan
from adapter.judge import Judge
from adapter.outcomes import PageOutcome, Problem
from adapter.output.report import Report
from adapter.read_plan import take
from adapter.rules import check_each
from adapter.sources.base import Reads
from adapter.sources.files import CLAIM_PAGE_SIZE, FileSource
from bench.mixes import all_b12

T = TypeVar("T")
PAGE = CLAIM_PAGE_SIZE  # claims judged and reported a page at a time, as check does


def _cpu(times: dict[str, float], name: str, work: Callable[[], T]) -> T:
    """``work()``, its CPU time kept in ``times[name]`` when it is the least so far."""
    gc.disable()
    start = time.process_time()
    try:
        return work()
    finally:
        spent = time.process_time() - start
        gc.enable()
        times[name] = min(times.get(name, spent), spent)


def _floor(source: Path) -> float:
    start = time.process_time()
    for path in sorted(source.glob("*.ndjson")):
        with path.open("rb") as lines:
            for line in lines:
                if line.strip():
                    json.loads(line)
    return time.process_time() - start


def _startup() -> float:
    """CPU of a child that imports the command line, less that of a bare interpreter."""
    def child(code: str) -> float:
        before = time.process_time(), _children()
        subprocess.run([sys.executable, "-c", code], check=True)
        return _children() - before[1]
    return max(0.0, min(child("import adapter.cli") for _ in range(3))
               - min(child("pass") for _ in range(3)))


def _children() -> float:
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(source_dir: Path, judge: Judge, times: dict[str, float]) -> Report:
    """Every stage once; the report of the claims (its errors but the claims' own left out:
    the stages time the work, ``check`` names the problems)."""
    mappings, policy = judge.mappings, judge.policy
    source = FileSource.open(source_dir)
    plan = FilePlan.auto(source, mappings, 1)
    wanted = _cpu(times, "claims pre-scan", plan.wanted)
    note_patients = plan.note_patients()
    reads = Reads(types=chart_types(), lines=line_tests(mappings, note_patients, wanted))

    def records_pass() -> Chart:
        chart = Chart(mappings, source.aliases, policy.zone)
        chart.wanted, chart.note_patients = wanted, note_patients
        problems: list[Problem] = []
        for item in source.records(reads).resources:
            take(chart, problems, item)
        return finished(chart, problems)[0]

    _cpu(times, "scan and parse only", lambda: sum(1 for _ in source.records(reads).resources))
    chart = _cpu(times, "records pass (scan, parse, read)", records_pass)
    pages = _cpu(times, "claim pages (scan, parse)",
                 lambda: [list(page) for page in plan.claim_pages(source)])
    items = [item for page in pages for item in page if not isinstance(item, Problem)]
    pending = _cpu(times, "reading the claims", lambda: [
        read_scoped(item, policy) if type(item) is dict else unbilled(item) for item in items])
    scoped = [p for p in pending if isinstance(p, InScope)]
    gathered = _cpu(times, "gathering", lambda: [gather(p.facts, chart) for p in scoped])
    _cpu(times, "rules", lambda: [  # a claim page at a time, rule by rule, as check judges
        with_paths(found, ev) for at in range(0, len(gathered), PAGE)
        for ev, found in zip(gathered[at:at + PAGE],
                             check_each(gathered[at:at + PAGE], policy), strict=True)])
    outcomes = _cpu(times, "judging in all (gathering, rules, results)", lambda: [
        outcome for at in range(0, len(scoped), PAGE)
        for outcome in check_claims(scoped[at:at + PAGE], chart, policy, evidence=False)])
    judged = iter(outcomes)
    every = [next(judged) if isinstance(p, InScope) else p for p in pending]  # source order

    def report() -> Report:
        sink = Report()
        for at in range(0, len(every), PAGE):
            sink.write(PageOutcome(tuple(every[at:at + PAGE])))
        sink.write_json(io.StringIO())
        return sink

    return _cpu(times, "report (JSON)", report)


def table(times: dict[str, float], floor: float, startup: float, budget: float,
          claims: int) -> list[str]:
    judging = times["judging in all (gathering, rules, results)"]
    rows = [
        ("start-up (imports)", startup),
        ("claims pre-scan", times["claims pre-scan"]),
        ("records: scan and parse", times["scan and parse only"]),
        ("records: read into the chart", max(0.0, times["records pass (scan, parse, read)"]
                                             - times["scan and parse only"])),
        ("claim pages (scan, parse)", times["claim pages (scan, parse)"]),
        ("reading the claims", times["reading the claims"]),
        ("gathering", times["gathering"]),
        ("rules", times["rules"]),
        ("results and outcomes", max(0.0, judging - times["gathering"] - times["rules"])),
        ("report (JSON)", times["report (JSON)"]),
    ]
    total = sum(seconds for _, seconds in rows)
    allowed = floor * budget
    lines = [f"{adapter.build.name()}; {claims:,} claims judged; floor (json.loads of every "
             f"line) {floor:.2f} s; budget {budget:g}x = {allowed:.2f} s; stages sum "
             f"{total:.2f} s = {total / floor:.1f}x", "",
             "| stage | CPU s | us a claim | share | budget s |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, seconds in rows:
        lines.append(f"| {name} | {seconds:.3f} | {seconds / max(claims, 1) * 1e6:.1f} | "
                     f"{seconds / total:.0%} | {allowed * seconds / total:.3f} |")
    lines.append(f"| **all** | **{total:.3f}** | {total / max(claims, 1) * 1e6:.1f} | 100% | "
                 f"**{allowed:.3f}** |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="a typed NDJSON export (default: the "
                        "all-B12 mix of bench.mixes, 20k claims)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0,
                        help="the goal, as a multiple of the floor (issue 24: 3 pure, 2.5 "
                        "compiled)")
    args = parser.parse_args(argv)
    source = args.source or all_b12(20_000)
    judge = Judge.load()
    times: dict[str, float] = {}
    floor = min(_floor(source) for _ in range(args.repeat))
    claims = 0
    for _ in range(args.repeat):
        claims = run_once(source, judge, times).summary()["checked"]
        gc.collect()
    print("\n".join(table(times, floor, _startup(), args.budget, claims)))


if __name__ == "__main__":
    main()
