"""How ``serve`` is configured: unusable settings stop it at once with status 2 (before
uvicorn starts), and a client certificate vouched for by a proxy is required when asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from adapter.cli import main
from tests.scenario import clean_chart
from tests.service.conftest import bundle
from tests.service_process import running_service

ROOT = Path(__file__).resolve().parents[2]


def test_unusable_settings_exit_2_naming_the_problem(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("B12_NO_SUCH_TOKEN", raising=False)
    bad_config = tmp_path / "b12.toml"
    bad_config.write_text("b12_low = 150\n")
    cases = [
        (["--api-token-file", str(tmp_path / "missing")], "cannot read API token file"),
        (["--api-token-env", "B12_NO_SUCH_TOKEN"], "B12_NO_SUCH_TOKEN"),
        (["--state", str(tmp_path / "state.json")], "--state needs --server"),
        (["--config", str(bad_config)], "b12_low"),
        (["--server", "ftp://fhir.example.org"], "http(s)"),
    ]
    for args, words in cases:
        assert main(["serve", "--port", "1", *args]) == 2, args
        assert words in capsys.readouterr().err, args


def test_a_client_certificate_subject_from_the_proxy_is_required_when_configured():
    allowed = "CN=engine.example.org,O=Hospital"
    with running_service("--client-cert-header", "X-Client-Subject",
                         "--allow-client-subject", allowed) as service:
        url = f"{service.url}/Claim/$b12-check"
        body = bundle(*clean_chart())

        missing = requests.post(url, json=body, timeout=30)
        other = requests.post(url, json=body, headers={"X-Client-Subject": "CN=x"}, timeout=30)
        vouched = requests.post(url, json=body, headers={"X-Client-Subject": allowed},
                                timeout=30)
        probe = requests.get(f"{service.url}/ready", timeout=30)

        assert missing.status_code == other.status_code == 403
        assert missing.json()["issue"][0]["code"] == "forbidden"
        assert vouched.status_code == 200 and probe.status_code == 200
        assert any(line.get("caller") == allowed for line in service.log_lines())


def test_the_thresholds_config_applies_to_every_request(tmp_path):
    config = tmp_path / "b12.toml"
    config.write_text("lab_lookback_days = 7\n")  # the clean chart's lab is 20 days old
    with running_service("--config", str(config)) as service:
        answer = requests.post(f"{service.url}/Claim/$b12-check",
                               json=bundle(*clean_chart()), timeout=30).json()

    assert [f["code"] for f in answer["claim"]["findings"]] == ["lab-missing"]


def test_the_other_commands_never_import_the_service_framework():
    code = ("import sys; import adapter.cli; "
            "from adapter.cli import main; main(['check', '--source', 'fixtures/demo', "
            "'--format', 'json']); "
            "assert not {'fastapi', 'uvicorn', 'starlette'} & set(sys.modules), "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'uvicorn'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_serve_without_the_extra_says_how_to_install_it():
    code = ("import sys; sys.modules['uvicorn'] = None; from adapter.cli import main; "
            "raise SystemExit(main(['serve']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2
    assert "pip install -e '.[serve]'" in done.stderr
