"""Differential test of file mode's fast paths: a directory of typed NDJSON files against the
same lines in one untyped ``data.ndjson`` (read with no fast path), in one process.

A case is a list of (file name, raw line) pairs. The typed directory gets each line in its
file; the untyped copy gets every line, files in sorted order, in one ``data.ndjson``. Both
are checked (``adapter.cli.main``: the report as JSON and the exit status) and compared; a
problem's ``file:line`` (or ``file@offset``) is replaced by the line it names.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from adapter import cli

Line = tuple[str, bytes]


def write_typed(directory: Path, case: list[Line]) -> None:
    directory.mkdir(parents=True)
    files: dict[str, list[bytes]] = {}
    for name, raw in case:
        files.setdefault(name, []).append(raw)
    for name, raws in files.items():
        data = b"".join(raws)
        if name.endswith(".gz"):
            data = gzip.compress(data)
        (directory / name).write_bytes(data)


def write_untyped(directory: Path, case: list[Line]) -> None:
    directory.mkdir(parents=True)
    ordered = sorted(case, key=lambda line: line[0])  # by file, each file's lines in order
    (directory / "data.ndjson").write_bytes(b"".join(
        raw if raw.endswith(b"\n") else raw + b"\n" for _, raw in ordered))


def run(directory: Path) -> tuple[int, Any, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["check", "--source", str(directory), "--format", "json"])
    text = out.getvalue()
    try:
        report = json.loads(text) if text.strip() else None
    except ValueError:
        report = text
    return status, report, err.getvalue()


_WHERE = re.compile(r"^(?P<file>[^:@]+?)(?::(?P<line>\d+)|@(?P<at>\d+))(?P<rest>.*)$")


def _line_of(directory: Path, where: str) -> str:
    found = _WHERE.match(where)
    if not found or not (directory / found["file"]).exists():
        return where
    path = directory / found["file"]
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    if found["line"]:
        lines = data.split(b"\n")
        number = int(found["line"])
        raw = lines[number - 1] if number <= len(lines) else b"?"
    else:
        at = int(found["at"])
        raw = data[at:data.find(b"\n", at) if data.find(b"\n", at) >= 0 else None]
    return "LINE<" + raw.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r").decode(
        errors="replace")[:80] + ">" + found["rest"]


def normalised(directory: Path, report: Any) -> Any:
    if not isinstance(report, dict):
        return report
    report = json.loads(json.dumps(report))
    for error in report.get("errors", []):
        error["resource"] = _line_of(directory, error["resource"])
    report["errors"] = sorted(report.get("errors", []), key=json.dumps)
    return report


def compare(case: list[Line], keep: bool = False) -> list[str]:
    """The differences between the typed and the untyped run of ``case`` (none: [])."""
    base = Path(tempfile.mkdtemp(prefix="diff24d-"))
    try:
        write_typed(base / "typed", case)
        write_untyped(base / "untyped", case)
        typed = run(base / "typed")
        untyped = run(base / "untyped")
        t = normalised(base / "typed", typed[1])
        u = normalised(base / "untyped", untyped[1])
        diffs = []
        if typed[0] != untyped[0]:
            diffs.append(f"exit status: typed {typed[0]}, untyped {untyped[0]}")
        if t != u:
            if isinstance(t, dict) and isinstance(u, dict):
                for key in sorted(set(t) | set(u)):
                    if t.get(key) != u.get(key):
                        diffs.append(f"{key}:\n  typed   {json.dumps(t.get(key))[:1500]}\n"
                                     f"  untyped {json.dumps(u.get(key))[:1500]}")
            else:
                diffs.append(f"typed {str(t)[:600]!r} / untyped {str(u)[:600]!r}\n"
                             f"  stderr typed {typed[2][-400:]!r}\n"
                             f"  stderr untyped {untyped[2][-400:]!r}")
        return diffs
    finally:
        if keep:
            print("kept", base)
        else:
            shutil.rmtree(base, ignore_errors=True)


def dumps(resource: Any) -> bytes:
    return json.dumps(resource, separators=(",", ":")).encode() + b"\n"


def lines(*resources: dict[str, Any]) -> list[Line]:
    return [(f"{r['resourceType']}.ndjson", dumps(r)) for r in resources]
