"""The audit page counts claims and the two policy findings by payer policy (SPEC 4.4)."""

from __future__ import annotations

import re

from adapter.cli import main
from tests.test_demo import DEMO, POLICIES


def _rows(html: str) -> dict[str, list[str]]:
    table = html.split('id="policy-table"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr><td>(.*?)</tr>", table, re.S):
        label = re.sub(r"<[^>]+>", " ", row.split("</td>", 1)[0]).split()[0:3]
        cells = re.findall(r'<td class="num">(\d+)</td>', row)
        rows[" ".join(label)] = cells
    return rows


def test_the_audit_of_the_demo_with_its_policies_has_a_table_and_chart_by_policy(tmp_path):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out),
                 "--config", str(POLICIES)]) == 0
    html = out.read_text()
    assert 'id="chart-policies"' in html
    rows = _rows(html)
    # claims, unsupported, review, supported, dx-not-covered, frequency-exceeds-policy
    assert rows["Aetna CPB 0536"] == ["1", "1", "0", "0", "1", "0"]
    assert rows["Medicare LCD L33967"] == ["3", "0", "1", "2", "0", "1"]
    assert rows["(no payer policy)"][0] == "63"


def test_without_policies_the_page_says_none_applied(tmp_path):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out)]) == 0
    html = out.read_text()
    assert 'id="policy-table"' not in html and "No payer policy applied" in html
