"""A real ``run_campaigns`` worker never dials a listed or capped number (compliance_job)."""

from __future__ import annotations

import json

import pytest

from campaigns.tests.processes import database_url, run_job


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_worker_never_dials_a_listed_number_even_one_listed_while_it_runs(kind, tmp_path):
    report = run_job(database_url(kind, tmp_path, "dnc"), "compliance.tests.compliance_job", "dnc")
    print(json.dumps(report))
    assert report["worker"]["exit_code"] == 0
    assert "Traceback" not in report["worker"]["stderr"]
    assert report["dials_to_numbers_listed_before"] == 0
    assert report["dials_to_numbers_listed_during"] == 0
    assert report["all_listed_statuses"] == ["completed"]
    assert report["all_listed_reasons"] == ["all numbers on the do-not-call list"]
    assert report["all_listed_dials"] == 0
    # Listed mid-run: each ends Completed at its next dial, unless its retries ran out first.
    assert set(report["late_statuses"]) <= {"completed", "max_retries"}
    assert report["late_completed_listed"] > 0
    assert report["skips_recorded"] > 0
    assert "do_not_call" in report["decisions"]
    assert report["processing_left"] == 0
    assert report["overlaps"] == 0


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_worker_dials_a_number_once_a_day_across_campaigns_under_a_cap_of_one(kind, tmp_path):
    report = run_job(database_url(kind, tmp_path, "caps"), "compliance.tests.compliance_job", "caps")
    print(json.dumps(report))
    assert report["worker"]["exit_code"] == 0
    assert (report["dials"], report["numbers_dialled"]) == (5, 5)
    assert report["waiting"] == 10  # the other campaigns' leads wait for the cap
    assert "frequency_cap" in report["decisions"]
