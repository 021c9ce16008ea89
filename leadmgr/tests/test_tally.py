"""leadmgr.tally: pass reports add up field by field."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from leadmgr.tally import Tally


@dataclass
class Report(Tally):
    done: int = 0
    failed: int = 0
    why: Counter = field(default_factory=Counter)


def test_it_adds_numbers_and_merges_counters():
    total = Report(done=1, why=Counter({"busy": 1}))
    total.add(Report(done=2, failed=1, why=Counter({"busy": 2, "closed": 1})))
    assert total == Report(done=3, failed=1, why=Counter({"busy": 3, "closed": 1}))


def test_the_added_report_is_left_as_it_was():
    other = Report(done=2, why=Counter({"busy": 2}))
    Report().add(other)
    assert other == Report(done=2, why=Counter({"busy": 2}))
