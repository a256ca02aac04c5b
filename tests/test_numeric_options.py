"""Every numeric option of every command takes only the values it can use: any other is an
argument error in one line naming the option, exit status 2, before any work
(adapter/numeric_options.py)."""

from __future__ import annotations

import argparse
import math

import pytest

from adapter import numeric_options
from adapter.cli import _parser, main
from adapter.fhir import FhirClient
from adapter.fhir.retry import RetryPolicy

SERVER = "http://127.0.0.1:9/fhir"
SYNC = ["sync", "--server", SERVER, "--state", "s.json"]
# Each command with the arguments it needs, so one option at a time can be tried.
COMMANDS = {
    "check": ["check", "--server", SERVER], "sync": SYNC,
    "load": ["load", "--source", "x", "--server", SERVER], "serve": ["serve"],
    "audit": ["audit", "--server", SERVER, "--out", "a.html"],
    "spark": ["spark", "--source", "x", "--out", "y"], "codes": ["codes", "list"],
}
VALIDATORS = {numeric_options.positive_int, numeric_options.non_negative_int,
              numeric_options.port, numeric_options.positive_seconds,
              numeric_options.non_negative_seconds}


def _commands() -> dict[str, argparse.ArgumentParser]:
    return next(a for a in _parser()._actions
                if isinstance(a, argparse._SubParsersAction)).choices


def _numeric_options() -> list[tuple[str, str, object]]:
    """(command, flag, type) of every option that reads a number."""
    return [(name, action.option_strings[-1], action.type)
            for name, command in _commands().items() for action in command._actions
            if action.type in VALIDATORS]


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one-line argument error ``argv`` gets (parsed only: nothing runs)."""
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_known_args(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, argv
    assert len(err.strip().splitlines()) == 1 and "--help)" in err, err
    return err


@pytest.mark.parametrize("command", [SYNC, ["serve", "--server", SERVER, "--state", "s.json"]])
@pytest.mark.parametrize("value", ["-5", "-1", "five", "1.5", "\u0665", "99999999999999999999999"])
def test_an_overlap_that_is_not_0_or_more_seconds_is_refused(capsys, command, value):
    err = _refused(capsys, [*command, "--overlap-seconds", value])
    assert f"argument --overlap-seconds: must be a whole number from 0 to 1000000000, not " \
           f"{value!r}" in err


@pytest.mark.parametrize("value", ["0", "300", "+7"])
def test_an_overlap_of_0_or_more_seconds_is_taken(value):
    assert _parser().parse_args([*SYNC, "--overlap-seconds", value]).overlap_seconds \
        == int(value)


def test_sync_with_a_negative_overlap_exits_2_before_any_request(capsys, tmp_path):
    # a negative overlap searched from after the watermark: claims updated just after it
    # were never checked, and the watermark moved past them (exit 0)
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "--server", SERVER, "--state", str(tmp_path / "s.json"),
              "--overlap-seconds", "-5"])
    assert exit_.value.code == 2
    assert "--overlap-seconds" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_every_command_is_tried_and_no_option_reads_a_bare_int_or_float():
    assert set(COMMANDS) == set(_commands())
    bare = [(name, action.option_strings) for name, command in _commands().items()
            for action in command._actions if action.type in (int, float)]
    assert bare == []
    assert len(_numeric_options()) >= 20  # the walk found them


# nan and inf: float() reads them; 1e999 is inf; Arabic-Indic 5: int() reads it
NEVER = ["nan", "inf", "-1", "-0.5", "1e999", "ten", "", "1 0", "\u0665", "0x10"]


@pytest.mark.parametrize("name, flag, kind", _numeric_options())
def test_every_numeric_option_refuses_what_it_cannot_use_naming_itself(capsys, name, flag,
                                                                       kind):
    seconds = kind in (numeric_options.positive_seconds, numeric_options.non_negative_seconds)
    positive = kind not in (numeric_options.non_negative_int, numeric_options.non_negative_seconds)
    never = [*NEVER, *(["0"] if positive else []), *([] if seconds else ["2.5"])]
    for value in never:
        err = _refused(capsys, [*COMMANDS[name], f"{flag}={value}"])
        assert f"argument {flag}: must be " in err and f"not {value!r}" in err, (value, err)


@pytest.mark.parametrize("argv", [
    [*COMMANDS["check"], "--timeout", "0"], [*COMMANDS["check"], "--timeout", "-1"],
    [*COMMANDS["check"], "--timeout", "nan"], [*COMMANDS["check"], "--retry-budget", "nan"],
    [*COMMANDS["check"], "--max-transaction-entries", "0"],
    [*COMMANDS["check"], "--max-transaction-entries", "-3"],
    [*COMMANDS["load"], "--max-transaction-entries", "0"],
    [*COMMANDS["serve"], "--max-transaction-entries", "-3"],
    [*SYNC, "--max-claims", "0"], [*SYNC, "--max-claims", "-1"],
    [*COMMANDS["check"], "--page-size", "0"], [*COMMANDS["check"], "--max-pages", "-2"],
    [*COMMANDS["serve"], "--port", "70000"], [*COMMANDS["serve"], "--workers", "0"],
    [*COMMANDS["check"], "--timeout", "1e300"],  # past what a socket timeout holds
])
def test_the_values_the_hunt_found_exit_2_in_one_line(capsys, monkeypatch, tmp_path, argv):
    # --timeout 0, -1 and nan were a 92-line traceback (a ValueError from urllib3); the rest
    # were taken, and the run did nothing (--max-claims 0) or never waited (nan)
    monkeypatch.chdir(tmp_path)  # sync's state file, were the run to start
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("serve started"))
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f"argument {argv[-2]}: must be" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, dest, value", [
    ([*COMMANDS["check"], "--timeout", "0.5"], "timeout", 0.5),
    ([*COMMANDS["check"], "--timeout", "86400"], "timeout", 86400),
    ([*COMMANDS["check"], "--retry-budget", "0"], "retry_budget", 0),
    ([*COMMANDS["check"], "--retry-budget", ".5"], "retry_budget", 0.5),
    ([*COMMANDS["check"], "--page-size", "1"], "page_size", 1),
    ([*SYNC, "--max-claims", "1"], "max_claims", 1),
    ([*COMMANDS["load"], "--max-transaction-entries", "8"], "max_transaction_entries", 8),
    ([*COMMANDS["serve"], "--port", "1"], "port", 1),
    ([*COMMANDS["serve"], "--graceful-timeout", "0"], "graceful_timeout", 0),
    ([*COMMANDS["serve"], "--body-timeout", "2e1"], "body_timeout", 20),
    ([*COMMANDS["spark"], "--partitions", "4"], "partitions", 4),
])
def test_the_values_an_option_can_use_are_taken(argv, dest, value):
    assert getattr(_parser().parse_args(argv), dest) == value


@pytest.mark.parametrize("timeout", [(10.0, 0.0), (10.0, -1.0), (math.nan, 60.0),
                                     (10.0, math.inf)])
def test_the_client_refuses_a_timeout_that_is_no_time(timeout):
    with pytest.raises(ValueError, match="timeouts must be finite numbers of seconds"):
        FhirClient(SERVER, timeout=timeout)


@pytest.mark.parametrize("budget", [math.nan, math.inf, -1.0])
def test_a_retry_budget_that_is_no_time_is_refused(budget):
    with pytest.raises(ValueError, match="finite and not negative"):
        RetryPolicy(max_total_seconds=budget)
