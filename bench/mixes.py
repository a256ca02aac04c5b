"""Speed on the mixes of issues 13 and 24, each beside the CPU of parsing every line (same run).

    python -m bench.mixes [--claims 20000] [--copies 300] [--synthea-copies 240] [--repeat 3]
                          [--workers 1,auto] [--mixes all-b12,all-b12-notes,synthea,real]

- all-B12, one claim per patient: every claim a B12 claim of its own patient, so a whole
  chart is read and judged for each (``bench.generate --mix one-per-patient``);
- all-B12, one note per claim: the same, each claim with a Synthea-style note of its day
  (base64 text/plain; a third hold no term of the notes table): the cost of the notes is the
  CPU beside the mix without them (SPEC 4.2: at most 1 ms of CPU a note);
- Synthea-shaped, few B12 claims: the Synthea Bulk export's 9 patients ``--synthea-copies``
  times (240: ~770 MB, ~670k resources, ~116k claims and EOBs, the size of a real export),
  one claim in every other copy billing J3420: the shape of a real export, where every
  patient's hemoglobin panels match the lab test and few patients have a B12 claim;
- real data: the patients of fixtures/realdata (Synthea and the published Bulk export: almost
  nothing B12) replicated ``--copies`` times with new ids.

``--workers``: each value a run of its own; ``auto`` gives none, as users run the command (the
adapter then chooses, ``adapter.parallel.choose``).

The build measured is the checkout's (``adapter.build``, printed first): to measure the compiled
one, run this in a copy of the checkout built in place (``B12_ADAPTER_COMPILE=1 pip install -e
.``; the compiled modules then shadow their .py files there).

For each: ``b12-adapter check --source DIR --format json`` as a child process (wall time,
CPU, peak RSS), and a child that only ``json.loads`` every line of every file, the floor of a
reader that looks at everything. The ratio adapter CPU / parse CPU is the figure the issue
sets goals for (issue 24: all-B12 at most 3x, 2.5x compiled; a real export at most 0.8x on one
worker). Printed as Markdown.
"""

from __future__ import annotations

import argparse
import compileall
import json
import re
import shutil
import statistics
import sys
from pathlib import Path

import adapter.build
from bench.run import measure_child

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"
REAL = ROOT / "fixtures" / "realdata"
CLI = [sys.executable, "-m", "adapter"]
UUID = re.compile(rb"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-)([0-9a-f]{12})")

PARSE_EVERY_LINE = """\
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("*.ndjson")):
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                json.loads(line)
"""


def all_b12(claims: int) -> Path:
    from bench.generate import generate

    path = DATA / f"one-per-patient-{claims}"
    if not (path / "Claim.ndjson").exists():
        shutil.rmtree(path, ignore_errors=True)
        generate(claims, path, mix="one-per-patient")
    return path


NOTE_TEXTS = (  # (weight, assessment): Synthea's shape; a third hold no term at all
    (3, "Patient is presenting with vitamin B12 deficiency (disorder)."),
    (2, "Patient is presenting with hypertension, prediabetes."),
    (1, "Patient is presenting with fatigue (finding). B12 shot for low energy."),
    (1, "History of B12 deficiency, resolved. Possible pernicious anemia."),
    (1, "Patient is presenting with stress (finding). Injection given per standing order."),
)


def _note_text(n: int) -> str:
    cycle = [text for weight, text in NOTE_TEXTS for _ in range(weight)]
    assessment = cycle[n % len(cycle)]
    return (f"# Chief Complaint\n- Follow-up\n\n# History of Present Illness\nPatient {n} is a "
            "68 year-old. Patient has a history of hypertension, prediabetes, stress "
            "(finding).\n\n# Social History\nPatient is married. Patient has never smoked.\n\n"
            "# Allergies\nNo Known Allergies.\n\n# Medications\nlisinopril 10 mg oral tablet; "
            "cyanocobalamin 1000 mcg/ml injectable solution\n\n# Assessment and Plan\n"
            f"{assessment}\n\n## Plan\n\nThe patient was given cyanocobalamin 1000 mcg IM.\n")


