"""``b12-adapter audit`` on the command line: the page, the summary, the exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapter.cli import main
from fixtures import builders as b
from tests.audit.scenario import backed
from tests.test_demo import DEMO

ROOT = Path(__file__).resolve().parents[2]


def test_audit_of_the_demo_writes_the_page_and_says_what_is_in_it(tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out)]) == 0

    stdout, stderr = capsys.readouterr()
    assert stdout.strip() == (
        f"audit: 67 claims in the period (every service date read): 10 unsupported, 22 review, "
        f"35 supported; sample of 30 claims from 3 providers; written to {out}")
    assert stderr == ("b12-adapter: note: ICD-10-CM FY2027, in force from 2026-10-01, is not "
                      "installed: 1 claim(s) judged with FY2026-04 instead (code-set-missing); "
                      "install it with `b12-adapter codes add` (see `b12-adapter codes "
                      "list`)\n")
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "Dr. Ana Ortiz MD" in html


def test_a_period_and_a_sample_size(tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out), "--from", "2026-05-03",
                 "--to", "2026-05-30", "--sample", "2"]) == 0

    assert "9 claims in the period (2026-05-03 to 2026-05-30)" in capsys.readouterr().out
    assert out.read_text().count('class="sample-row"') == 6  # 2 per provider


def test_names_never_reach_the_terminal(tmp_path, capsys):
    chart = [b.patient("p1", name=("Alma", "Abbott")), *backed("k1", "p1", "2026-03-02")[1:],
             {**b.lab("bad", "p1", "b12", 1, "pg/mL", "2026-02-01"),
              "valueQuantity": {"value": "low"}}]
    source = tmp_path / "chart.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in chart))
    out = tmp_path / "report.html"

    status = main(["audit", "--source", str(source), "--out", str(out), "--show-names"])

    stdout, stderr = capsys.readouterr()
    assert status == 1  # a resource could not be used; the page is still written
    assert "Observation/bad" in stderr
    assert "Abbott" not in stdout + stderr
    assert "Alma Abbott" in out.read_text()


def _write(tmp_path: Path, chart: list[dict]) -> Path:
    source = tmp_path / "chart.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in chart))
    return source


def test_an_invalid_birth_date_is_named_but_its_value_never_shown(tmp_path, capsys):
    chart = [b.patient("p1", birth="1972-02-30"), *backed("k1", "p1", "2026-03-02")[1:]]
    out = tmp_path / "report.html"

    status = main(["audit", "--source", str(_write(tmp_path, chart)), "--out", str(out)])

    stderr = capsys.readouterr().err
    assert status == 1  # the Patient could not be used; the page is still written
    assert "Patient/p1: birthDate is not a valid date" in stderr
    html = out.read_text()
    assert "Patient/p1" in html and "birthDate is not a valid date" in html
    assert "1972" not in stderr + html and "02-30" not in stderr + html


def test_names_with_dollar_signs_still_give_the_page(tmp_path, capsys):
    chart = [*backed("k1", "p1", "2026-03-02", practitioner="d1", facility="l1"),
             b.practitioner("d1", "Carla $\\notacommand$", "Moss"),
             b.location("l1", "Main Clinic, Suite $^$")]
    out = tmp_path / "report.html"

    status = main(["audit", "--source", str(_write(tmp_path, chart)), "--out", str(out)])

    assert status == 0 and "Traceback" not in capsys.readouterr().err
    html = out.read_text()
    assert ">Main Clinic, Suite $^$<" in html and ">Carla $\\notacommand$ Moss<" in html


@pytest.mark.parametrize("args, message", [
    (["--from", "2026-03-01", "--to", "2026-02-01"], "is after --to"),
    (["--claim", "k1"], "need --server"),
    (["--link-base", "javascript:alert(1)"], "not an http(s) URL with a host"),
])
def test_unusable_arguments_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "report.html"
    assert main(["audit", "--source", str(DEMO), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_an_out_file_in_a_missing_directory_exits_2_before_any_work(tmp_path, capsys):
    assert main(["audit", "--source", str(DEMO), "--out", str(tmp_path / "no" / "r.html")]) == 2
    assert "not a file in an existing directory" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "said"), [
    (["--sample", "0"], "argument --sample: must be a whole number from 1"),
    (["--from", "March"], "not a date (YYYY-MM-DD): 'March'"),
])
def test_an_unusable_option_value_is_refused_by_the_parser(tmp_path, capsys, option, said):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "--source", str(DEMO), "--out", str(tmp_path / "r.html"), *option])
    assert exited.value.code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_audit_without_the_extra_says_how_to_install_it(tmp_path):
    done = _python("import sys; sys.modules['matplotlib'] = None; from adapter.cli import main; "
                   f"raise SystemExit(main(['audit', '--source', 'fixtures/demo', '--out', "
                   f"{str(tmp_path / 'r.html')!r}]))")
    assert done.returncode == 2, done.stderr
    assert "pip install -e '.[audit]'" in done.stderr


def test_the_other_commands_never_import_the_chart_libraries():
    done = _python("import sys; from adapter.cli import main; "
                   "main(['check', '--source', 'fixtures/demo', '--format', 'json']); "
                   "loaded = {'matplotlib'} & {m.split('.')[0] for m in sys.modules}; "
                   "loaded |= {'adapter.output.audit'} & set(sys.modules); "
                   "assert not loaded, loaded")
    # (jinja2 is no longer asked about: spaCy, which reads the demo's notes, imports it)
    assert done.returncode == 0, done.stderr[-2000:]


def test_out_may_name_a_directory_like_check_s(tmp_path, capsys):
    assert main(["audit", "-s", str(DEMO), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "audit.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert f"written to {tmp_path / 'audit.html'}" in capsys.readouterr().out
