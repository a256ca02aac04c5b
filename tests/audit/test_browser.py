"""The audit page as a person sees it: the demo's page opened in headless Chromium, its
screenshot taken, its DOM read after load; on a phone's width; sorted and filtered by clicks;
printed to PDF. Fails (never skips) without Chromium in CI."""

from __future__ import annotations

import base64
import csv
import html as htmlmod
import io
import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from adapter.cli import main
from adapter.findings import FINDING_KINDS
from fixtures import make_demo
from tests import browser
from tests.browser import dom, in_frame, print_to_pdf, render, with_script
from tests.test_demo import DEMO, POLICIES

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


def test_patient_names_with_show_names_stand_beside_the_reference_with_the_birth_date(
        tmp_path):
    page, _, _ = audit_page(tmp_path, "--show-names")
    text = " ".join(page.text)
    assert "This page shows patient names" in text
    assert sum(name in text for name in PATIENT_NAMES) >= 10
    assert "Patient/p31" in text and "born 19" in text


def test_the_harness_sees_script_errors_and_blocked_loads(tmp_path):
    """The checks above would catch a broken page: an error, a fetch and a script the
    page's policy does not name are reported (and that script does not run)."""
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out)]) == 0
    out.write_text(out.read_text().replace(
        "</body>", '<img src="http://127.0.0.1:9/x.png">'
        '<script>document.title = "injected";</script></body>'))
    broken = with_script(out, "noSuchFunction();", tmp_path / "broken.html")
    rendered = render(broken, tmp_path / "broken.png")

    errors = json.loads(Page(rendered.dom).root.get("data-page-errors") or "[]")
    assert any("noSuchFunction" in e for e in errors)
    assert any("blocked http://127.0.0.1:9/x.png" in e for e in errors)
    assert any("blocked inline" in e for e in errors)
    assert "<title>injected</title>" not in rendered.dom
    assert any("noSuchFunction" in line for line in rendered.console)


# --- a phone, clicks, print --------------------------------------------------------------

# Measures the framed page at a phone's width: how wide the document is, and where each
# sample row and its verdict and "what to change" cells end.
MEASURE = """
var d = frame.document, rows = d.querySelectorAll("tr.sample-row"), out = [];
rows.forEach(function (row) {
  var cells = row.cells, box = row.getBoundingClientRect();
  out.push({left: box.left, right: box.right, display: frame.getComputedStyle(cells[0]).display,
            verdict: cells[4].getBoundingClientRect().right,
            change: cells[5].getBoundingClientRect().right,
            top4: cells[4].getBoundingClientRect().top,
            top5: cells[5].getBoundingClientRect().top});
});
document.body.setAttribute("data-measured", JSON.stringify({
  width: frame.innerWidth, scroll: d.documentElement.scrollWidth,
  sample: d.getElementById("sample").scrollWidth, sampleBox: d.getElementById("sample").clientWidth,
  loaded: d.documentElement.getAttribute("data-page-loaded"),
  errors: d.documentElement.getAttribute("data-page-errors"), rows: out}));
"""


def _attribute(dom_text: str, name: str) -> object:
    found = re.search(rf'{name}="([^"]*)"', dom_text)
    assert found, f"no {name} in the page"
    return json.loads(htmlmod.unescape(found.group(1)))


def test_on_a_phone_the_sample_rows_stack_and_nothing_scrolls_sideways(tmp_path):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out)]) == 0
    framed = in_frame(out, MEASURE, tmp_path / "phone.html", width=420)

    measured = _attribute(dom(framed, width=600).dom, "data-measured")

    assert measured["width"] == 420 and measured["loaded"] == "1" and not measured["errors"]
    assert measured["scroll"] <= 420  # the page does not scroll sideways
    assert measured["sample"] <= measured["sampleBox"]  # nor does the sample in its box
    assert len(measured["rows"]) == 30
    for row in measured["rows"]:
        assert row["display"] == "block"  # the cells stack
        assert row["left"] >= 0 and row["right"] <= 420
        assert row["verdict"] <= 420 and row["change"] <= 420  # on screen, not cut off
        assert row["top5"] > row["top4"]  # "what to change" below the verdict


