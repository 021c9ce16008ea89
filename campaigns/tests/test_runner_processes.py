"""Real ``run_campaigns`` worker processes: races with imports, deletes and edits; calls longer than the
lease; ``kill -9``; SIGTERM. Each scenario runs in ``runner_job`` against a database of its own."""

from __future__ import annotations

import json

import pytest

from .processes import database_url, run_job


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_runner_survives_imports_bulk_deletes_and_edits_racing_it(kind, tmp_path):
    report = run_job(database_url(kind, tmp_path, "race"), "campaigns.tests.runner_job", "race", 6)
    print(json.dumps(report))
    assert report["rounds_run"] == 6
    assert report["alive_after_rounds"] is True
    assert report["worker"]["exit_code"] == 0
    assert "Traceback" not in report["worker"]["stderr"]
    assert report["deleted"] >= 6 * 400
    assert report["processing_left"] == 0
    assert report["overlapping_calls"] == 0
    assert report["consecutive_claims"] == 0


def test_a_live_worker_keeps_long_calls_and_a_killed_workers_calls_are_recovered(tmp_path):
    lease = 4
    report = run_job(database_url("sqlite", tmp_path), "campaigns.tests.runner_job", "long_calls", lease)
    print(json.dumps(report))
    assert report["shortest_call"] >= 3 * lease
    assert (report["first_calls"], report["first_lost"], report["first_overlaps"]) == (20, 0, 0)
    assert report["first_worker"]["exit_code"] == 0
    # kill -9: every lead the dead worker held is recovered (as lost) by the other worker.
    assert report["recovered_lost_calls"] == 20
    assert report["processing_left"] == 0
    assert report["overlaps"] == 0
    assert report["rescuer"]["exit_code"] == 0


def test_sigterm_waits_for_the_grace_then_releases_the_calls_to_the_queue(tmp_path):
    report = run_job(database_url("sqlite", tmp_path), "campaigns.tests.runner_job", "sigterm", 1)
    print(json.dumps(report))
    assert report["worker"]["exit_code"] == 0
    assert "Traceback" not in report["worker"]["stderr"]
    assert "Released 10 call(s)" in report["worker"]["stdout"]
    assert report["processing_left"] == 0
    assert report["statuses"] == ["rescheduled"]
    assert report["attempts"] == [0]  # the interrupted attempt is not counted
    assert report["released_calls"] == 10
    assert report["heartbeats_left"] == 0


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_after_the_pause_post_answers_no_dial_starts_and_attempts_dial_no_further_number(kind, tmp_path):
    report = run_job(database_url(kind, tmp_path, "pause"), "campaigns.tests.pause_job", 400)
    print(json.dumps(report))
    assert report["post_status"] == 302
    assert report["state_changes"] == [["running", "paused", "emergency"]]
    assert report["under_way_at_pause"] >= 10
    # Nothing recorded after the answer: no new lead claimed, no attempt on to a further number.
    assert report["dials_after_pause"] == 0
    # The attempts under way end with their unanswered number ("campaign no longer running").
    assert report["ended_not_running"] >= 1
    assert report["open_calls"] == 0
    assert report["called_leads"] < 400  # the rest wait in the queue
    assert report["paused_decisions"] >= 1
    assert report["worker_alive"] is True
    assert report["worker"]["exit_code"] == 0
    assert "Traceback" not in report["worker"]["stderr"]
    assert report["overlapping_calls"] == 0
