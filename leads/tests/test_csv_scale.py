"""The import at scale: what it keeps in memory does not grow with the file."""

from __future__ import annotations

import io
import tracemalloc

import pytest

from leads import file_duplicates
from leads.csv import errors, importer
from leads.file_duplicates import FileDuplicates
from leads.models import Lead


def phone(i: int) -> str:
    return f"+1415555{i:04d}"


@pytest.fixture
def small_batches(monkeypatch):
    # A few pairs per batch and a tiny first filter: a short file takes every path a long one does.
    monkeypatch.setattr(file_duplicates, "PENDING", 3)
    monkeypatch.setattr(file_duplicates, "FIRST_BITS", 64)


def test_a_duplicate_far_down_the_file_names_the_first_line(campaign, small_batches):
    rows = [f"{phone(i)},Name {i}" for i in range(40)]
    rows.insert(30, f"{phone(2)},Again")  # line 32 repeats line 4
    rows.append(f"{phone(39)},Last again")  # the last line repeats the one before it
    text = "phone,customer_name\n" + "\n".join(rows) + "\n"
    for dry_run in (True, False):
        result = importer.import_leads(
            io.BytesIO(text.encode()), importer.ImportOptions(campaign=campaign, dry_run=dry_run)
        )
        assert [(e.line, e.column, e.message) for r in result.rejected for e in r.errors] == [
            (32, "phone", errors.E_DUPLICATE_IN_FILE.format(phone=phone(2), line=4, campaign="Spring")),
            (43, "phone", errors.E_DUPLICATE_IN_FILE.format(phone=phone(39), line=42, campaign="Spring")),
        ]
        assert not result.written and not Lead.objects.exists()  # strict: nothing written


def test_the_same_phone_in_two_campaigns_is_no_duplicate(small_batches):
    seen = FileDuplicates()
    for i in range(100):
        assert seen.first_line((1, phone(i)), i + 2) is None
        assert seen.first_line((2, phone(i)), i + 200) is None
    assert seen.first_line((1, phone(7)), 999) == 9
    assert seen.first_line((2, phone(99)), 999) == 299
    assert len(seen.pending) <= 3 and len(seen.filters) > 1
    seen.close()


def test_the_pairs_of_a_long_file_are_not_held_in_python_memory():
    """200,000 pairs: a dict of them takes about 40 MB; what the check keeps is its filters
    (a few MB, fixed) and at most PENDING pairs."""
    seen = FileDuplicates()
    tracemalloc.start()
    try:
        for i in range(200_000):
            seen.first_line((1, f"+1202{i:07d}"), i + 2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen.first_line((1, "+12020000005"), 10**6) == 7
    assert peak < 12 * 1024 * 1024, peak
    seen.close()
