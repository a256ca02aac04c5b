"""The sync state file and lock: what makes scheduled runs safe to overlap and to crash."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapter.sync import _since
from adapter.sync_state import SyncState, SyncStateError, run_lock


def test_state_round_trips_and_missing_file_means_first_run(tmp_path):
    path = tmp_path / "state.json"
    assert SyncState.load(path) == SyncState()
    state = SyncState("2026-03-02T10:00:00.000Z", "2026-03-02T10:05:00+00:00", "http://x/fhir")
    state.save(path)
    assert SyncState.load(path) == state
    assert not (tmp_path / "state.json.tmp").exists()


def test_corrupt_state_is_a_clear_error(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(SyncStateError, match=r"state\.json"):
        SyncState.load(path)


def test_second_run_cannot_take_the_lock_while_the_first_holds_it(tmp_path):
    path = tmp_path / "state.json"
    with run_lock(path):
        held_elsewhere = run_lock(path)
        with pytest.raises(SyncStateError, match="another sync run"):
            held_elsewhere.__enter__()
    with run_lock(path):  # released after the first run ends
        pass


def test_overlap_starts_before_the_watermark():
    assert _since(None, timedelta(minutes=5)) is None
    assert _since("2026-03-02T10:00:00.000Z", timedelta(minutes=5)) == "2026-03-02T09:55:00.000Z"
    assert _since("2026-03-02T10:00:00+02:00", timedelta(0)) == "2026-03-02T08:00:00.000Z"
