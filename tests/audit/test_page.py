"""The page as a file: self-contained, escaped, its charts and its CSV (the browser test,
tests/audit/test_browser.py, looks at it as a person does)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from datetime import UTC, datetime
from html import escape, unescape

import pytest

from adapter.findings import FINDING_KINDS, Verdict
from adapter.output.audit import charts, glossary
from adapter.output.audit.collect import Party, Tally
from adapter.output.audit.html import (
    CSV_COLUMNS,
    OPTION_WIDTH,
    check_link_base,
    csv_data_url,
    link,
    render,
    sample_csv,
)
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


def test_only_the_page_s_own_scripts_may_run_named_by_their_hashes():
    html = page(*backed("k1", "p1", "2026-03-02"))

    policy = unescape(re.search(r'Content-Security-Policy" content="([^"]+)"', html).group(1))
    allowed = re.search(r"script-src ([^;]+);", policy).group(1).split()
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    assert len(scripts) == len(allowed) == 2
    assert allowed == [_sha256(script) for script in scripts]


def _sha256(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def test_the_glossary_gives_every_finding_code_in_a_coders_words():
    html = page(*backed("k1", "p1", "2026-03-02", given=False))

    for entry in glossary.entries():
        assert entry.words, f"{entry.code}: no words in adapter/output/audit/glossary.py"
        assert f'<tr id="finding-{entry.code}">' in html
    assert {e.code for e in glossary.entries()} == set(FINDING_KINDS)
    row = html.split('<tr id="finding-admin-missing">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">1</td>' in row  # the claims with it in this audit
    assert 'href="#finding-admin-missing"' in html  # the sample's code links to its entry


def test_skipped_claims_are_listed_with_their_reasons():
    html = page(*backed("k1", "p1", "2026-03-02"),
                b.claim("k2", "p1", "2026-03-02", status="cancelled"))

    assert "Claims skipped (1)" in html
    assert ("<code><bdi>Claim/k2</bdi></code></td><td><bdi>claim status is cancelled</bdi></td>"
            in html)
    assert 'id="skipped"' not in page(*backed("k1", "p1", "2026-03-02"))


def test_with_names_the_name_and_birth_date_stand_beside_the_reference():
    chart = [b.patient("p1", name=("Alma", "Abbott"), birth="1950-07-01"),
             *backed("k1", "p1", "2026-03-02")[1:]]

    shown = page(*chart, show_names=True)
    assert '<b><bdi>Alma Abbott</bdi></b> <span class="born">born 1950-07-01</span>' in shown
    assert '<span class="patient"><bdi>Patient/p1</bdi></span>' in shown
    header, row = csv_rows(csv_data_url(audit(*chart, show_names=True)))
    record = dict(zip(header, row, strict=True))
    assert (record["patient"], record["patient name"], record["birth date"]) == (
        "Patient/p1", "Alma Abbott", "1950-07-01")
    assert "born 1950" not in page(*chart)


def test_with_a_link_base_claims_and_resources_link_to_their_web_view():
    chart = backed("k1", "p1", "2026-03-02", practitioner="d1")
    result = audit(*chart)

    html = render(result, source="s", generated=WHEN, link_base="https://ehr.example.org/fhir/")
    for ref in ("Claim/k1", "Patient/p1", "Condition/k1-c", "Observation/k1-o",
                "Practitioner/d1"):
        assert f'href="https://ehr.example.org/fhir/{ref}" rel="noopener noreferrer"' in html
    shaped = render(result, source="s", generated=WHEN,
                    link_base="https://ehr.example.org/view?type={type}&id={id}")
    assert 'href="https://ehr.example.org/view?type=Claim&amp;id=k1"' in shaped
    assert "ehr.example.org" not in page(*chart)  # no links without a base


def test_only_plain_references_are_linked_and_only_to_an_http_base():
    assert link("https://x.org/r4", "Claim/k1/_history/3") == "https://x.org/r4/Claim/k1"
    assert link("https://x.org/r4", "urn:uuid:0c3f") is None
    assert link("https://x.org/r4", "#contained") is None
    assert check_link_base("http://127.0.0.1:8080/fhir") == "http://127.0.0.1:8080/fhir"
    for bad in ("javascript:alert(1)", "ftp://x.org", "https://", "https://x.org/{name}"):
        with pytest.raises(ValueError, match="--link-base"):
            check_link_base(bad)


@pytest.mark.parametrize("name", ["Main Clinic, Suite $^$", "Carla $\\notacommand$ Moss",
                                  "Cash $ only %$", "Carla $5 and $10 Moss"])
def test_a_name_with_dollar_signs_is_drawn_as_written_not_as_tex(name):
    parties = [(Party("Location/l1", name), Tally(claims=1))]

    svg = charts.by_party(parties)  # was matplotlib's ParseSyntaxException: no page at all
    assert f">{escape(name, quote=False)}<" in svg


def test_providers_sharing_a_name_are_a_bar_each_named_by_reference():
    same = [(Party("Practitioner/pr1", "Dr. Lee"), Tally(claims=2)),
            (Party("Practitioner/pr2", "Dr. Lee"), Tally(claims=1)),
            (Party("Practitioner/pr3", "A" * 40 + " one"), Tally(claims=1)),
            (Party("Practitioner/pr4", "A" * 40 + " two"), Tally(claims=1)),
            (Party("Practitioner/pr5", "Carla Moss"), Tally(claims=1))]
    for _, t in same:
        t.verdicts[Verdict.SUPPORTED] = t.claims

    svg = charts.by_party(same)
    assert ">Dr. Lee (Practitioner/pr1)<" in svg and ">Dr. Lee (Practitioner/pr2)<" in svg
    assert "(Practitioner/pr3)<" in svg and "(Practitioner/pr4)<" in svg
    assert ">Carla Moss<" in svg  # a name of its own stays as it is
    assert svg.count(">2 (0 to fix)<") == 1 and svg.count(">1 (0 to fix)<") == 4  # five bars


def test_bidi_controls_are_dropped_from_chart_labels():
    svg = charts.by_party([(Party("Practitioner/pr1", "Carla Moss \u202eNP\u2066"),
                            Tally(claims=1))])

    assert ">Carla Moss NP<" in svg
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", svg)


def test_an_override_in_a_name_turns_only_the_name_around():
    chart = [*backed("k1", "p1", "2026-03-02", practitioner="d1", facility="l1"),
             b.practitioner("d1", "Carla", "Moss \u202eNP"),
             b.location("l1", "Main Clinic \u202eNorth")]
    html = re.sub(r"<svg.*?</svg>", "", page(*chart), flags=re.S)  # the charts drop them

    isolated = re.findall(r"<bdi>[^<]*\u202e[^<]*</bdi>", html)
    assert len(isolated) >= 4  # the provider's table, heading, the row's facility, ...
    assert html.count("\u202e") == len(isolated)  # each inside a <bdi> of its own
    option = re.search(r'<option value="p1" title="([^"]*)">([^<]*)</option>', html)
    assert option.groups() == ("Carla Moss NP", "Carla Moss NP")  # an option holds text only


def test_a_long_provider_name_is_cut_in_the_filter_and_whole_in_its_title():
    name = "Moss" + "x" * 3000
    chart = [*backed("k1", "p1", "2026-03-02", practitioner="d1"),
             b.practitioner("d1", "Carla", name)]

    option = re.search(r'<option value="p1" title="([^"]*)">([^<]*)</option>', page(*chart))
    assert option[1] == f"Carla {name}"
    assert option[2] == f"Carla {name}"[:OPTION_WIDTH - 1] + "\u2026"


def _named_note_chart() -> list[dict]:
    chart = [b.patient("p1", name=("Hedwig", "Gruenwald")), *backed("k1", "p1", "2026-03-02")[1:],
             b.document_reference("n1", "p1", "2026-03-02", "ASSESSMENT: Mrs. Hedwig GRUENWALD, "
                                  "Hedwigson's mother, has vitamin B12 deficiency, stable.")]
    chart[1] = b.condition("k1-c", "p1", icd="E53.8", text="B12 deficiency (Gruenwald, H.)")
    return chart


def test_without_names_the_patient_s_own_name_is_masked_in_the_quotes():
    chart = _named_note_chart()
    html = page(*chart)

    assert "gruenwald" not in html.lower() and "Hedwig " not in html
    assert "Mrs. [name] [name], Hedwigson&#39;s mother, has" in html  # whole words, any case
    assert "gruenwald" not in page(*chart[:-1]).lower()  # no note: the Condition's text
    csv_text = base64.b64decode(csv_data_url(audit(*chart)).split(",")[1]).decode()
    assert "Mrs. [name] [name], Hedwigson's" in csv_text and "gruenwald" not in csv_text.lower()


def test_with_names_the_quotes_are_as_written():
    chart = _named_note_chart()
    html = page(*chart, show_names=True)

    assert "Mrs. Hedwig GRUENWALD" in html and "[name]" not in html


def test_an_unreadable_note_is_named_once_in_the_page_and_its_csv():
    chart = [*backed("k1", "p1", "2026-03-02"),
             b.document_reference("n1", "p1", "2026-03-02", "%PDF-1.4",
                                  content_type="application/pdf")]
    result = audit(*chart)
    said = ("cannot be read: it is application/pdf, which is not read (only text, HTML and "
            "RTF notes are)")

    assert said in render(result, source="fixtures/test", generated=WHEN)
    header, row = csv_rows(csv_data_url(result))
    assert dict(zip(header, row, strict=True))["assessment"] == said


def test_a_message_s_quoted_command_is_code_on_the_page():
    html = page(*backed("k1", "p1", "2026-11-02"))  # FY2027 is not installed

    assert "code-set-missing" in html
    assert "(install it with <code>b12-adapter codes add</code>)" in html and "`" not in html


def test_the_footer_points_at_the_page_describing_the_checks():
    footer = page(*backed("k1", "p1", "2026-03-02")).split("Made by", 1)[1]

    assert "docs/checks.md" in footer and "README" not in footer
