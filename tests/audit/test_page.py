"""The page as a file: self-contained, escaped, its charts and its CSV (the browser test,
tests/audit/test_browser.py, looks at it as a person does)."""

from __future__ import annotations

import base64
import csv
import io
import re
from datetime import UTC, datetime

from adapter.findings import Verdict
from adapter.output.audit import charts
from adapter.output.audit.collect import Party, Tally
from adapter.output.audit.html import CSV_COLUMNS, csv_data_url, render, sample_csv
from fixtures import builders as b
from tests.audit.scenario import audit, backed

WHEN = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def page(*resources: dict, **options: object) -> str:
    return render(audit(*resources, **options), source="fixtures/test", generated=WHEN)


def csv_rows(url: str) -> list[list[str]]:
    prefix = "data:text/csv;charset=utf-8;base64,"
    assert url.startswith(prefix)
    text = base64.b64decode(url[len(prefix):]).decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheets read UTF-8 with its BOM
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_page_fetches_nothing_and_holds_its_charts():
    html = page(*backed("k1", "p1", "2026-03-02"), *backed("k2", "p2", "2026-03-02", lab=None))

    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)  # no CDN, no web font
    assert len(re.findall(r'<svg class="chart" role="img"', html)) == 5
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_text_from_the_chart_is_escaped():
    chart = backed("k1", "p1", "2026-03-02")
    chart[1] = b.condition("k1-c", "p1", icd="E53.8", text='<script>alert("x")</script> & co')
    html = page(*chart)

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in html


def test_the_csv_download_holds_the_sample_table():
    chart = backed("k1", "p1", "2026-03-02", given=False)
    chart[1] = b.condition("k1-c", "p1", icd="E53.8", text="=HYPERLINK(\"http://x\")")
    result = audit(*chart, *backed("k2", "p2", "2026-03-01"))

    header, *rows = csv_rows(csv_data_url(result))
    assert tuple(header) == CSV_COLUMNS
    assert [r[2] for r in rows] == ["Claim/k1", "Claim/k2"]
    first = dict(zip(header, rows[0], strict=True))
    assert first["verdict"] == "unsupported" and first["findings"] == "admin-missing"
    assert first["billed codes"] == "E53.8" and first["labs"] == "B12 150 pg/mL 2026-03-02 low"
    assert first["assessment"] == "'=HYPERLINK(\"http://x\")"  # never a formula
    assert first["patient"] == "Patient/p1"
    assert sample_csv(result).count("\r\n") == 3


def test_names_are_on_the_page_only_when_asked_for():
    chart = [b.patient("p1", name=("Alma", "Abbott")), *backed("k1", "p1", "2026-03-02")[1:]]

    hidden, shown = page(*chart), page(*chart, show_names=True)
    assert "Abbott" not in hidden and "Patient/p1" in hidden
    assert "Abbott" in shown and "This page shows patient names" in shown
    assert "Abbott" not in base64.b64decode(csv_data_url(audit(*chart)).split(",")[1]).decode()


def test_charts_carry_their_numbers_as_text():
    total = Tally(claims=3)
    total.verdicts.update({Verdict.UNSUPPORTED: 1, Verdict.SUPPORTED: 2})
    total.findings.update({"admin-missing": 1})

    svg = charts.verdict_mix(total)
    assert 'aria-label="Claims by verdict: unsupported 1, review 0, supported 2"' in svg
    assert ">2 (67%)<" in svg  # the count beside the bar, as text
    assert "admin-missing" in charts.findings_by_code(total)
    assert charts.verdict_mix(total) == svg  # the same numbers draw the same bytes


def test_empty_charts_say_so():
    assert "No claims in the period" in charts.by_party([])
    assert "No claims in the period" in charts.trend([])
    assert "No claims in the period" in charts.findings_by_code(Tally())


def test_long_provider_lists_show_the_worst_few():
    parties = [(Party(f"Practitioner/d{n}", f"Doctor {n}"), Tally(claims=1)) for n in range(20)]
    svg = charts.by_party(parties)

    assert "Doctor 11" in svg and "Doctor 12" not in svg


def test_the_template_ships_in_the_wheel():
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = data["package-data"]["adapter.output.audit"]
    package = root / "adapter" / "output" / "audit"
    shipped = [p.relative_to(package).as_posix() for p in (package / "templates").iterdir()]
    assert shipped and all(any(fnmatch(name, g) for g in globs) for name in shipped)
