"""The audit page as a person sees it: the demo's page opened in headless Chromium, its
screenshot taken, its DOM read after load. Fails (never skips) without Chromium in CI."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from adapter.cli import main
from fixtures import make_demo
from tests import browser
from tests.browser import render
from tests.test_demo import DEMO

VERDICT_RANK = {"unsupported": 2, "review": 1, "supported": 0}
PATIENT_NAMES = [f"{make_demo.GIVEN[n % len(make_demo.GIVEN)]} "
                 f"{make_demo.FAMILY[n % len(make_demo.FAMILY)]}" for n in range(1, 42)]


class Page(HTMLParser):
    """What the test reads from the dumped DOM."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.root: dict[str, str | None] = {}
        self.tables: list[list[dict[str, str | None]]] = []  # sample tables: their rows
        self.charts: list[Counter[str]] = []  # per chart: its SVG elements by tag
        self.links: dict[str, dict[str, str | None]] = {}
        self.text: list[str] = []
        self.marks: list[tuple[str, str, str]] = []  # (claim row, mark classes, marked text)
        self._in_chart = 0
        self._row = ""
        self._mark: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "html":
            self.root = a
        elif tag == "table" and "sample" in classes:
            self.tables.append([])
        elif tag == "tr" and "sample-row" in classes:
            self.tables[-1].append(a)
            self._row = a.get("data-claim") or ""
        elif tag == "mark":
            self._mark = a.get("class") or ""
        elif tag == "svg" and "chart" in classes:
            self.charts.append(Counter())
            self._in_chart += 1
        elif tag == "svg" and self._in_chart:
            self._in_chart += 1
        elif tag == "a" and a.get("id"):
            self.links[a["id"] or ""] = a
        if self._in_chart:
            self.charts[-1][tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self._in_chart:
            self._in_chart -= 1
        elif tag == "mark":
            self._mark = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._mark is not None:
            self.marks.append((self._row, self._mark, data))


def audit_page(tmp_path: Path, *args: str) -> tuple[Page, Path, str]:
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out), *args]) == 0
    rendered = render(out, tmp_path / "report.png")
    assert rendered.console == [], rendered.console  # no script error, nothing blocked
    return Page(rendered.dom), rendered.png, out.read_text()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Page, Path, str]:
    return audit_page(tmp_path_factory.mktemp("audit"))


def test_the_page_loads_without_errors(demo):
    page, _, _ = demo
    assert page.root.get("data-page-loaded") == "1"
    assert "data-page-errors" not in page.root


def test_the_sample_table_shows_the_last_ten_claims_of_each_provider_worst_first(demo):
    page, _, _ = demo
    claims: Counter[str] = Counter()  # B12 claims per rendering practitioner
    for name in ("Claim.ndjson", "ExplanationOfBenefit.ndjson"):
        for line in (DEMO / name).read_text().splitlines():
            claim = json.loads(line)
            if claim["status"] == "active" and claim["use"] == "claim" and claim["id"] != "k39":
                claims[claim["careTeam"][0]["provider"]["reference"]] += 1

    assert len(page.tables) == 3
    for rows in page.tables:
        assert len(rows) == 10  # every demo provider has more than 10 claims
        ranks = [VERDICT_RANK[row["data-verdict"] or ""] for row in rows]
        assert ranks == sorted(ranks, reverse=True)
    text = " ".join(page.text)
    for n in claims.values():
        assert f"10 of {n} claim(s)" in text
    for name in ("Dr. Ana Ortiz MD", "Dr. Benjamin Hale DO", "Carla Moss NP",
                 "Riverside Main Clinic", "Riverside North Infusion Suite"):
        assert name in text
    assert "Claim/k32" in {row["data-claim"] for rows in page.tables for row in rows}


def test_the_charts_are_drawn_in_the_page(demo):
    page, png, _ = demo
    assert len(page.charts) == 5
    for chart in page.charts:
        assert chart["path"] >= 3 and chart["text"] >= 3, chart  # bars and their labels

    image = Image.open(png).convert("RGB")
    assert image.size == (1280, 2000)
    colours = {colour: n for n, colour in image.getcolors(maxcolors=1 << 24) or []}
    for bar in ((0xD5, 0x5E, 0x00), (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73)):
        assert colours.get(bar, 0) > 500, f"no {bar} bars on screen"  # verdict colours, drawn


def test_the_csv_download_matches_the_table(demo):
    page, _, _ = demo
    link = page.links["csv-download"]
    assert link["download"] == "b12-audit-sample.csv"
    encoded = (link["href"] or "").split(";base64,", 1)[1]
    header, *rows = csv.reader(io.StringIO(base64.b64decode(encoded).decode("utf-8-sig")))
    assert [r[header.index("claim")] for r in rows] == [
        row["data-claim"] for table in page.tables for row in table]


def test_patient_names_are_absent_without_show_names(demo):
    page, _, html = demo
    text = " ".join(page.text)
    assert not [name for name in PATIENT_NAMES if name in text or name in html]
    assert "Patient/p31" in text


def test_patient_names_with_show_names(tmp_path):
    page, _, _ = audit_page(tmp_path, "--show-names")
    text = " ".join(page.text)
    assert "This page shows patient names" in text
    assert sum(name in text for name in PATIENT_NAMES) >= 10
    assert "Patient/p31" not in text


def test_the_harness_sees_script_errors_and_blocked_loads(tmp_path):
    """The checks above would catch a broken page: an error and a fetch are reported."""
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out)]) == 0
    out.write_text(out.read_text().replace(
        "</body>", '<img src="http://127.0.0.1:9/x.png"><script>noSuchFunction();</script>'
        "</body>"))
    rendered = render(out, tmp_path / "broken.png")

    errors = json.loads(Page(rendered.dom).root.get("data-page-errors") or "[]")
    assert any("noSuchFunction" in e for e in errors)
    assert any("blocked http://127.0.0.1:9/x.png" in e for e in errors)
    assert any("noSuchFunction" in line for line in rendered.console)


def test_without_chromium_the_browser_tests_skip_saying_how_to_install_it_but_fail_in_ci(
        monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        browser.chromium()


def test_the_assessment_line_is_the_days_note_with_the_mention_highlighted(demo, tmp_path):
    """SPEC 4.2: the note's sentence, the mention marked by its context, on screen."""
    page, _, html = demo
    marks = {(claim, classes, text) for claim, classes, text in page.marks}
    assert ("Claim/k60", "mention negated", "B12 deficiency") in marks  # "... ruled out"
    assert ("Claim/k57", "mention historical", "B12 deficiency") in marks
    assert ("Claim/k56", "mention affirmed", "low energy") in marks
    assert "ruled out;" in html and "Negated" not in html
    # a claim whose dates have no note still shows the Condition's words
    assert any(row["data-claim"] == "Claim/k32" for rows in page.tables for row in rows)
    # on screen: the whole page, taller, shows the highlight colours of the marks
    out = tmp_path / "report.html"
    out.write_text(html)
    tall = render(out, tmp_path / "tall.png", height=9000)
    image = Image.open(tall.png).convert("RGB")
    colours = {colour: n for n, colour in image.getcolors(maxcolors=1 << 24) or []}
    shown = {name: colours.get(rgb, 0) for name, rgb in (
        ("negated", (0xFE, 0xCA, 0xCA)), ("affirmed", (0xFD, 0xE6, 0x8A)))}
    assert shown["negated"] > 50 and shown["affirmed"] > 50, shown