# Clicks a heading or picks a filter, then notes each table's visible claims, in order.
CLICKS = """
var out = [], section = document.getElementById("sample");
function note(step) {
  var tables = [];
  section.querySelectorAll("table.sample").forEach(function (table) {
    var shown = [];
    table.querySelectorAll("tr.sample-row").forEach(function (row) {
      if (!row.hidden && !row.closest(".provider-sample").hidden) {
        shown.push([row.getAttribute("data-claim"), row.getAttribute("data-verdict"),
                    row.getAttribute("data-date"), row.getAttribute("data-findings")]);
      }
    });
    tables.push(shown);
  });
  out.push({step: step, tables: tables, sorted: section.getAttribute("data-sorted"),
            status: document.getElementById("sample-status").textContent});
}
function heading(key) { return section.querySelector('th[data-sort="' + key + '"] button'); }
function pick(id, value) {
  var select = document.getElementById(id);
  select.value = value;
  select.dispatchEvent(new Event("change", {bubbles: true}));
}
note("loaded");
heading("rank").click(); note("verdict");
heading("rank").click(); note("verdict again");
heading("date").click(); note("date");
document.getElementById("sample-reset").click(); note("reset");
pick("filter-verdict", "review"); note("review");
pick("filter-verdict", ""); pick("filter-finding", "admin-missing"); note("admin-missing");
pick("filter-finding", ""); pick("filter-provider", "p2"); note("provider");
document.getElementById("sample-reset").click(); note("reset again");
document.documentElement.setAttribute("data-clicks", JSON.stringify(out));
"""


def test_sorting_and_filtering_the_sample_by_clicking(tmp_path):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out)]) == 0
    rendered = dom(with_script(out, CLICKS, tmp_path / "clicked.html"))
    assert rendered.console == [], rendered.console
    steps = {s["step"]: s for s in _attribute(rendered.dom, "data-clicks")}

    loaded = steps["loaded"]
    assert loaded["status"] == "All 30 claims shown."
    assert [len(t) for t in loaded["tables"]] == [10, 10, 10]

    def ranks(step: str) -> list[list[int]]:
        return [[VERDICT_RANK[r[1]] for r in t] for t in steps[step]["tables"]]

    assert all(r == sorted(r, reverse=True) for r in ranks("verdict"))  # worst first
    assert all(r == sorted(r) for r in ranks("verdict again"))  # a second click: reversed
    assert ranks("verdict again") != ranks("verdict")
    assert steps["verdict again"]["sorted"] == "rank ascending"
    for table in steps["date"]["tables"]:
        days = [r[2] for r in table]
        assert days == sorted(days, reverse=True)  # the latest first
    assert steps["reset"]["tables"] == loaded["tables"]

    review = steps["review"]
    assert {r[1] for t in review["tables"] for r in t} == {"review"}
    shown = sum(len(t) for t in review["tables"])
    assert review["status"] == f"{shown} of 30 claims shown."
    assert shown == sum(r[1] == "review" for t in loaded["tables"] for r in t)
    missing = [r for t in steps["admin-missing"]["tables"] for r in t]
    assert missing and all("admin-missing" in r[3].split() for r in missing)
    assert [len(t) > 0 for t in steps["provider"]["tables"]] == [False, True, False]
    assert steps["reset again"]["tables"] == loaded["tables"]


def test_the_glossary_explains_every_finding_code_in_the_page(demo):
    page, _, html = demo
    text = " ".join(page.text)
    assert "Finding codes" in text
    for code, kind in FINDING_KINDS.items():
        assert f'<tr id="finding-{code}">' in html, code
        assert kind.title in text
    for target in set(re.findall(r'href="#finding-([a-z0-9-]+)"', html)):
        assert target in FINDING_KINDS  # every finding code in the page links to its entry


