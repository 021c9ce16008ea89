"""The lifecycle's rules for an arriving (imported) lead: which statuses, which next attempt time,
which history rows. The import asks these for every row and writes what they give in bulk."""

from __future__ import annotations

import datetime as dt

import pytest

from leads import lifecycle
from leads.models import Status

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("status", [s for s in Status if s != Status.PROCESSING])
def test_a_lead_may_arrive_in_any_status_but_processing(status):
    assert lifecycle.arrival_refusal(status) is None
    assert status in lifecycle.IMPORTABLE_STATUSES


def test_a_lead_may_not_arrive_mid_call():
    assert lifecycle.arrival_refusal(Status.PROCESSING) == lifecycle.E_STATUS_PROCESSING
    assert Status.PROCESSING not in lifecycle.IMPORTABLE_STATUSES


@pytest.mark.parametrize(
    "status, refused",
    [
        (Status.SCHEDULED, False),
        (Status.RESCHEDULED, False),
        (Status.CREATED, True),
        (Status.COMPLETED, True),
        (Status.MAX_RETRIES, True),
    ],
)
def test_only_a_scheduled_or_rescheduled_lead_brings_a_next_attempt_time(status, refused):
    expected = lifecycle.E_NEXT_AT_STATUS if refused else None
    assert lifecycle.arrival_time_refusal(status, NOW) == expected
    assert lifecycle.arrival_time_refusal(status, None) is None


def test_the_next_attempt_time_is_the_one_given_or_the_status_default(campaign):
    given = NOW + dt.timedelta(days=2)
    assert lifecycle.arrival_next_attempt_at(Status.SCHEDULED, campaign, given, NOW) == given
    assert lifecycle.arrival_next_attempt_at(Status.SCHEDULED, campaign, None, NOW) == NOW
    rescheduled = lifecycle.arrival_next_attempt_at(Status.RESCHEDULED, campaign, None, NOW)
    assert rescheduled == NOW + campaign.retry_interval
    assert lifecycle.arrival_next_attempt_at(Status.CREATED, campaign, None, NOW) is None


def test_history_rows_are_written_for_every_arrival_but_created():
    rows = lifecycle.arrival_history(
        [(1, Status.CREATED), (2, Status.COMPLETED), (3, Status.SCHEDULED)], at="t", user_id=7, reason="why"
    )
    assert [dict(zip(lifecycle.ARRIVAL_HISTORY_COLUMNS, row, strict=True)) for row in rows] == [
        {
            "lead_id": 2,
            "from_status": "",
            "to_status": "completed",
            "at": "t",
            "automatic": False,
            "user_id": 7,
            "reason": "why",
        },
        {
            "lead_id": 3,
            "from_status": "",
            "to_status": "scheduled",
            "at": "t",
            "automatic": False,
            "user_id": 7,
            "reason": "why",
        },
    ]
