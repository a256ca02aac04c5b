"""The audit as one self-contained HTML file: charts inline as SVG, styles inline, the sample
table also as a CSV download inside the page (a ``data:`` URL), nothing fetched at view time
(a Content-Security-Policy forbids it, so the page cannot leak that it was opened).

Every value from the source is escaped by Jinja2's autoescaping; only our own SVG and our
own scripts are marked safe. The scripts (``templates/*.js``: one records script errors, one
sorts and filters the sample) are allowed by their SHA-256 in the policy, so no other script
can run in the page. Patient names appear only when the audit was made with ``show_names``.

With ``link_base`` (the web view of the EHR or FHIR server the claims came from) every claim
and resource reference links to ``link_base/Type/id``, or to ``link_base`` with ``{type}`` and
``{id}`` filled in when it has them.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import datetime
from importlib.resources import files
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from adapter import __version__
from adapter.findings import FINDING_KINDS, Verdict
from adapter.output.audit import charts, glossary
from adapter.output.audit.collect import VERDICT_RANK, VERDICTS, Audit, SampleRow

CSV_COLUMNS = ("provider", "facility", "claim", "patient", "service dates", "billed codes",
               "B12 lines", "assessment", "assessment category", "assessment date", "labs",
               "verdict", "findings", "suggested codes", "what to change", "payer policy")
NAME_COLUMNS = ("patient name", "birth date")  # after "patient", with show_names only
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SCRIPTS = ("guard.js", "sample.js")
OPTION_WIDTH = 60
_REFERENCE = re.compile(r"([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})"
                        r"(?:/_history/[A-Za-z0-9\-.]{1,64})?")
_QUOTED = re.compile(r"`([^`]+)`")  # a message's Markdown code span


def render(audit: Audit, *, source: str, generated: datetime,
           link_base: str | None = None) -> str:
    """The page; ``link_base``: see the module docstring (checked by ``check_link_base``)."""
    env = Environment(loader=PackageLoader("adapter.output.audit", "templates"),
                      autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(bdi=isolated, message=message, plain=charts.plain, option=option_text)
    template = env.get_template("report.html.j2")
    scripts = {name: _script(name) for name in SCRIPTS}
    return template.render(
        audit=audit, source=source, generated=generated.strftime("%Y-%m-%d %H:%M %Z").strip(),
        version=__version__, verdicts=VERDICTS, kinds=FINDING_KINDS, Verdict=Verdict,
        scripts={name.removesuffix(".js"): Markup(text) for name, text in scripts.items()},
        script_hashes=" ".join(_hash(text) for text in scripts.values()),
        glossary=glossary.entries(), rank=VERDICT_RANK,
        href=(lambda ref: link(link_base, ref)) if link_base else (lambda ref: None),
        findings_seen=sorted({c.code for s in audit.sample for r in s.rows for c in r.changes}),
        months_seen=sorted({r.service_date.strftime("%Y-%m") for s in audit.sample
                            for r in s.rows}),
        policies_seen=sorted({r.policy for s in audit.sample for r in s.rows if r.policy}),
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


def isolated(value: object) -> Markup:
    """``value`` escaped in a ``<bdi>``: a right-to-left override in a name from the source
    turns only the name around, not the page's words after it."""
    return Markup("<bdi>{}</bdi>").format(value) if value != "" else Markup("")


def message(value: object) -> Markup:
    """A finding's or an error's message as ``isolated`` shows it, its Markdown quotes
    (`b12-adapter codes add`) as ``<code>``: the messages are written for a terminal too."""
    return isolated(Markup(_QUOTED.sub(r"<code>\1</code>", str(Markup.escape(value)))))


def option_text(value: str) -> str:
    """A name as a select's option: no bidi controls (an option holds text only, so no
    ``<bdi>``), at most ``OPTION_WIDTH`` characters (the full name is its title)."""
    text = charts.plain(value)
    return text if len(text) <= OPTION_WIDTH else text[: OPTION_WIDTH - 1] + "\u2026"


def check_link_base(base: str) -> str:
    """``base`` if it is an http(s) URL with a host, else ValueError saying why."""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--link-base {base!r}: not an http(s) URL with a host")
    try:
        base.format(type="Claim", id="1")
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"--link-base {base!r}: only {{type}} and {{id}} may stand in "
                         "braces") from None
    return base


def link(base: str, ref: str) -> str | None:
    """The web address of ``ref`` (``Type/id``, a version ignored) under ``base``; None for
    a reference that is not of that form (a ``urn:uuid:``, a contained resource)."""
    found = _REFERENCE.fullmatch(ref)
    if not found:
        return None
    rtype, rid = (quote(part, safe="") for part in found.groups())
    if "{" in base:
        return base.format(type=rtype, id=rid)
    return f"{base.rstrip('/')}/{rtype}/{rid}"


def _script(name: str) -> str:
    return (files("adapter.output.audit") / "templates" / name).read_text(encoding="utf-8")


def _hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def csv_data_url(audit: Audit) -> str:
    """The sample table as a UTF-8 CSV (with a BOM, so spreadsheets read the accents) in a
    ``data:`` URL."""
    data = ("\ufeff" + sample_csv(audit)).encode("utf-8")
    return "data:text/csv;charset=utf-8;base64," + base64.b64encode(data).decode("ascii")


def sample_csv(audit: Audit) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_columns(audit))
    for row in _rows(audit):
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _columns(audit: Audit) -> tuple[str, ...]:
    if not audit.show_names:
        return CSV_COLUMNS
    at = CSV_COLUMNS.index("patient") + 1
    return (*CSV_COLUMNS[:at], *NAME_COLUMNS, *CSV_COLUMNS[at:])


def _rows(audit: Audit) -> Iterator[list[str]]:
    for provider in audit.sample:
        for row in provider.rows:
            values = _csv_row(row)
            if audit.show_names:
                at = CSV_COLUMNS.index("patient") + 1
                born = row.birth_date.isoformat() if row.birth_date else ""
                values[at:at] = [row.patient_name, born]
            yield values


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
        row.policy,
    ]


def _cell(value: str) -> str:
    """A spreadsheet must not run a chart's text as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value
