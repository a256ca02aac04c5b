"""The command line's reliability options for server runs, and what it does with bad ones
(README "Reliability: server runs"); the end-to-end runs are in
tests/integration/test_server_faults.py."""

from __future__ import annotations

import pytest

from adapter.cli import _client, _parser, main
from adapter.fhir.retry import DEFAULT_RETRY_BUDGET

SERVER = "http://127.0.0.1:9/fhir"


@pytest.mark.parametrize("command", [
    ["check", "--server", SERVER], ["sync", "--server", SERVER, "--state", "s.json"],
    ["load", "fixtures/demo", "--server", SERVER]])
def test_the_retry_budget_reaches_the_client_of_every_server_command(command):
    assert _client(_parser().parse_args([*command, "--retry-budget", "7.5"])
                   ).retry.max_total_seconds == 7.5
    assert _client(_parser().parse_args(command)).retry.max_total_seconds == DEFAULT_RETRY_BUDGET


def test_the_default_retry_budget_covers_medplums_60_second_window_twice():
    assert DEFAULT_RETRY_BUDGET >= 120


def test_a_negative_retry_budget_exits_2_before_any_request(capsys):
    assert main(["check", "--server", SERVER, "--retry-budget", "-1"]) == 2
    assert "negative" in capsys.readouterr().err
