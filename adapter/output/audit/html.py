"""The audit as one self-contained HTML file: charts inline as SVG, styles inline, the sample
table also as a CSV download inside the page (a ``data:`` URL), nothing fetched at view time
(a Content-Security-Policy forbids it, so the page cannot leak that it was opened).

Every value from the source is escaped by Jinja2's autoescaping; only our own SVG is marked
safe. Patient names appear only when the audit was made with ``show_names``.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from adapter import __version__
from adapter.findings import FINDING_KINDS, Verdict
from adapter.output.audit import charts
from adapter.output.audit.collect import VERDICTS, Audit, SampleRow

CSV_COLUMNS = ("provider", "facility", "claim", "patient", "service dates", "billed codes",
               "B12 lines", "assessment", "assessment category", "assessment date", "labs",
               "verdict", "findings", "suggested codes", "what to change")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render(audit: Audit, *, source: str, generated: datetime) -> str:
    """The page."""
    env = Environment(loader=PackageLoader("adapter.output.audit", "templates"),
                      autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True)
    template = env.get_template("report.html.j2")
    return template.render(
        audit=audit, source=source, generated=generated.strftime("%Y-%m-%d %H:%M %Z").strip(),
        version=__version__, verdicts=VERDICTS, kinds=FINDING_KINDS, Verdict=Verdict,
        charts={
            "verdicts": Markup(charts.verdict_mix(audit.total)),
            "findings": Markup(charts.findings_by_code(audit.total)),
            "trend": Markup(charts.trend(audit.months)),
            "providers": Markup(charts.by_party(audit.providers)),
            "facilities": Markup(charts.by_party(audit.facilities)),
            "policies": Markup(charts.by_party(audit.policies)),
        },
        max_bars=charts.MAX_BARS,
        csv_url=csv_data_url(audit),
        sample_rows=sum(len(s.rows) for s in audit.sample),
    )


def csv_data_url(audit: Audit) -> str:
    """The sample table as a UTF-8 CSV (with a BOM, so spreadsheets read the accents) in a
    ``data:`` URL."""
    data = ("\ufeff" + sample_csv(audit)).encode("utf-8")
    return "data:text/csv;charset=utf-8;base64," + base64.b64encode(data).decode("ascii")


def sample_csv(audit: Audit) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in _rows(audit):
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _rows(audit: Audit) -> Iterator[list[str]]:
    for provider in audit.sample:
        for row in provider.rows:
            yield _csv_row(row)


def _csv_row(row: SampleRow) -> list[str]:
    first = row.assessments[0] if row.assessments else None
    return [
        row.provider, row.facility, row.claim, row.patient,
        " ".join(d.isoformat() for d in row.dates),
        " ".join(b.code for b in row.billed),
        row.lines,
        " | ".join(n.text for n in row.notes) if row.notes
        else " | ".join(a.text for a in row.assessments),
        ", ".join(first.categories) if first else "",
        first.day.isoformat() if first and first.day else "",
        "; ".join(f"{lab.kind} {lab.value} {lab.unit} {lab.day.isoformat()}"
                  f"{' ' + lab.flag if lab.flag else ''}".replace("  ", " ")
                  for lab in row.labs),
        row.verdict.value,
        " ".join(c.code for c in row.changes),
        " ".join(dict.fromkeys(c.suggested for c in row.changes if c.suggested)),
        " | ".join(c.message for c in row.changes),
    ]


def _cell(value: str) -> str:
    """A spreadsheet must not run a chart's text as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value