def test_the_skipped_claims_are_listed_with_their_reasons(demo):
    page, _, _ = demo
    text = " ".join(" ".join(page.text).split())
    assert "Claims skipped (3)" in text
    for claim, reason in (("Claim/k39", "no B12 injection item"),
                          ("Claim/k40", "claim status is cancelled")):
        assert f"{claim} {reason}" in text


def _page_fill(pdf: Path) -> list[tuple[float, str]]:
    """Per printed page: how far down its text reaches (0 to 1), and the text."""
    pages = []
    for page in PdfReader(pdf).pages:
        ys: list[float] = []

        def seen(text: str, cm: list[float], tm: list[float], *_: object,
                 ys: list[float] = ys) -> None:
            if text.strip():
                ys.append(cm[5] + tm[5] * cm[3])

        text = page.extract_text(visitor_text=seen)
        height = float(page.mediabox.height)
        pages.append(((height - min(ys)) / height if ys else 0.0, text))
    return pages


def test_printed_the_page_has_no_near_empty_pages_and_keeps_the_provider_table_whole(tmp_path):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out)]) == 0
    pages = _page_fill(print_to_pdf(out, tmp_path / "report.pdf"))

    # A4 landscape: the count follows the demo (its notes make rows taller); what matters is
    # that no page is mostly empty (twelve pages before, four of them nearly blank)
    assert 4 <= len(pages) <= 14
    for n, (fill, _) in enumerate(pages[:-1], 1):
        assert fill > 0.5, f"page {n} of {len(pages)} is mostly empty ({fill:.0%} used)"
    assert len(pages[-1][1].split()) > 30  # the last page holds more than a stray line
    holding = [n for n, (_, text) in enumerate(pages)
               if "Dr. Ana Ortiz MD Practitioner" in " ".join(text.split())]
    table = [n for n, (_, text) in enumerate(pages)
             if all(name in " ".join(text.split()) for name in
                    ("Carla Moss NP Practitioner", "Dr. Benjamin Hale DO Practitioner",
                     "Dr. Ana Ortiz MD Practitioner"))]
    assert holding and table == holding[:1]  # the provider table on one page


def test_without_chromium_the_browser_tests_skip_saying_how_to_install_it_but_fail_in_ci(
        monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        browser.chromium()


PICK_POLICY = """
var select = document.getElementById("filter-policy"), out = {};
Array.prototype.forEach.call(select.options, function (option) {
  select.value = option.value;
  select.dispatchEvent(new Event("change", {bubbles: true}));
  var shown = [];
  document.querySelectorAll("tr.sample-row").forEach(function (row) {
    if (!row.hidden && !row.closest(".provider-sample").hidden) {
      shown.push(row.getAttribute("data-claim"));
    }
  });
  out[option.textContent] = shown;
});
document.documentElement.setAttribute("data-picked", JSON.stringify(out));
"""


def test_filtering_the_sample_by_payer_policy(tmp_path):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out),
                 "--config", str(POLICIES)]) == 0
    rendered = dom(with_script(out, PICK_POLICY, tmp_path / "picked.html"))
    assert rendered.console == [], rendered.console
    picked = _attribute(rendered.dom, "data-picked")

    by_policy = {name.split()[0]: claims for name, claims in picked.items()}
    assert len(by_policy["all"]) == 30
    assert by_policy["Aetna"] and by_policy["Medicare"] and by_policy["none"]
    assert sorted(by_policy["Aetna"] + by_policy["Medicare"] + by_policy["none"]) == sorted(
        by_policy["all"])
    html = out.read_text()
    for claim in by_policy["Aetna"]:
        row = html.split(f'data-claim="{claim}"', 1)[1].split("</tr>", 1)[0]
        assert "policy: <bdi>Aetna CPB 0536" in row


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
