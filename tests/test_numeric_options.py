"""Every numeric option of every command takes only the values it can use: any other is an
argument error in one line naming the option, exit status 2, before any work
(adapter/numeric_options.py)."""

from __future__ import annotations

import pytest

from adapter.cli import _parser, main

SERVER = "http://127.0.0.1:9/fhir"
SYNC = ["sync", "--server", SERVER, "--state", "s.json"]


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