def all_b12_notes(claims: int) -> Path:
    """The all-B12 mix with one Synthea-style note per claim, on its patient's service date
    (base64 text/plain, ``# Assessment and Plan``): the cost of reading notes."""
    import base64

    source = all_b12(claims)
    path = DATA / f"one-per-patient-{claims}-notes"
    if (path / "DocumentReference.ndjson").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(source, path)
    with (path / "Claim.ndjson").open("rb") as lines, \
            (path / "DocumentReference.ndjson").open("w") as out:
        for n, line in enumerate(lines):
            claim = json.loads(line)
            day = claim["item"][0].get("servicedDate") or claim["created"]
            text = base64.b64encode(_note_text(n).encode()).decode()
            out.write(json.dumps({
                "resourceType": "DocumentReference", "id": f"note-{n}", "status": "superseded",
                "type": {"coding": [{"system": "http://loinc.org", "code": "34117-2"}]},
                "category": [{"coding": [{"code": "clinical-note"}]}],
                "subject": claim["patient"], "date": f"{day}T10:00:00-05:00",
                "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                            "data": text}}],
                "context": {"period": {"start": f"{day}T10:00:00-05:00"}},
            }, separators=(",", ":")) + "\n")
    return path


def real_data(copies: int) -> Path:
    """The real exports' NDJSON, ``copies`` times, every uuid made new for each copy (the
    last 12 hex digits replaced by the copy number mixed in), so ids and references stay
    consistent within a copy and distinct across copies."""
    path = DATA / f"real-x{copies}"
    if (path / "Claim.ndjson").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    sources = sorted((REAL / "synthea-bulk-9-patients").glob("*.ndjson")) + sorted(
        (REAL / "bulk-export-10-patients").glob("*.000.ndjson"))
    for source in sources:
        rtype = source.name.split(".")[0]
        lines = source.read_bytes().splitlines()
        with (path / f"{rtype}.ndjson").open("ab") as out:
            for copy in range(copies):
                out.write(b"\n".join(_renumbered(lines, copy)) + b"\n")
    return path


def _renumbered(lines: list[bytes], copy: int) -> list[bytes]:
    """The lines with every uuid made new for copy ``copy`` (its last 12 hex digits mixed
    with the copy number): references stay consistent within a copy, distinct across."""
    def fresh(match: re.Match[bytes]) -> bytes:
        tail = int(match.group(2), 16) ^ (copy * 0x9E3779B97F4A)
        return match.group(1) + f"{tail & 0xFFFFFFFFFFFF:012x}".encode()
    return [UUID.sub(fresh, line) for line in lines]


B12_ITEM = (b'"productOrService":{"coding":[{"system":'
            b'"https://bluebutton.cms.gov/resources/codesystem/hcpcs","code":"J3420"},')


def synthea_b12(copies: int, every: int = 2) -> Path:
    """A Synthea-shaped export of the size real ones come in (``copies`` of the Synthea
    Bulk export's 9 patients, every uuid new per copy: 240 copies are ~770 MB, ~650k
    resources, ~116k Claims and EOBs), where few claims bill B12: in every ``every``-th copy
    one Claim (a different one each copy) gains a J3420 coding on its first item. So the
    B12 patients are a small part of the export while every patient's hemoglobin panels
    match the lab line test: the shape the held-out real export has."""
    path = DATA / f"synthea-b12-x{copies}"
    if (path / "Claim.ndjson").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    for source in sorted((REAL / "synthea-bulk-9-patients").glob("*.ndjson")):
        rtype = source.name.split(".")[0]
        lines = source.read_bytes().splitlines()
        with (path / f"{rtype}.ndjson").open("wb") as out:
            for copy in range(copies):
                chunk = _renumbered(lines, copy)
                if rtype == "Claim" and copy % every == 0:
                    index = (copy * 7) % len(chunk)
                    chunk[index] = chunk[index].replace(
                        b'"productOrService":{"coding":[', B12_ITEM, 1)
                out.write(b"\n".join(chunk) + b"\n")
    return path


