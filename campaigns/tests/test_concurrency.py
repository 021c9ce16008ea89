"""Several worker processes of the real command over many due leads: each lead called once per attempt.

These tests run against databases of their own (not the test database): a PostgreSQL database named
after the configured one (``processes.pg_database_name``), created and migrated here when missing,
and a fresh SQLite file. They run in both CI passes.
"""

from __future__ import annotations

import json

from .processes import database_url, run_job


def run_concurrency(url: str, leads: int, workers: int, rounds: int) -> dict:
    return run_job(url, "campaigns.tests.concurrency_job", leads, workers, rounds)


def assert_each_lead_called_once_per_attempt(
    report: dict, leads: int, workers: int, rounds: int, *, all_claimed: bool = True
) -> None:
    print(json.dumps(report))  # shown by pytest when an assertion below fails
    assert report["exit_codes"] == [0] * workers
    assert report["stderr"] == []
    assert len(report["rounds"]) == rounds
    for attempt, outcome in enumerate(report["rounds"], start=1):
        # Every lead got exactly one call in this attempt, reached this attempt, and nothing is left
        # mid-call; the history has exactly one claim per lead for it.
        assert outcome["calls_per_lead"] == {"1": leads}, attempt
        assert outcome["leads_with_other_attempt_count"] == 0, attempt
        assert outcome["processing_left"] == 0, attempt
        assert outcome["claims_in_history"] == leads, attempt
    # Never two calls to one lead at once; never two claims without an end between them.
    assert report["overlapping_calls"] == 0
    assert report["consecutive_claims"] == 0
    # The workers really raced: every one of them claimed leads, and the claims add up.
    if all_claimed:
        assert all(n > 0 for n in report["claimed_per_worker"])
    assert sum(report["claimed_per_worker"]) == leads * rounds


def test_four_workers_over_ten_thousand_leads_ten_times_on_postgresql(postgres_server):
    report = run_concurrency(database_url("postgresql", None), leads=10_000, workers=4, rounds=10)
    assert_each_lead_called_once_per_attempt(report, leads=10_000, workers=4, rounds=10)


def test_several_workers_on_sqlite_call_each_lead_once_per_attempt(tmp_path):
    report = run_concurrency(database_url("sqlite", tmp_path), leads=1_000, workers=3, rounds=2)
    # A small queue: one worker may drain it before another starts, so only the sum is checked.
    assert_each_lead_called_once_per_attempt(report, leads=1_000, workers=3, rounds=2, all_claimed=False)