def measure(source: Path, repeat: int, extra: list[str]) -> dict[str, float]:
    runs, floors = [], []
    for _ in range(repeat):
        out = OUT / f"mix-{source.name}.json"
        run = measure_child([*CLI, "check", "--source", str(source), "--format", "json",
                             *extra], out, 3600)
        if run["rc"] not in (0, 1):
            raise SystemExit(f"{source}: exited {run['rc']}: {run['stderr']}")
        summary = json.loads(out.read_text())["summary"]
        runs.append({**run, "claims": summary["checked"] + summary["skipped"]})
        floors.append(measure_child([sys.executable, "-c", PARSE_EVERY_LINE, str(source)],
                                    OUT / "parse.out", 3600))
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    floor = statistics.median(f["cpu"] for f in floors)
    return {"claims": runs[0]["claims"], "wall": wall, "cpu": cpu, "floor": floor,
            "rss": max(r["rss_mb"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--copies", type=int, default=300)
    parser.add_argument("--synthea-copies", type=int, default=240)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="1,auto",
                        help="comma-separated --workers to try; auto: none given, as users run it")
    parser.add_argument("--mixes", default="all-b12,all-b12-notes,synthea,real",
                        help="comma-separated: all-b12, all-b12-notes, synthea, real")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    # Bytecode compiled first, as pip does for an installed wheel: where bytecode is not
    # written (PYTHONDONTWRITEBYTECODE) every run would compile every module again.
    compileall.compile_dir(ROOT / "adapter", quiet=1)
    build = f"{adapter.build.name()} ({'.'.join(map(str, sys.version_info[:3]))})"
    rows = [f"Build: {build}", "",
            "| mix | workers | claims | wall s | claims/s | CPU s | parse-every-line CPU s | "
            "ratio | peak RSS MB |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
            "---: |"]
    print("\n".join(rows), flush=True)
    mixes = {
        "all-b12": ("all-B12, one claim per patient", lambda: all_b12(args.claims)),
        "all-b12-notes": ("all-B12, one note per claim", lambda: all_b12_notes(args.claims)),
        "real": (f"real data x{args.copies}", lambda: real_data(args.copies)),
        "synthea": (f"Synthea-shaped x{args.synthea_copies}, few B12 claims",
                    lambda: synthea_b12(args.synthea_copies)),
    }
    cpu: dict[tuple[str, str], tuple[float, int]] = {}
    for key in args.mixes.split(","):
        name, make = mixes[key]
        source = make()
        for workers in args.workers.split(","):
            extra = [] if workers == "auto" else ["--workers", workers]
            m = measure(source, args.repeat, extra)
            cpu[key, workers] = (m["cpu"], m["claims"])
            rows.append(f"| {name} | {workers} | {m['claims']:,} | {m['wall']:.2f} | "
                        f"{m['claims'] / m['wall']:,.0f} | {m['cpu']:.2f} | {m['floor']:.2f} | "
                        f"{m['cpu'] / m['floor']:.2f}x | {m['rss']:,.0f} |")
            print(rows[-1], flush=True)
    for (key, workers), (with_notes, claims) in cpu.items():
        if key == "all-b12-notes" and ("all-b12", workers) in cpu:
            without = cpu["all-b12", workers][0]
            rows.append(f"\nNotes ({workers} worker(s)): {with_notes - without:.2f} s of CPU for "
                        f"{claims:,} notes, {(with_notes - without) / claims * 1000:.2f} ms each "
                        "(goal: at most 1 ms)")
            print(rows[-1], flush=True)
    (OUT / "mixes.md").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
